package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/benchtest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// processCPU is the CPU time a process used so far (/proc/PID/stat utime
// and stime, in clock ticks of 10ms).
func processCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// the fields after the command name, which is in parentheses
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkIdleCPU: the CPU an agent uses while nothing happens: 100 log
// files it has read to their end, OTLP receivers and /metrics open, Kafka
// up. Measured over IDLE_SECONDS (default 60) of the agent's process, with
// change notification (watch, the default) and with polling only.
// Run: go test ./agent/ -run '^$' -bench IdleCPU -benchtime 1x
func BenchmarkIdleCPU(b *testing.B) {
	seconds := benchtest.Int("IDLE_SECONDS", 60)
	for _, watch := range []bool{true, false} {
		b.Run(fmt.Sprintf("watch=%v", watch), func(b *testing.B) {
			dir := b.TempDir()
			for i := 0; i < 100; i++ {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("app-%03d.log", i)), []byte(fmt.Sprintf("{\"msg\":\"file %d\"}\n", i)), 0o644)
			}
			for i := 0; i < b.N; i++ {
				addr, stopBroker := startBrokerProcess(b)
				c := startAgentProcess(b, fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    watch: %v
    parse: {format: json}
otlp: {grpc: {listen: 127.0.0.1:0}, http: {listen: 127.0.0.1:0}}
kafka: {brokers: [%s]}
`, dir, watch, addr))
				b.Cleanup(func() { c.kill(); stopBroker() }) // also after a failure
				c.waitSent(b, 100, time.Minute)
				pid := c.cmd.Process.Pid
				cpu0 := processCPU(b, pid)
				time.Sleep(time.Duration(seconds) * time.Second) // the measurement: an idle agent
				used := processCPU(b, pid) - cpu0
				c.stop(b)
				stopBroker()
				b.ReportMetric(float64(used.Milliseconds())*60/float64(seconds), "cpu-ms/min")
				b.ReportMetric(100*used.Seconds()/float64(seconds), "cpu-%")
			}
		})
	}
}

// BenchmarkLineToKafkaLatency: the time from a line written to a followed
// file (after write returns) to its record read back from Kafka, one line
// every 10ms, LATENCY_LINES of them (default 1000), default settings
// (watch on, lz4, linger 20ms: a line after a quiet spell goes at once,
// one within 20ms of the previous produce call waits for the rest of
// them). The consumer polls each partition with a 5ms wait, so the
// figures are an upper bound of the produce latency.
// Run: go test ./agent/ -run '^$' -bench LineToKafkaLatency -benchtime 1x
func BenchmarkLineToKafkaLatency(b *testing.B) {
	lines := benchtest.Int("LATENCY_LINES", 1000)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		path := filepath.Join(dir, "app.log")
		os.WriteFile(path, []byte("{\"msg\":\"start\"}\n"), 0o644)
		addr, stopBroker := startBrokerProcess(b)
		c := startAgentProcess(b, jsonFilesConfig(dir, addr, ""))
		b.Cleanup(func() { c.kill(); stopBroker() }) // also after a failure
		c.waitSent(b, 1, time.Minute)                // the topic exists, the file is open

		var mu sync.Mutex
		written := map[int]time.Time{}
		var latencies []time.Duration
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for p, last := range endOffsets(b, addr, kafkawire.DefaultLogsTopic) {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: kafkawire.DefaultLogsTopic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 5 * time.Millisecond})
			r.SetOffset(last)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				var dec kafkawire.Decoder
				for {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						return
					}
					now := time.Now()
					ld, err := dec.DecodeLogs(m.Value, m.Headers)
					if err != nil {
						continue
					}
					for _, lr := range wiretest.LogRecords(ld) {
						n, ok := strings.CutPrefix(lr.Body().AsString(), "latency ")
						if !ok {
							continue
						}
						seq, _ := strconv.Atoi(n)
						mu.Lock()
						if at, ok := written[seq]; ok {
							latencies = append(latencies, now.Sub(at))
						}
						mu.Unlock()
					}
				}
			}()
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			b.Fatal(err)
		}
		for seq := 0; seq < lines; seq++ {
			line := fmt.Sprintf("{\"level\":\"info\",\"msg\":\"latency %d\"}\n", seq)
			mu.Lock()
			if _, err := f.WriteString(line); err != nil {
				b.Fatal(err)
			}
			written[seq] = time.Now()
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // the pace of the writer
		}
		f.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(latencies)
			mu.Unlock()
			if n >= lines || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		c.stop(b)
		stopBroker()
		if len(latencies) < lines {
			b.Fatalf("%d of %d lines read back from Kafka", len(latencies), lines)
		}
		slices.Sort(latencies)
		pct := func(q float64) float64 {
			return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.5), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(pct(1), "max-ms")
	}
}

// endOffsets are the offsets after the last message of each partition.
func endOffsets(b *testing.B, addr, topic string) map[int]int64 {
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	ps, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range ps {
		pc, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, p.ID)
		if err != nil {
			b.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			b.Fatal(err)
		}
		out[p.ID] = last
	}
	return out
}
