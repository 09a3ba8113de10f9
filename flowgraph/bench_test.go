package flowgraph

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/loadtest"
)

// cpuTime is the process's user+system CPU time: spans per CPU-second is
// the per-core figure, which a machine shared with other work does not skew
// the way wall-clock spans/s is skewed.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRates reports spans/s (wall clock) and spans/cpu-s.
func reportRates(b *testing.B, spans int, cpu0 time.Duration) {
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(spans)/cpu, "spans/cpu-s")
	}
}

// benchShape is the input of the analyzer benchmarks: requests of about
// 100 spans as ptrace.Traces and as OTLP protobuf, and their span count.
// Its name is the sub-benchmark's.
type benchShape struct {
	name  string
	input func(b *testing.B) ([]ptrace.Traces, [][]byte, int)
}

var benchShapes = []benchShape{
	{"services=4/edges=7", shopInput},
	{"services=200/edges=1960", wideInput},
}

// shopInput is the test topology (4 services, 7 edges, about 9 spans per
// trace), shuffled.
func shopInput(b *testing.B) ([]ptrace.Traces, [][]byte, int) {
	b.Helper()
	tp := topology{Traces: 2000, DropEvery: 20, Retries: 100}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return marshalInput(b, batches(tp.spans(base), 7, 100, 0))
}

var wide struct {
	once sync.Once
	tds  []ptrace.Traces
	err  error
}

// wideInput is loadtest's generator playing wideTopology for 10,000
// requests (about 10 spans each), as its SDK exported them.
func wideInput(b *testing.B) ([]ptrace.Traces, [][]byte, int) {
	b.Helper()
	wide.once.Do(func() {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("flowlens-wide-%d.yaml", os.Getpid()))
		if wide.err = os.WriteFile(path, []byte(wideTopology(5, 40, 12)), 0o644); wide.err != nil {
			return
		}
		defer os.Remove(path)
		cfg := loadtest.Config{Topology: path, Count: 10_000, Rate: 1000, Seed: 1, NoPacing: true, ProgressInterval: -1,
			Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		cfg.OTLP.BatchSize = 100
		cfg.SetDefaults()
		wide.tds, _, wide.err = loadtest.Capture(context.Background(), cfg, loadtest.Options{})
	})
	if wide.err != nil {
		b.Fatal(wide.err)
	}
	return marshalInput(b, wide.tds)
}

// wideTopology is a system of layers x perLayer services: a gateway calls
// each service of the first layer from its own endpoint, and every
// service calls calls services of the next layer, each with probability
// 1/calls. Edges: perLayer + (layers-1) x perLayer x calls.
func wideTopology(layers, perLayer, calls int) string {
	var y strings.Builder
	name := func(l, i int) string { return fmt.Sprintf("svc-%d-%02d", l, i) }
	y.WriteString("name: wide\nentry:\n  service: gateway\n  endpoints:\n")
	for i := 0; i < perLayer; i++ {
		fmt.Fprintf(&y, "    - {endpoint: \"GET /%s\"}\n", name(0, i))
	}
	y.WriteString("services:\n  - name: gateway\n    endpoints:\n")
	for i := 0; i < perLayer; i++ {
		fmt.Fprintf(&y, "      - name: \"GET /%s\"\n        calls: [{service: %s}]\n", name(0, i), name(0, i))
	}
	for l := 0; l < layers; l++ {
		for i := 0; i < perLayer; i++ {
			fmt.Fprintf(&y, "  - name: %s\n    endpoints:\n      - name: \"GET /work\"\n", name(l, i))
			if l+1 == layers {
				continue
			}
			y.WriteString("        calls:\n")
			for m := 0; m < calls; m++ {
				// distinct callees: 3 and perLayer share no factor here
				fmt.Fprintf(&y, "          - {service: %s, probability: %.6f}\n", name(l+1, (i*7+m*3)%perLayer), 1/float64(calls))
			}
		}
	}
	return y.String()
}

