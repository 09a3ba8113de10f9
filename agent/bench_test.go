package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

const brokerEnv = "FLOWLENS_AGENT_TEST_BROKER" // datadir: run as a broker process on a port of its choice

func init() {
	// the broker child mode must win over the test runner (see TestMain)
	if dir := os.Getenv(brokerEnv); dir != "" {
		cfg := kafkabroker.Config{Addr: "127.0.0.1:0", DataDir: dir}
		cfg.SetDefaults()
		b, err := kafkabroker.New(cfg, component.Settings{})
		if err == nil {
			err = b.Start(context.Background())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "broker:", err)
			os.Exit(2)
		}
		fmt.Println("ready", b.Addrs()[0])
		ch := make(chan os.Signal, 1)
		signalNotify(ch)
		<-ch
		_ = b.Shutdown(context.Background())
		os.Exit(0)
	}
}

// startBrokerProcess runs the embedded broker in another process.
func startBrokerProcess(b *testing.B) (string, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"="+b.TempDir())
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		cmd.Process.Kill()
		b.Fatalf("broker process: %q", line)
	}
	return addr, func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
}

// writeBenchFile writes n JSON log lines of about 300 bytes.
func writeBenchFile(b *testing.B, path string, n int) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"info", "info", "info", "warn", "error", "debug"}
	var size int64
	for i := 0; i < n; i++ {
		k, _ := fmt.Fprintf(w, `{"timestamp":"2026-11-25T22:%02d:%02d.%06dZ","level":"%s","service":"checkout","msg":"handled request GET /api/v1/orders/%d in %dms","trace_id":"%016x%016x","span_id":"%016x","http.method":"GET","http.status_code":%d,"user_id":"u-%d","duration_ms":%.3f,"region":"eu-west-1"}`+"\n",
			i/60%60, i%60, i%1000000, levels[i%len(levels)], r.IntN(99999), r.IntN(900), r.Uint64(), r.Uint64(), r.Uint64(), 200+r.IntN(4)*100, r.IntN(99999), r.Float64()*100)
		size += int64(k)
	}
	w.Flush()
	f.Close()
	return size
}

// startAgentProcess runs an agent in its own process, its metrics and
// OTLP receivers on ports it picks.
func startAgentProcess(b *testing.B, body string) *childAgent {
	cfgPath := filepath.Join(b.TempDir(), "agent.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %s\nlog: {level: warn}\nhost_name: bench\nmetrics: {listen: 127.0.0.1:0}\n%s", b.TempDir(), body)), 0o644)
	return startChildAgent(b, cfgPath)
}

// metric reads one value from the child's /metrics.
func (c *childAgent) metric(name string) float64 {
	resp, err := http.Get("http://" + c.addrs.Metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+" ") {
			v, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return v
		}
	}
	return -1
}

// stop ends the child and returns its CPU seconds and peak RSS (MB).
// The peak RSS is VmHWM of the running child: rusage's maxrss would count
// the parent's pages shared at fork time.
func (c *childAgent) stop(b *testing.B) (float64, float64) {
	var rss float64
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
				rss = kb / 1024
			}
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.exited
	ru := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return cpu, rss
}

