package flowgraph

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
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

// benchInput is the topology (about 9 spans per trace) in batches of about
// 100 spans, shuffled, as ptrace.Traces and as OTLP protobuf.
func benchInput(b *testing.B) ([]ptrace.Traces, [][]byte, int) {
	b.Helper()
	tp := topology{Traces: 2000, DropEvery: 20, Retries: 100}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tds := batches(tp.spans(base), 7, 100, 0)
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

func benchConfig() Config {
	c := testConfig()
	c.Store.Wait = time.Second
	c.Store.MaxItems = 1 << 16
	return c
}

// BenchmarkAnalyzerTraces: pdata in (decode excluded), spans extracted,
// paired and aggregated. One op = one span.
func BenchmarkAnalyzerTraces(b *testing.B) {
	tds, _, n := benchInput(b)
	a := NewAnalyzer(benchConfig())
	now := time.Unix(1e9, 0)
	round := func() {
		now = now.Add(2 * time.Second) // previous round's entries expire: steady state
		for _, td := range tds {
			a.ConsumeTraces(0, td, now)
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
}

// BenchmarkAnalyzerDecodeTraces: OTLP protobuf in (decode included).
func BenchmarkAnalyzerDecodeTraces(b *testing.B) {
	_, raw, n := benchInput(b)
	a := NewAnalyzer(benchConfig())
	now := time.Unix(1e9, 0)
	var u ptrace.ProtoUnmarshaler
	round := func() {
		now = now.Add(2 * time.Second)
		for _, buf := range raw {
			td, err := u.UnmarshalTraces(buf)
			if err != nil {
				b.Fatal(err)
			}
			a.ConsumeTraces(0, td, now)
		}
		a.Tick(now)
	}
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
}

// BenchmarkAnalyzerProtobuf: OTLP protobuf in, read in place without pdata
// (the Kafka consumer's path), paired and aggregated. One op = one span.
func BenchmarkAnalyzerProtobuf(b *testing.B) {
	_, raw, n := benchInput(b)
	a := NewAnalyzer(benchConfig())
	now := time.Unix(1e9, 0)
	round := func() {
		now = now.Add(2 * time.Second)
		for _, buf := range raw {
			if _, err := a.ConsumeProtobuf(0, buf, now); err != nil {
				b.Fatal(err)
			}
		}
		a.Tick(now)
	}
	round()
	round()
	b.SetBytes(int64(len(raw[0]) * len(raw) / n))
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
}

// BenchmarkAnalyzerProtobufParallel: every core feeds its own shard
// (partition), as the Kafka consumer's workers do; spans/s is the total.
func BenchmarkAnalyzerProtobufParallel(b *testing.B) {
	_, raw, n := benchInput(b)
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
}
