// Package wiretest generates realistic OTLP spans and logs for tests and
// benchmarks of the Kafka path: each record carries a unique "seq" attribute
// (an int) so a test can count rows and distinct records after the trip.
package wiretest

import (
	"encoding/binary"
	"fmt"
	"iter"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SeqKey is the attribute holding each record's sequence number.
const SeqKey = "seq"

var services = []string{"checkout", "cart", "payment", "frontend", "shipping", "email"}
var routes = []string{"/api/cart", "/api/checkout", "/api/pay", "/", "/api/ship", "/api/product/{id}"}

// TraceID returns a deterministic non-zero trace ID for trace number n.
func TraceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], n*0x9E3779B97F4A7C15+1)
	binary.BigEndian.PutUint64(id[8:], n+1)
	return id
}

// SpanID returns a deterministic non-zero span ID for span number n.
func SpanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n+1)
	return id
}

// Shape is what generated spans look like, so that a benchmark can say
// which shape it measured: String is a sub-benchmark name.
type Shape struct {
	// Services is how many distinct service.name values the spans have
	// (default 6). Beyond 6, services are svc-000, svc-001, ... and every
	// service has its own 6 span names.
	Services int
	// UniqueStrings gives every span its own URL (with an order ID) and
	// user agent, and every trace its own session and user ID, as real
	// traffic has. Otherwise they repeat: 6 routes, one user agent, no
	// session or user.
	UniqueStrings bool
}

// Repeated is the shape of Traces: 6 services, 6 span names, strings that
// repeat.
var Repeated = Shape{}

// ManyUnique is 200 services and strings that never repeat.
var ManyUnique = Shape{Services: 200, UniqueStrings: true}

func (s Shape) services() int {
	if s.Services <= 0 {
		return len(services)
	}
	return s.Services
}

func (s Shape) String() string {
	str := "repeated"
	if s.UniqueStrings {
		str = "unique"
	}
	return fmt.Sprintf("services=%d/strings=%s", s.services(), str)
}

func (s Shape) serviceName(i int) string {
	if s.services() <= len(services) {
		return services[i]
	}
	return fmt.Sprintf("svc-%03d", i)
}

// Traces builds n spans numbered seq0..seq0+n-1, spansPerTrace spans per
// trace (trace number = seq / spansPerTrace), grouped under one resource per
// service. Each span has 14-16 attributes, like instrumented HTTP/DB spans.
func Traces(seq0, n, spansPerTrace int) ptrace.Traces {
	return ShapedTraces(seq0, n, spansPerTrace, Repeated)
}

// ShapedTraces is Traces in the given shape.
func ShapedTraces(seq0, n, spansPerTrace int, shape Shape) ptrace.Traces {
	if spansPerTrace < 1 {
		spansPerTrace = 1
	}
	td := ptrace.NewTraces()
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	byService := map[int]ptrace.SpanSlice{}
	nsvc := shape.services()
	for i := 0; i < n; i++ {
		seq := seq0 + i
		svc := seq % nsvc
		name := shape.serviceName(svc)
		spans, ok := byService[svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			r := rs.Resource().Attributes()
			r.PutStr("service.name", name)
			r.PutStr("service.version", "1.4.2")
			r.PutStr("host.name", fmt.Sprintf("node-%d", svc))
			r.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8c-%d", name, svc))
			r.PutStr("deployment.environment", "prod")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			ss.Scope().SetVersion("0.60.0")
			spans = ss.Spans()
			byService[svc] = spans
		}
		s := spans.AppendEmpty()
		trace := uint64(seq / spansPerTrace)
		s.SetTraceID(TraceID(trace))
		s.SetSpanID(SpanID(uint64(seq)))
		if seq%spansPerTrace != 0 {
			s.SetParentSpanID(SpanID(uint64(seq - 1)))
		}
		route := routes[seq%len(routes)]
		if nsvc > len(services) {
			route = "/" + name + routes[seq/nsvc%len(routes)]
		}
		s.SetName("GET " + route)
		s.SetKind(ptrace.SpanKind(1 + seq%3))
		start := base.Add(time.Duration(seq) * time.Microsecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(1000+seq%5000) * time.Microsecond)))
		if seq%50 == 0 {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("upstream timeout")
		}
		a := s.Attributes()
		a.EnsureCapacity(19)
		a.PutInt(SeqKey, int64(seq))
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", route)
		a.PutInt("http.response.status_code", int64(200+(seq%50)/49*300))
		peer := shape.serviceName((svc + 1) % nsvc)
		path, agent := route, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
		order := uint64(seq) * 0x9E3779B97F4A7C15
		if shape.UniqueStrings {
			path = fmt.Sprintf("/api/orders/%016x", order)
			agent = fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36", 100+seq%40, seq/40, seq%199)
		}
		a.PutStr("url.path", path)
		a.PutStr("url.scheme", "https")
		a.PutStr("server.address", peer+".svc.cluster.local")
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
		a.PutStr("user_agent.original", agent)
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", seq%256, (seq/256)%256))
		a.PutInt("http.request.body.size", int64(seq%4096))
		a.PutInt("http.response.body.size", int64(seq%16384))
		a.PutStr("peer.service", peer)
		if shape.UniqueStrings {
			a.PutStr("url.full", fmt.Sprintf("https://%s.svc.cluster.local:8080/api/orders/%016x?ref=%d", peer, order, trace))
			a.PutStr("session.id", fmt.Sprintf("%016x", trace*0xC2B2AE3D27D4EB4F+7))
			a.PutStr("enduser.id", fmt.Sprintf("user-%d", trace))
		}
		if seq%3 == 0 {
			a.PutStr("db.system", "postgresql")
			a.PutStr("db.statement", "SELECT * FROM items WHERE id = $1")
		}
		if seq%10 == 0 {
			ev := s.Events().AppendEmpty()
			ev.SetName("retry")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(500 * time.Microsecond)))
			ev.Attributes().PutInt("attempt", 2)
		}
	}
	return td
}