func (c *childAgent) waitSent(b *testing.B, want float64, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.metric("flowlens_agent_kafka_records_sent_total") >= want {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("only %.0f of %.0f records sent", c.metric("flowlens_agent_kafka_records_sent_total"), want)
	return time.Time{}
}

// BenchmarkFileToKafka: the agent (its own process) reads a file of JSON
// lines of about 300 bytes, parses them into OTLP log records and produces
// them to a broker in a third process. Reported: lines/s, lines per CPU
// second of the agent, MB/s per agent core, peak RSS of the agent.
// Run with -benchtime=1x -count=5.
func BenchmarkFileToKafka(b *testing.B) {
	const lines = 500_000
	dir := b.TempDir()
	size := writeBenchFile(b, filepath.Join(dir, "app.log"), lines)
	compression := os.Getenv("BENCH_COMPRESSION")
	if compression == "" {
		compression = "lz4"
	}
	for i := 0; i < b.N; i++ {
		addr, stopBroker := startBrokerProcess(b)
		start := time.Now()
		c := startAgentProcess(b, jsonFilesConfig(dir, addr, "compression: "+compression))
		end := c.waitSent(b, lines, 5*time.Minute)
		cpu, rss := c.stop(b)
		stopBroker()
		wall := end.Sub(start).Seconds()
		b.ReportMetric(lines/wall, "lines/s")
		b.ReportMetric(lines/cpu, "lines/cpu-s")
		b.ReportMetric(float64(size)/1e6/cpu, "MB/cpu-s")
		b.ReportMetric(rss, "peak-RSS-MB")
	}
}

// BenchmarkOTLPToKafka: spans over OTLP gRPC into the agent process (10
// spans per trace, 1000 per request, 2 concurrent clients), produced to a
// broker process. Reported: spans per CPU second of the agent.
func BenchmarkOTLPToKafka(b *testing.B) {
	const requests, perReq = 200, 1000
	reqs := make([]ptraceotlp.ExportRequest, requests)
	for i := range reqs {
		reqs[i] = ptraceotlp.NewExportRequestFromTraces(wiretest.Traces(i*perReq, perReq, 10))
	}
	for i := 0; i < b.N; i++ {
		addr, stopBroker := startBrokerProcess(b)
		c := startAgentProcess(b, fmt.Sprintf(`
otlp: {grpc: {listen: 127.0.0.1:0}, http: {listen: "off"}}
kafka: {brokers: [%s]}
`, addr))
		conn, err := grpc.NewClient(c.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		tc := ptraceotlp.NewGRPCClient(conn)
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for j := w; j < requests; j += 2 {
					if _, err := tc.Export(context.Background(), reqs[j]); err != nil {
						b.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		end := c.waitSent(b, requests*perReq, 5*time.Minute)
		conn.Close()
		cpu, rss := c.stop(b)
		stopBroker()
		b.ReportMetric(requests*perReq/end.Sub(start).Seconds(), "spans/s")
		b.ReportMetric(requests*perReq/cpu, "spans/cpu-s")
		b.ReportMetric(rss, "peak-RSS-MB")
	}
}

// BenchmarkManyFilesToKafka: 1000 files of 500 lines each, all open at once.
func BenchmarkManyFilesToKafka(b *testing.B) {
	const files, per = 1000, 500
	dir := b.TempDir()
	one := filepath.Join(b.TempDir(), "one.log")
	writeBenchFile(b, one, per)
	data, err := os.ReadFile(one)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < files; i++ {
		// a distinct first line per file: identities are fingerprints
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), append([]byte(fmt.Sprintf("file %d\n", i)), data...), 0o644)
	}
	for i := 0; i < b.N; i++ {
		addr, stopBroker := startBrokerProcess(b)
		start := time.Now()
		c := startAgentProcess(b, jsonFilesConfig(dir, addr, ""))
		end := c.waitSent(b, files*(per+1), 5*time.Minute)
		cpu, rss := c.stop(b)
		stopBroker()
		n := float64(files * (per + 1))
		b.ReportMetric(n/end.Sub(start).Seconds(), "lines/s")
		b.ReportMetric(n/cpu, "lines/cpu-s")
		b.ReportMetric(rss, "peak-RSS-MB")
	}
}

// jsonFilesConfig is the agent config of the benchmarks that ship files:
// the JSON lines of dir/*.log to the broker at addr, no OTLP receivers;
// kafka adds settings to the kafka section ("compression: lz4"), if any.
func jsonFilesConfig(dir, addr, kafka string) string {
	if kafka != "" {
		kafka = ", " + kafka
	}
	return fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    parse: {format: json}
otlp: {grpc: {listen: "off"}, http: {listen: "off"}}
kafka: {brokers: [%s]%s}
`, dir, addr, kafka)
}
