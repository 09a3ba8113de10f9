package storage

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchSpans is the request size of the span benchmarks (10k spans, the
// generator's realistic 12-16 attributes each, one resource per span).
const benchSpans = 10_000

func benchTraceRequest(b *testing.B) []byte {
	return marshalTraces(b, genTraces(1, benchSpans/10, 10, baseTime, time.Millisecond))
}

// BenchmarkUnmarshalAndAppendTraces is today's path: pdata decode, then rows.
func BenchmarkUnmarshalAndAppendTraces(b *testing.B) {
	req := benchTraceRequest(b)
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
}

// BenchmarkAppendTracesProto decodes the same request in place.
func BenchmarkAppendTracesProto(b *testing.B) {
	req := benchTraceRequest(b)
	var rows SpanRows
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows.Reset()
		n, err := rows.AppendTracesProto(req, nil)
		if err != nil || n != benchSpans {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N)*benchSpans/b.Elapsed().Seconds(), "spans/s")
	if rows.wire.fallbacks != 0 {
		b.Fatal("fell back to pdata")
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
