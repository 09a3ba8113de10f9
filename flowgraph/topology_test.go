package flowgraph

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A generated system of known topology, for tests and benchmarks:
//
//	user -> gateway -> checkout -> payments        (sync; 1 in 10 fails on the server;
//	                                               7 retried calls; breaker closed->open->half_open->closed)
//	                   checkout -> api.stripe.com  (uninstrumented: client span only)
//	                   checkout -> queue "orders" -> fulfilment   (span links; 1 in 20 messages dropped)
//	                                               fulfilment -> orders_db (postgresql)
//
// Consumer spans live in their own trace and link to the producer, as the
// messaging conventions recommend; the fulfilment host's clock is 50 ms behind.
type topology struct {
	Traces    int
	DropEvery int // every DropEvery-th message is never consumed
	Retries   int // checkout -> payments calls that are retries
}

type genSpan struct {
	service string
	kind    ptrace.SpanKind
	trace   pcommon.TraceID
	id      pcommon.SpanID
	parent  pcommon.SpanID
	start   time.Time
	dur     time.Duration
	err     bool
	attrs   map[string]any
	linkTo  [2][]byte
	event   string
	evAttrs map[string]any
}

func traceID(i, salt int) pcommon.TraceID {
	var t pcommon.TraceID
	binary.BigEndian.PutUint64(t[:8], uint64(i)+1)
	binary.BigEndian.PutUint64(t[8:], uint64(salt)<<32|0xabcdef)
	return t
}

func spanID(i, n int) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint32(s[:4], uint32(i)+1)
	binary.BigEndian.PutUint32(s[4:], uint32(n)+1)
	return s
}

// breakerState of checkout's breaker towards payments at trace i.
func breakerState(i, n int) string {
	switch {
	case i < n/4:
		return "closed"
	case i < n/2:
		return "open"
	case i < n/2+n/8:
		return "half_open"
	}
	return "closed"
}

func (tp topology) spans(base time.Time) []genSpan {
	var out []genSpan
	for i := 0; i < tp.Traces; i++ {
		out = tp.traceSpans(base, i, out)
	}
	return out
}

// traceSpans appends the spans of request i: its trace and the trace of the
// consumer of its message.
func (tp topology) traceSpans(base time.Time, i int, out []genSpan) []genSpan {
	{
		t := traceID(i, 1)
		at := base.Add(time.Duration(i) * time.Millisecond)
		gw, coSrv, coCli, paySrv := spanID(i, 0), spanID(i, 1), spanID(i, 2), spanID(i, 3)
		out = append(out,
			genSpan{service: "gateway", kind: ptrace.SpanKindServer, trace: t, id: gw, start: at, dur: 80 * time.Millisecond},
			genSpan{service: "gateway", kind: ptrace.SpanKindClient, trace: t, id: spanID(i, 10), parent: gw, start: at.Add(time.Millisecond), dur: 70 * time.Millisecond, attrs: map[string]any{"server.address": "checkout"}},
			genSpan{service: "checkout", kind: ptrace.SpanKindServer, trace: t, id: coSrv, parent: spanID(i, 10), start: at.Add(2 * time.Millisecond), dur: 65 * time.Millisecond},
			genSpan{service: "checkout", kind: ptrace.SpanKindClient, trace: t, id: coCli, parent: coSrv, start: at.Add(3 * time.Millisecond), dur: 20 * time.Millisecond,
				attrs: map[string]any{"peer.service": "payments", "breaker.state": breakerState(i, tp.Traces)}},
			genSpan{service: "payments", kind: ptrace.SpanKindServer, trace: t, id: paySrv, parent: coCli, start: at.Add(4 * time.Millisecond), dur: 15 * time.Millisecond, err: i%10 == 0},
			genSpan{service: "checkout", kind: ptrace.SpanKindClient, trace: t, id: spanID(i, 4), parent: coSrv, start: at.Add(25 * time.Millisecond), dur: 30 * time.Millisecond,
				attrs: map[string]any{"server.address": "api.stripe.com", "http.request.method": "POST"}},
		)
		if i < tp.Retries {
			out = append(out,
				genSpan{service: "checkout", kind: ptrace.SpanKindClient, trace: t, id: spanID(i, 5), parent: coSrv, start: at.Add(24 * time.Millisecond), dur: 5 * time.Millisecond,
					attrs: map[string]any{"peer.service": "payments", "http.request.resend_count": int64(1), "breaker.state": breakerState(i, tp.Traces)}},
				genSpan{service: "payments", kind: ptrace.SpanKindServer, trace: t, id: spanID(i, 6), parent: spanID(i, 5), start: at.Add(24 * time.Millisecond), dur: 4 * time.Millisecond},
			)
		}
		// the message to the orders queue
		prod := spanID(i, 7)
		out = append(out, genSpan{service: "checkout", kind: ptrace.SpanKindProducer, trace: t, id: prod, parent: coSrv, start: at.Add(60 * time.Millisecond), dur: time.Millisecond,
			attrs: map[string]any{"messaging.system": "kafka", "messaging.destination.name": "orders"}})
		if tp.DropEvery > 0 && i%tp.DropEvery == tp.DropEvery-1 {
			return out // dropped by the queue
		}
		ct := traceID(i, 2)
		cons := spanID(i, 8)
		skew := -50 * time.Millisecond
		out = append(out,
			genSpan{service: "fulfilment", kind: ptrace.SpanKindConsumer, trace: ct, id: cons, start: at.Add(70*time.Millisecond + skew), dur: 40 * time.Millisecond,
				attrs: map[string]any{"messaging.system": "kafka", "messaging.destination.name": "orders"}, linkTo: [2][]byte{t[:], prod[:]}},
			genSpan{service: "fulfilment", kind: ptrace.SpanKindClient, trace: ct, id: spanID(i, 9), parent: cons, start: at.Add(75*time.Millisecond + skew), dur: 8 * time.Millisecond,
				attrs: map[string]any{"db.system": "postgresql", "db.name": "orders_db"}},
		)
	}
	return out
}