// marshalInput adds the OTLP protobuf of each request and counts spans.
func marshalInput(b *testing.B, tds []ptrace.Traces) ([]ptrace.Traces, [][]byte, int) {
	var raw [][]byte
	n := 0
	var m ptrace.ProtoMarshaler
	for _, td := range tds {
		buf, err := m.MarshalTraces(td)
		if err != nil {
			b.Fatal(err)
		}
		raw = append(raw, buf)
		n += td.SpanCount()
	}
	return tds, raw, n
}

// reportEdges reports how many edges the analyzer holds: the shape it
// measured, next to the figures.
func reportEdges(b *testing.B, a *Analyzer) {
	b.ReportMetric(float64(len(a.Edges())), "edges")
}

func benchConfig() Config {
	c := testConfig()
	c.Store.Wait = time.Second
	c.Store.MaxItems = 1 << 16
	return c
}

// BenchmarkAnalyzerTraces: pdata in (decode excluded), spans extracted,
// paired and aggregated. One op = one span.
func BenchmarkAnalyzerTraces(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			tds, _, n := shape.input(b)
			a := NewAnalyzer(benchConfig())
			benchRounds(b, a, n, len(tds), func(i int, now time.Time) { a.ConsumeTraces(0, tds[i], now) })
		})
	}
}

// BenchmarkAnalyzerDecodeTraces: OTLP protobuf in (decode included).
func BenchmarkAnalyzerDecodeTraces(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			_, raw, n := shape.input(b)
			a := NewAnalyzer(benchConfig())
			var u ptrace.ProtoUnmarshaler
			benchRounds(b, a, n, len(raw), func(i int, now time.Time) {
				td, err := u.UnmarshalTraces(raw[i])
				if err != nil {
					b.Fatal(err)
				}
				a.ConsumeTraces(0, td, now)
			})
		})
	}
}

// BenchmarkAnalyzerProtobuf: OTLP protobuf in, read in place without pdata
// (the Kafka consumer's path), paired and aggregated. One op = one span.
func BenchmarkAnalyzerProtobuf(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			_, raw, n := shape.input(b)
			a := NewAnalyzer(benchConfig())
			b.SetBytes(int64(len(raw[0]) * len(raw) / n))
			benchRounds(b, a, n, len(raw), func(i int, now time.Time) {
				if _, err := a.ConsumeProtobuf(0, raw[i], now); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// benchRounds measures analyzer a in rounds over a shape's input of n
// spans in batches: a round consumes every batch (consume, given the
// batch's index) and Ticks, 2 s after the round before, whose entries
// expire then: the steady state, which two untimed rounds reach.
func benchRounds(b *testing.B, a *Analyzer, n, batches int, consume func(i int, now time.Time)) {
	now := time.Unix(1e9, 0)
	round := func() {
		now = now.Add(2 * time.Second)
		for i := 0; i < batches; i++ {
			consume(i, now)
		}
		a.Tick(now)
	}
	round()
	round()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	spans := 0
	for spans < b.N {
		round()
		spans += n
	}
	b.StopTimer()
	reportRates(b, spans, cpu0)
	reportEdges(b, a)
}

// BenchmarkAnalyzerProtobufParallel: every core feeds its own shard
// (partition), as the Kafka consumer's workers do; spans/s is the total.
func BenchmarkAnalyzerProtobufParallel(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			_, raw, n := shape.input(b)
			cfg := benchConfig()
			cfg.Shards = runtime.GOMAXPROCS(0)
			cfg.Store.MaxItems = 1 << 17
			a := NewAnalyzer(cfg)
			var key atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var total atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				k := int(key.Add(1))
				now := time.Unix(1e9, 0)
				for pb.Next() {
					now = now.Add(2 * time.Second)
					for _, buf := range raw {
						if _, err := a.ConsumeProtobuf(k, buf, now); err != nil {
							b.Error(err)
							return
						}
					}
					total.Add(int64(n))
				}
			})
			b.StopTimer()
			reportRates(b, int(total.Load()), cpu0)
			reportEdges(b, a)
		})
	}
}
