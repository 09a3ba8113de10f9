package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var baseTime = time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)

func traceIDOf(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], n*0x9E3779B97F4A7C15+1)
	binary.BigEndian.PutUint64(id[8:], n+1)
	return id
}

func spanIDOf(trace uint64, n int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], trace<<16|uint64(n)+1)
	return id
}

var services = []string{"frontend", "checkout", "payment", "inventory", "shipping", "email", "auth", "search"}

// genTraces builds nTraces traces of spansPer spans each, with realistic
// attribute counts (12-16 per span), spread over services, starting at start
// and one trace every step.
func genTraces(first uint64, nTraces, spansPer int, start time.Time, step time.Duration) ptrace.Traces {
	td := ptrace.NewTraces()
	rng := rand.New(rand.NewPCG(first, 7))
	for ti := 0; ti < nTraces; ti++ {
		tn := first + uint64(ti)
		t0 := start.Add(time.Duration(ti) * step)
		for si := 0; si < spansPer; si++ {
			svc := services[(int(tn)+si)%len(services)]
			rs := td.ResourceSpans().AppendEmpty()
			ra := rs.Resource().Attributes()
			ra.PutStr("service.name", svc)
			ra.PutStr("service.version", "1.4.2")
			ra.PutStr("host.name", fmt.Sprintf("node-%d", si%5))
			ra.PutStr("k8s.namespace.name", "shop")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			ss.Scope().SetVersion("0.58.0")
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(traceIDOf(tn))
			sp.SetSpanID(spanIDOf(tn, si))
			if si > 0 {
				sp.SetParentSpanID(spanIDOf(tn, si-1))
			}
			sp.SetName(fmt.Sprintf("%s /api/%s", []string{"GET", "POST"}[si%2], svc))
			if si%2 == 0 {
				sp.SetKind(ptrace.SpanKindServer)
			} else {
				sp.SetKind(ptrace.SpanKindClient)
			}
			st := t0.Add(time.Duration(si) * time.Millisecond)
			dur := time.Duration(rng.IntN(200_000_000)) + time.Millisecond
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(st.Add(dur)))
			a := sp.Attributes()
			a.PutStr("http.request.method", []string{"GET", "POST"}[si%2])
			a.PutStr("url.path", "/api/"+svc)
			a.PutStr("server.address", svc+".shop.svc.cluster.local")
			a.PutInt("server.port", 8080)
			a.PutInt("http.response.status_code", 200)
			a.PutStr("network.protocol.version", "1.1")
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) flowlens-loadgen/1.0")
			a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", si, ti%250))
			a.PutInt("http.request.body.size", int64(rng.IntN(5000)))
			a.PutInt("http.response.body.size", int64(rng.IntN(50000)))
			a.PutStr("peer.service", services[(int(tn)+si+1)%len(services)])
			a.PutStr("session.id", fmt.Sprintf("sess-%d", tn%1000))
			a.PutBool("sampled", true)
			if rng.IntN(20) == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream timeout")
				a.PutStr("error.type", "timeout")
			} else {
				sp.Status().SetCode(ptrace.StatusCodeOk)
			}
		}
	}
	return td
}

// genLogs builds one log record per (trace, service) of genTraces' traces.
func genLogs(first uint64, nTraces int, start time.Time, step time.Duration) plog.Logs {
	ld := plog.NewLogs()
	for ti := 0; ti < nTraces; ti++ {
		tn := first + uint64(ti)
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", services[int(tn)%len(services)])
		sl := rl.ScopeLogs().AppendEmpty()
		r := sl.LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(ti)*step + 500*time.Microsecond)))
		r.SetTraceID(traceIDOf(tn))
		r.SetSpanID(spanIDOf(tn, 0))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.SetSeverityText("INFO")
		r.Body().SetStr(fmt.Sprintf("handled request %d", tn))
	}
	return ld
}
