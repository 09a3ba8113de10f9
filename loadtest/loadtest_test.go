package loadtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/porttest"
	"github.com/flowlens/flowlens/loadtest/gen"
)

// receiver is an OTLP/gRPC trace endpoint that keeps what it gets.
type receiver struct {
	ptraceotlp.UnimplementedGRPCServer
	mu      sync.Mutex
	seqs    map[int64]int
	svcs    map[string]int
	batches int
}

func (r *receiver) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	for res, sp := range wiretest.Spans(req.Traces()) {
		seq, ok := sp.Attributes().Get(gen.AttrSeq)
		if !ok {
			continue
		}
		svc, _ := res.Attributes().Get("service.name")
		r.seqs[seq.Int()]++
		r.svcs[svc.Str()]++
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{seqs: map[int64]int{}, svcs: map[string]int{}}
	s := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(s, r)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return r, ln.Addr().String()
}

func TestRunSendsEverySpanOnce(t *testing.T) {
	rcv, addr := startReceiver(t)
	dir := t.TempDir()
	cfg := Config{Count: 2000, Rate: 500, Seed: 9, NoPacing: true, LogDir: filepath.Join(dir, "logs"),
		TruthFile: filepath.Join(dir, "truth.json"), Faults: "testdata/faults.yaml"}
	cfg.OTLP.Endpoint = addr
	cfg.OTLP.BatchSize = 256
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var final Progress
	truth, err := Run(context.Background(), cfg, Options{OnProgress: func(p Progress) {
		if p.Final {
			final = p
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if truth.Requests != 2000 || truth.Spans == 0 || len(truth.Faults) != 4 {
		t.Fatalf("truth: %d requests, %d spans, %d faults", truth.Requests, truth.Spans, len(truth.Faults))
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if uint64(len(rcv.seqs)) != truth.Spans {
		t.Fatalf("received %d distinct spans, generated %d", len(rcv.seqs), truth.Spans)
	}
	for seq, n := range rcv.seqs {
		if n != 1 || seq < 1 || uint64(seq) > truth.Spans {
			t.Fatalf("seq %d received %d times", seq, n)
		}
	}
	for svc, n := range truth.SpansByService {
		if uint64(rcv.svcs[svc]) != n {
			t.Errorf("%s: received %d spans, generated %d", svc, rcv.svcs[svc], n)
		}
	}
	if final.Exported != truth.Spans || final.ExportFailed != 0 || final.Logs != truth.Logs {
		t.Errorf("final progress %+v, truth %d spans %d logs", final, truth.Spans, truth.Logs)
	}
	back, err := gen.ReadTruth(cfg.TruthFile)
	if err != nil || back.Spans != truth.Spans {
		t.Fatalf("truth file: %v %+v", err, back)
	}
	logs, _ := filepath.Glob(filepath.Join(cfg.LogDir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no log files")
	}
}

func TestRunPacedStopsWithContext(t *testing.T) {
	_, addr := startReceiver(t)
	cfg := Config{Rate: 200, Seed: 1, ProgressInterval: 10 * time.Millisecond} // unbounded and paced
	cfg.OTLP.Endpoint = addr
	cfg.SetDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests atomic.Uint64
	type result struct {
		truth *gen.Truth
		err   error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		truth, err := Run(ctx, cfg, Options{OnProgress: func(p Progress) { requests.Store(p.Requests) }})
		done <- result{truth, err}
	}()
	for requests.Load() == 0 { // running
		select {
		case r := <-done:
			t.Fatalf("an unbounded run returned on its own: %v", r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	elapsed := time.Since(start)
	if r.err != nil {
		t.Fatal(r.err)
	}
	// Paced, request i goes out when the clock reaches i/rate: never more
	// than rate x elapsed + 1, however slow or fast the machine (flat out
	// it would be thousands).
	if limit := uint64(elapsed.Seconds()*cfg.Rate) + 1; r.truth.Requests > limit {
		t.Fatalf("%d requests in %s at %v/s: more than %d, not paced", r.truth.Requests, elapsed, cfg.Rate, limit)
	}
}

func TestRunReportsUnreachableEndpoint(t *testing.T) {
	cfg := Config{Count: 10, Rate: 100, NoPacing: true}
	cfg.OTLP.Endpoint = porttest.Refused(t)
	cfg.OTLP.RetryFor = -1
	cfg.OTLP.Timeout = time.Second
	cfg.SetDefaults()
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "could not be exported") {
		t.Fatalf("error = %v, want the lost spans reported", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"defaults", "", ""},
		{"rate", "rate: -5\n", "rate: must be positive"},
		{"endpoint", "otlp: {endpoint: localhost}\n", `otlp.endpoint: "localhost" must be host:port`},
		{"queue", "otlp: {batch_size: 100, queue_size: 10}\n", "otlp.queue_size: must be at least batch_size"},
		{"logs", "logs_per_span: 1000\n", "logs_per_span: must be 1..100"},
		{"unknown", "rat: 5\n", "rat: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var c Config
			err := config.Load(p, &c)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadTopologyErrors(t *testing.T) {
	if _, err := LoadTopology("testdata/nope.yaml", ""); err == nil {
		t.Error("missing topology file accepted")
	}
	if _, err := LoadTopology("", "topology/testdata/bad/probability.yaml"); err == nil {
		t.Error("a topology accepted as a fault file")
	}
	top, err := LoadTopology("", "testdata/faults.yaml")
	if err != nil || len(top.Faults) != 4 {
		t.Fatalf("shop with faults: %v", err)
	}
}

// BenchmarkRunOTLP runs the whole generator path: SDK, batch processor,
// OTLP/gRPC export to an in-process receiver, and one JSON log line per span
// to files. One op is one root request (about 12.6 spans with the shop).
func BenchmarkRunOTLP(b *testing.B) {
	for _, withLogs := range []bool{false, true} {
		name := "spans"
		if withLogs {
			name = "spans+logs"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			r := &receiver{seqs: map[int64]int{}, svcs: map[string]int{}}
			s := grpc.NewServer()
			ptraceotlp.RegisterGRPCServer(s, &countOnly{r: r})
			go func() { _ = s.Serve(ln) }()
			defer s.Stop()
			cfg := Config{Count: uint64(b.N), Rate: 1000, Seed: 1, NoPacing: true, ProgressInterval: -1}
			if withLogs {
				cfg.LogDir = b.TempDir()
			}
			cfg.OTLP.Endpoint = ln.Addr().String()
			cfg.SetDefaults()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			truth, err := Run(context.Background(), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			sec, cpu := time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(truth.Spans)/sec, "spans/s")
			b.ReportMetric(float64(truth.Logs)/sec, "logs/s")
			b.ReportMetric(float64(truth.Spans)/cpu, "spans/cpu-s")
		})
	}
}

// cpuTime is the CPU time of the process so far (all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countOnly is a receiver that only counts spans, to keep the benchmark's
// CPU on the sending side.
type countOnly struct {
	ptraceotlp.UnimplementedGRPCServer
	r *receiver
}

func (c *countOnly) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	c.r.mu.Lock()
	c.r.batches += req.Traces().SpanCount()
	c.r.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}