// Logs builds n log records numbered seq0..seq0+n-1; every other record
// carries a trace ID (of trace seq/2), the rest have none.
func Logs(seq0, n int) plog.Logs {
	ld := plog.NewLogs()
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	byService := map[int]plog.LogRecordSlice{}
	for i := 0; i < n; i++ {
		seq := seq0 + i
		svc := seq % len(services)
		lrs, ok := byService[svc]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", services[svc])
			rl.Resource().Attributes().PutStr("host.name", fmt.Sprintf("node-%d", svc))
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("flowlens/agent/filelog")
			lrs = sl.LogRecords()
			byService[svc] = lrs
		}
		lr := lrs.AppendEmpty()
		ts := base.Add(time.Duration(seq) * time.Microsecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("request %d handled in %dms", seq, seq%300))
		if seq%2 == 0 {
			lr.SetTraceID(TraceID(uint64(seq / 2)))
			lr.SetSpanID(SpanID(uint64(seq)))
		}
		a := lr.Attributes()
		a.PutInt(SeqKey, int64(seq))
		a.PutStr("log.file.name", "app.log")
		a.PutStr("http.route", routes[seq%len(routes)])
	}
	return ld
}

// Spans yields every span of td, in order, with the resource it is under.
func Spans(td ptrace.Traces) iter.Seq2[pcommon.Resource, ptrace.Span] {
	return records(td.ResourceSpans().All(),
		func(rs ptrace.ResourceSpans) iter.Seq2[int, ptrace.ScopeSpans] { return rs.ScopeSpans().All() },
		func(ss ptrace.ScopeSpans) iter.Seq2[int, ptrace.Span] { return ss.Spans().All() })
}

// LogRecords is Spans for the log records of ld.
func LogRecords(ld plog.Logs) iter.Seq2[pcommon.Resource, plog.LogRecord] {
	return records(ld.ResourceLogs().All(),
		func(rl plog.ResourceLogs) iter.Seq2[int, plog.ScopeLogs] { return rl.ScopeLogs().All() },
		func(sl plog.ScopeLogs) iter.Seq2[int, plog.LogRecord] { return sl.LogRecords().All() })
}

// records walks the three levels of an OTLP request (resources, their
// scopes, the scopes' records), which pdata spells per signal.
func records[R interface{ Resource() pcommon.Resource }, S, E any](resources iter.Seq2[int, R],
	scopes func(R) iter.Seq2[int, S], recs func(S) iter.Seq2[int, E]) iter.Seq2[pcommon.Resource, E] {
	return func(yield func(pcommon.Resource, E) bool) {
		for _, r := range resources {
			for _, s := range scopes(r) {
				for _, e := range recs(s) {
					if !yield(r.Resource(), e) {
						return
					}
				}
			}
		}
	}
}
