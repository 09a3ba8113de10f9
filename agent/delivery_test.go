package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/logging"
	"github.com/flowlens/flowlens/internal/porttest"
)

const (
	childEnv = "FLOWLENS_AGENT_TEST_CHILD_CONFIG"
	// childAddrsEnv names the file where a child agent writes the
	// addresses it bound (its config asks for port 0) once it listens.
	childAddrsEnv = "FLOWLENS_AGENT_TEST_CHILD_ADDRS"
)

// TestMain lets the test binary run as the agent itself (for kill -9 tests).
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

func runChild(path string) int {
	var cfg agent.Config
	if err := config.Load(path, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if m := cfg.MemoryLimit; m != nil && *m > 0 {
		debug.SetMemoryLimit(int64(*m)) // as the binary does
	}
	a, err := agent.New(cfg, agent.Settings{Settings: component.Settings{Logger: log}, Version: "child"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if prof := os.Getenv("FLOWLENS_AGENT_TEST_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	ready := func() {
		if path := os.Getenv(childAddrsEnv); path != "" {
			if err := writeChildAddrs(path, a); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
	if err := component.Run(context.Background(), a, component.RunOptions{Started: ready}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childAddrs are the addresses a child agent listens on.
type childAddrs struct {
	GRPC, HTTP, Metrics string
}

func writeChildAddrs(path string, a *agent.Agent) error {
	ad := childAddrs{Metrics: a.MetricsAddr()}
	if r := a.Receiver(); r != nil {
		ad.GRPC, ad.HTTP = r.GRPCAddr(), r.HTTPAddr()
	}
	data, err := json.Marshal(ad)
	if err != nil {
		return err
	}
	// renamed into place: the parent never reads half a file
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// childAgent is the test binary running as an agent in its own process.
type childAgent struct {
	cmd    *exec.Cmd
	addrs  childAddrs    // what it listens on
	exited chan struct{} // closed once it exited (cmd.ProcessState is set)
}

// startChildAgent runs the test binary as an agent with the config at
// cfgPath (which binds port 0) and returns it once it listens.
func startChildAgent(t testing.TB, cfgPath string) *childAgent {
	t.Helper()
	addrsPath := filepath.Join(t.TempDir(), "addrs.json")
	c := &childAgent{cmd: exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$"), exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), childEnv+"="+cfgPath, childAddrsEnv+"="+addrsPath)
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(addrsPath); err == nil {
			if err := json.Unmarshal(data, &c.addrs); err != nil {
				t.Fatalf("child agent addresses: %v", err)
			}
			return c
		}
		if time.Now().After(deadline) {
			c.kill()
			t.Fatal("child agent did not listen within 30s")
		}
		select {
		case <-c.exited:
			t.Fatal("child agent exited before it listened")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the exit.
func (c *childAgent) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// lineNumber parses "line 0001234".
func lineNumber(body string) (int, bool) {
	if !strings.HasPrefix(body, "line ") {
		return 0, false
	}
	n, err := strconv.Atoi(body[5:])
	return n, err == nil
}

// checkFiles: all n lines present; returns the duplicates; checks that
// first occurrences are in increasing order within each partition.
func checkFiles(t *testing.T, c *consumed, n int) int {
	t.Helper()
	seen := make([]int, n)
	dups := 0
	for _, bodies := range c.logBodies {
		for _, b := range bodies {
			k, ok := lineNumber(b)
			if !ok || k >= n {
				t.Fatalf("unexpected record %q", b)
			}
			seen[k]++
			if seen[k] > 1 {
				dups++
			}
		}
	}
	// the order check leaves out duplicated lines: a batch read again after
	// a restart may land anywhere, later
	for p, bodies := range c.logBodies {
		last := -1
		for _, b := range bodies {
			k, _ := lineNumber(b)
			if seen[k] > 1 {
				continue
			}
			if k < last {
				t.Fatalf("partition %d: line %d after line %d", p, k, last)
			}
			last = k
		}
	}
	missing := 0
	for _, s := range seen {
		if s == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d lines missing at the broker", missing, n)
	}
	return dups
}

// spanSeqs returns the "seq" attribute of every span per partition.
func spanSeqs(c *consumed) map[int][]int64 {
	out := map[int][]int64{}
	for p, spans := range c.spans {
		for _, sp := range spans {
			v, _ := sp.Attributes().Get(wiretest.SeqKey)
			out[p] = append(out[p], v.Int())
		}
	}
	return out
}

// TestKafkaOutage60s: the broker is down for 60 s while files and OTLP keep
// coming. Everything arrives afterwards, in order per partition.
func TestKafkaOutage60s(t *testing.T) {
	brokerData := t.TempDir()
	b := kafkatest.Start(t, kafkabroker.Config{DataDir: brokerData})
	addr := b.Addrs()[0]
	logs := t.TempDir()
	cfg := loadConfig(t, t.TempDir(), []string{addr}, fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    scan_interval: 100ms
    poll_interval: 20ms
    parse: {format: json}
batch: {max_records: 500}
`, logs))
	ra := startAgent(t, cfg)

	var lines atomic.Int64
	var spans []int // seq of spans acknowledged with OK
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // a file writer: 100 lines every 50 ms
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			n := int(lines.Load())
			appendJSONLines(t, filepath.Join(logs, "app.log"), n, n+100)
			lines.Add(100)
		}
	}()
	tc := ra.traceClient(t)
	go func() { // an OTLP client: 20 spans (5 traces) every 100 ms
		defer wg.Done()
		seq := 0
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := tc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(seq, 20, 4))); err != nil {
				t.Errorf("export during outage: %v", err)
				return
			}
			mu.Lock()
			for i := seq; i < seq+20; i++ {
				spans = append(spans, i)
			}
			mu.Unlock()
			seq += 20
		}
	}()
	time.Sleep(2 * time.Second)
	_ = b.Shutdown(context.Background())
	t.Logf("broker stopped with %d lines written", lines.Load())
	time.Sleep(60 * time.Second)
	t.Logf("restarting the broker; %d lines written, %d bytes in the agent's buffer", lines.Load(), bufferBytes(t, ra))
	b = kafkatest.Start(t, kafkabroker.Config{Addr: addr, DataDir: brokerData})
	defer b.Shutdown(context.Background())
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	n := int(lines.Load())
	mu.Lock()
	wantSpans := len(spans)
	mu.Unlock()

	c := newConsumed()
	c.waitFor(t, addr, kafkawire.DefaultLogsTopic, 60*time.Second, func(c *consumed) bool { return c.logRecords >= n })
	dups := checkFiles(t, c, n)
	cs := newConsumed()
	cs.waitFor(t, addr, kafkawire.DefaultSpansTopic, 60*time.Second, func(c *consumed) bool { return c.spanCount >= wantSpans })
	if cs.keyErrors != 0 {
		t.Fatalf("%d spans keyed by another trace ID", cs.keyErrors)
	}
	seen := map[int64]int{}
	spanDups := 0
	for _, seqs := range spanSeqs(cs) {
		for _, s := range seqs {
			seen[s]++
			if seen[s] > 1 {
				spanDups++
			}
		}
	}
	for p, seqs := range spanSeqs(cs) {
		last := int64(-1)
		for _, s := range seqs {
			if seen[s] > 1 {
				continue
			}
			// spans of one request are grouped by resource, so the order
			// to keep is the order of the requests (20 spans each)
			if s/20 < last {
				t.Fatalf("partition %d: span %d of request %d after request %d", p, s, s/20, last)
			}
			last = s / 20
		}
	}
	for i := 0; i < wantSpans; i++ {
		if seen[int64(i)] == 0 {
			t.Fatalf("acknowledged span %d missing", i)
		}
	}
	t.Logf("after the outage: %d lines (%d duplicates), %d spans (%d duplicates)", n, dups, wantSpans, spanDups)
}

func bufferBytes(t *testing.T, ra *runningAgent) int64 {
	return int64(agentMetric(t, ra, "flowlens_agent_buffer_bytes"))
}

func linesRead(t *testing.T, ra *runningAgent) int64 {
	return int64(agentMetric(t, ra, "flowlens_agent_file_lines_read_total"))
}

// agentMetric is a metric of the agent's /metrics page, summed over its
// labels (-1 when the page cannot be read).
func agentMetric(t *testing.T, ra *runningAgent, name string) float64 {
	return metricAt(ra.a.MetricsAddr(), name)
}

// metricAt is the sum of the series of name an agent's /metrics at addr
// serves (-1 when it cannot be read).
func metricAt(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	sum := 0.0
	for _, l := range strings.Split(buf.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			sum += f
		}
	}
	return sum
}

// TestBufferFullBlocksAndRefusesOTLP: Kafka unreachable, a small buffer with
// when_full: block. OTLP clients get RESOURCE_EXHAUSTED / 429 + Retry-After.
func TestBufferFullBlocksAndRefusesOTLP(t *testing.T) {
	dead := porttest.Refused(t)
	cfg := loadConfig(t, t.TempDir(), []string{dead}, `
buffer: {max_size: 4MiB, segment_size: 1MiB, when_full: block}
`)
	ra := startAgent(t, cfg)
	tc := ra.traceClient(t)
	full := false
	for i := 0; i < 500 && !full; i++ {
		_, err := tc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(i*100, 100, 10)))
		switch status.Code(err) {
		case codes.OK:
		case codes.ResourceExhausted:
			full = true
		default:
			t.Fatalf("export: %v", err)
		}
	}
	if !full {
		t.Fatal("the buffer never filled")
	}
	body, _ := ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(0, 100, 10)).MarshalProto()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		var err error
		resp, err = http.Post("http://"+ra.a.Receiver().HTTPAddr()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP when full: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	hz, err := http.Get("http://" + ra.a.MetricsAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hz.Body.Close()
	if hz.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz when full: %d", hz.StatusCode)
	}
}

// TestKillMinus9 runs the agent as a child process, kills it with SIGKILL
// twice while lines and OTLP requests keep coming, and restarts it: every
// line and every acknowledged span is at the broker; duplicates stay within
// the batches that were in flight.
func TestKillMinus9(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	addr := b.Addrs()[0]
	logs := t.TempDir()
	dataDir := t.TempDir()
	const maxRecords = 1000
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
log: {level: warn}
host_name: child
files:
  - name: app
    include: [%s/*.log]
    scan_interval: 100ms
    poll_interval: 10ms
    parse: {format: json}
batch: {max_records: %d}
otlp:
  grpc: {listen: "off"}
  http: {listen: 127.0.0.1:0}
kafka:
  brokers: [%s]
  retry: {max: 200ms}
metrics: {listen: "off"}
`, dataDir, logs, maxRecords, addr)), 0o644)

	// each run of the agent listens on a port of its own; the client
	// sends to the current one
	var httpAddr atomic.Pointer[string]
	startChild := func() *childAgent {
		c := startChildAgent(t, cfgPath)
		httpAddr.Store(&c.addrs.HTTP)
		return c
	}
	child := startChild()
	defer func() { child.kill() }()

	var lines atomic.Int64
	var acked []int
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n := int(lines.Load())
			appendJSONLines(t, filepath.Join(logs, "app.log"), n, n+500)
			lines.Add(500)
		}
	}()
	go func() {
		defer wg.Done()
		seq := 0
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			body, _ := ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(seq, 20, 4)).MarshalProto()
			resp, err := client.Post("http://"+*httpAddr.Load()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
			if err != nil {
				continue // the agent is down: not acknowledged, the client would retry
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				for i := seq; i < seq+20; i++ {
					acked = append(acked, i)
				}
				mu.Unlock()
			}
			seq += 20
		}
	}()
	const kills = 3
	for k := 0; k < kills; k++ {
		time.Sleep(1500 * time.Millisecond)
		child.kill()
		t.Logf("kill -9 #%d with %d lines written", k+1, lines.Load())
		time.Sleep(200 * time.Millisecond) // down for a while: requests fail
		child = startChild()
	}
	time.Sleep(time.Second) // the last run takes traffic too
	close(stop)
	wg.Wait()
	n := int(lines.Load())
	c := newConsumed()
	c.waitFor(t, addr, kafkawire.DefaultLogsTopic, 60*time.Second, func(c *consumed) bool {
		// wait for all distinct lines
		return c.logRecords >= n
	})
	// a graceful stop hands everything read to Kafka: duplicates included
	child.cmd.Process.Signal(syscall.SIGTERM)
	<-child.exited
	c.poll(t, addr, kafkawire.DefaultLogsTopic)
	dups := checkFiles(t, c, n)
	mu.Lock()
	want := append([]int(nil), acked...)
	mu.Unlock()
	cs := newConsumed()
	cs.waitFor(t, addr, kafkawire.DefaultSpansTopic, 60*time.Second, func(c *consumed) bool { return c.spanCount >= len(want) })
	seen := map[int64]int{}
	for _, seqs := range spanSeqs(cs) {
		for _, s := range seqs {
			seen[s]++
		}
	}
	for _, s := range want {
		if seen[int64(s)] == 0 {
			t.Fatalf("span %d was acknowledged (200 OK) but is not at the broker", s)
		}
	}
	spanDups := 0
	for _, v := range seen {
		spanDups += v - 1
	}
	t.Logf("%d lines, %d duplicates after %d kills; %d acknowledged spans, %d duplicates", n, dups, kills, len(want), spanDups)
	// duplicates come only from what was in flight at the kill: the produce
	// call Kafka may have taken but the buffer cursor does not show yet (at
	// most kafka.max_request_bytes, 1 MiB, of records of at least 100 bytes)
	// and the file batches fsynced but not yet in the checkpoint file
	if bound := kills * ((1<<20)/100 + 2*maxRecords); dups > bound {
		t.Fatalf("%d duplicated lines after %d kills, more than %d", dups, kills, bound)
	}
}

// TestBufferFullStopsReadingFiles: Kafka is not there yet and the buffer is
// small (when_full: block): the agent stops reading the file instead of
// dropping, and delivers everything once Kafka appears.
func TestBufferFullStopsReadingFiles(t *testing.T) {
	port := porttest.Reserve(t) // Kafka's address, refusing until the broker starts
	logs := t.TempDir()
	const n = 120_000 // about 13 MB of lines for a 4 MiB buffer
	appendJSONLines(t, filepath.Join(logs, "app.log"), 0, n)
	cfg := loadConfig(t, t.TempDir(), []string{port.Addr()}, fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    parse: {format: json}
buffer: {max_size: 4MiB, segment_size: 1MiB, when_full: block}
`, logs))
	ra := startAgent(t, cfg)
	// the file source fills the buffer and then waits for space
	deadline := time.Now().Add(30 * time.Second)
	for agentMetric(t, ra, "flowlens_agent_buffer_waiting_writes") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no write waits for space after 30s; the buffer holds %d bytes, %d of %d lines read", bufferBytes(t, ra), linesRead(t, ra), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, read := bufferBytes(t, ra), linesRead(t, ra); got > 4<<20 || got < 3<<20 || read >= n {
		t.Fatalf("buffer holds %d bytes with %d of %d lines read; want it full (3-4 MiB) and the file not read to its end", got, read, n)
	}
	b := kafkatest.Start(t, kafkabroker.Config{Listener: port.Listen(t)})
	defer b.Shutdown(context.Background())
	c := newConsumed()
	c.waitFor(t, port.Addr(), kafkawire.DefaultLogsTopic, 60*time.Second, func(c *consumed) bool { return c.logRecords >= n })
	if dups := checkFiles(t, c, n); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
}
