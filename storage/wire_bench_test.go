package storage

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// benchSpans is the request size of the span benchmarks (10k spans, 10 per
// trace).
const benchSpans = 10_000

// benchTraceShapes are the span requests the decode benchmarks run on, as
// sub-benchmarks named after their shape: genTraces' (8 services, 16 span
// names, 13-14 attributes, one user agent, sessions from 1000) and wiretest's
// 200 services with URLs, user agents, sessions and users that never
// repeat (19 attributes).
var benchTraceShapes = []struct {
	name string
	gen  func() ptrace.Traces
}{
	{"services=8/strings=repeated", func() ptrace.Traces { return genTraces(1, benchSpans/10, 10, baseTime, time.Millisecond) }},
	{wiretest.ManyUnique.String(), func() ptrace.Traces { return wiretest.ShapedTraces(0, benchSpans, 10, wiretest.ManyUnique) }},
	{wiretest.ManyUnique.String() + "/resources=unique", func() ptrace.Traces {
		return resourcePerSpan(wiretest.ShapedTraces(0, benchSpans, 10, wiretest.ManyUnique))
	}},
}

// resourcePerSpan puts every span of td under a resource of its own, as
// flowlens bench-peers' spans come (a host and instance drawn per span).
func resourcePerSpan(td ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				to := out.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(to.Resource())
				to.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("instance-%d", n))
				n++
				toScope := to.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(toScope.Scope())
				sp.CopyTo(toScope.Spans().AppendEmpty())
			}
		}
	}
	return out
}

// BenchmarkUnmarshalAndAppendTraces is the pdata path: decode, then rows.
func BenchmarkUnmarshalAndAppendTraces(b *testing.B) {
	for _, shape := range benchTraceShapes {
		b.Run(shape.name, func(b *testing.B) {
			req := marshalTraces(b, shape.gen())
			var rows SpanRows
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rows.Reset()
				td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
				if err != nil {
					b.Fatal(err)
				}
				if n := rows.AppendTraces(td, nil); n != benchSpans {
					b.Fatalf("%d rows", n)
				}
			}
			b.ReportMetric(float64(b.N)*benchSpans/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// BenchmarkAppendTracesProto decodes the same requests in place.
func BenchmarkAppendTracesProto(b *testing.B) {
	for _, shape := range benchTraceShapes {
		b.Run(shape.name, func(b *testing.B) {
			req := marshalTraces(b, shape.gen())
			var rows SpanRows
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			cpu := chtest.SampleCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rows.Reset()
				n, err := rows.AppendTracesProto(req, nil)
				if err != nil || n != benchSpans {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			b.StopTimer()
			total, _ := cpu.Since()
			b.ReportMetric(float64(b.N)*benchSpans/b.Elapsed().Seconds(), "spans/s")
			// the process's CPU time, GC included: steadier than wall time
			// on a busy machine
			b.ReportMetric(total*100_000/float64(b.N*benchSpans), "cpu-s/100k")
			if rows.wire.fallbacks != 0 {
				b.Fatal("fell back to pdata")
			}
		})
	}
}

// benchLogs is the request size of the log benchmarks.
const benchLogs = 10_000

func benchLogRequest(b *testing.B) []byte {
	return marshalLogs(b, genLogs(1, benchLogs, baseTime, time.Millisecond))
}

// BenchmarkUnmarshalAndAppendLogs is today's path for logs.
func BenchmarkUnmarshalAndAppendLogs(b *testing.B) {
	req := benchLogRequest(b)
	var rows LogRows
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows.Reset()
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(req)
		if err != nil {
			b.Fatal(err)
		}
		if n := rows.AppendLogs(ld, nil); n != benchLogs {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(b.N)*benchLogs/b.Elapsed().Seconds(), "logs/s")
}

// BenchmarkAppendLogsProto decodes the same request in place.
func BenchmarkAppendLogsProto(b *testing.B) {
	req := benchLogRequest(b)
	var rows LogRows
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows.Reset()
		n, err := rows.AppendLogsProto(req, nil)
		if err != nil || n != benchLogs {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N)*benchLogs/b.Elapsed().Seconds(), "logs/s")
	if rows.wire.fallbacks != 0 {
		b.Fatal("fell back to pdata")
	}
}

// BenchmarkAppendLogsProtoMapBody: records with structured (map) bodies, which
// AppendLogsProto hands to pdata one record at a time; compare with
// BenchmarkUnmarshalAndAppendLogsMapBody.
func BenchmarkAppendLogsProtoMapBody(b *testing.B) {
	benchLogsMapBody(b, true)
}

func BenchmarkUnmarshalAndAppendLogsMapBody(b *testing.B) {
	benchLogsMapBody(b, false)
}

func benchLogsMapBody(b *testing.B, proto bool) {
	ld := genLogs(1, benchLogs, baseTime, time.Millisecond)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		m := rls.At(i).ScopeLogs().At(0).LogRecords().At(0).Body().SetEmptyMap()
		m.PutStr("msg", "handled request")
		m.PutInt("status", 200)
		m.PutStr("path", "/api/cart")
	}
	req := marshalLogs(b, ld)
	var rows LogRows
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows.Reset()
		var n int
		if proto {
			var err error
			if n, err = rows.AppendLogsProto(req, nil); err != nil {
				b.Fatal(err)
			}
		} else {
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(req)
			if err != nil {
				b.Fatal(err)
			}
			n = rows.AppendLogs(ld, nil)
		}
		if n != benchLogs {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(b.N)*benchLogs/b.Elapsed().Seconds(), "logs/s")
}