// expected is the exact graph of the topology: "client>server|type" ->
// counters.
func (tp topology) expected() map[string]edgeWant {
	n := uint64(tp.Traces)
	dropped := uint64(0)
	if tp.DropEvery > 0 {
		dropped = n / uint64(tp.DropEvery)
	}
	failed := (n + 9) / 10
	r := uint64(tp.Retries)
	return map[string]edgeWant{
		"user>gateway|":                        {requests: n},
		"gateway>checkout|":                    {requests: n},
		"checkout>payments|":                   {requests: n + r, failed: failed, retries: r},
		"checkout>api.stripe.com|virtual_node": {requests: n, unpaired: n},
		"checkout>fulfilment|messaging_system": {requests: n - dropped, sent: n - dropped, received: n - dropped},
		"checkout>orders|virtual_node":         {requests: dropped, sent: dropped, unpaired: dropped},
		"fulfilment>orders_db|database":        {requests: n - dropped},
	}
}

func putAttrs(m pcommon.Map, attrs map[string]any) {
	for k, v := range attrs {
		switch x := v.(type) {
		case string:
			m.PutStr(k, x)
		case int64:
			m.PutInt(k, x)
		case bool:
			m.PutBool(k, x)
		}
	}
}

// batches shuffles the spans (out-of-order arrival, consumers before
// producers), re-sends every dupEvery-th span (0: none) and packs them into
// ptrace.Traces of about per spans.
func batches(spans []genSpan, seed uint64, per, dupEvery int) []ptrace.Traces {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	all := append([]genSpan(nil), spans...)
	if dupEvery > 0 {
		for i := 0; i < len(spans); i += dupEvery {
			all = append(all, spans[i])
		}
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var out []ptrace.Traces
	for len(all) > 0 {
		n := min(per, len(all))
		out = append(out, toTraces(all[:n]))
		all = all[n:]
	}
	return out
}

func toTraces(spans []genSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	byService := map[string]ptrace.SpanSlice{}
	for _, g := range spans {
		ss, ok := byService[g.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", g.service)
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			byService[g.service] = ss
		}
		s := ss.AppendEmpty()
		s.SetName("op")
		s.SetKind(g.kind)
		s.SetTraceID(g.trace)
		s.SetSpanID(g.id)
		s.SetParentSpanID(g.parent)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(g.start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(g.start.Add(g.dur)))
		if g.err {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		putAttrs(s.Attributes(), g.attrs)
		if g.linkTo[0] != nil {
			l := s.Links().AppendEmpty()
			l.SetTraceID(pcommon.TraceID(g.linkTo[0]))
			l.SetSpanID(pcommon.SpanID(g.linkTo[1]))
		}
		if g.event != "" {
			ev := s.Events().AppendEmpty()
			ev.SetName(g.event)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(g.start))
			putAttrs(ev.Attributes(), g.evAttrs)
		}
	}
	return td
}

// breakerLogs are log records of fulfilment's breaker towards orders_db:
// closed, open, closed (two transitions), in the given order.
func breakerLogs(base time.Time, states ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "fulfilment")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, s := range states {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Second)))
		r.Body().SetStr("breaker changed")
		r.Attributes().PutStr("breaker.state", s)
		r.Attributes().PutStr("breaker.name", "orders_db")
	}
	return ld
}
