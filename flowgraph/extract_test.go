package flowgraph

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type captured struct {
	names *intern.Table
	spans []extract.Span
	links [][]extract.Link
	brk   [][]extract.BreakerObs
}

func (c *captured) HandleSpan(s *extract.Span) {
	c.spans = append(c.spans, *s)
	c.links = append(c.links, append([]extract.Link(nil), s.Links...))
	c.brk = append(c.brk, append([]extract.BreakerObs(nil), s.Breakers...))
}

func TestExtractConfiguredAttributes(t *testing.T) {
	names := intern.NewTable(0)
	ex := extract.New(extract.Names{Retry: "app.retry", BreakerState: "cb.state", BreakerName: "cb.name", BreakerEvent: "cb.transition"}, names)
	at := time.Unix(100, 0)
	td := toTraces([]genSpan{
		{service: "a", kind: ptrace.SpanKindClient, id: spanID(1, 1), start: at, dur: time.Second,
			attrs: map[string]any{"app.retry": "3", "cb.state": "HALF-OPEN", "server.address": "b.internal", "db.namespace": "x"},
			event: "cb.transition", evAttrs: map[string]any{"cb.state": "open", "cb.name": "b"}},
		{service: "a", kind: ptrace.SpanKindClient, id: spanID(1, 2), start: at,
			attrs: map[string]any{"http.request.resend_count": int64(2), "app.retry": true, "breaker.state": "open"}},
		{service: "c", kind: ptrace.SpanKindConsumer, id: spanID(1, 3), linkTo: [2][]byte{make([]byte, 16), make([]byte, 8)}},
	})
	c := &captured{names: names}
	if n := ex.Traces(td, c); n != 3 {
		t.Fatalf("%d spans", n)
	}
	s := c.spans[0]
	if s.Retries != 3 || names.Name(s.ServerAddress) != "b.internal" || names.Name(s.DBName) != "x" || s.DurationNs() != int64(time.Second) {
		t.Fatalf("span 0 %+v", s)
	}
	if len(c.brk[0]) != 2 || c.brk[0][0].State != breaker.HalfOpen || names.Name(c.brk[0][0].Target) != "x" ||
		c.brk[0][1].State != breaker.Open || names.Name(c.brk[0][1].Target) != "b" {
		t.Fatalf("breakers of span 0: %+v", c.brk[0])
	}
	if c.spans[1].Retries != 2 || len(c.brk[1]) != 0 { // breaker.state is not the configured name here
		t.Fatalf("span 1 %+v %+v", c.spans[1], c.brk[1])
	}
	if len(c.links[2]) != 1 || c.spans[2].Kind != extract.KindConsumer {
		t.Fatalf("span 2 links %+v", c.links[2])
	}
}
