package flowgraph

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
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

// A client call without a server side (refused by its circuit breaker,
// or to something uninstrumented) is an edge to a virtual node named by
// whatever the span says about its peer, never "unknown" when it says
// anything: both extraction paths, pdata and protobuf.
func TestUnpairedClientIsNamedByItsHints(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]any
		want  string
	}{
		// the breaker refused the call: no server span, no peer.service
		{map[string]any{"breaker.name": "hx-stock", "breaker.state": "open", "http.response.status_code": int64(503)}, "hx-stock"},
		{map[string]any{"breaker.name": "hx-stock", "server.address": "10.0.0.7"}, "hx-stock"},
		{map[string]any{"peer.service": "stock", "breaker.name": "hx-stock"}, "stock"},
		{map[string]any{"server.address": "stock.internal"}, "stock.internal"},
		{map[string]any{"net.peer.name": "stock.internal"}, "stock.internal"},
		{map[string]any{"url.full": "https://user:pw@api.stripe.com:443/v1/charges?x=1"}, "api.stripe.com"},
		{map[string]any{"http.url": "http://[2001:db8::1]:8080/stock"}, "2001:db8::1"},
		{map[string]any{"url.full": "/relative/only"}, "unknown"},
		{map[string]any{"rpc.service": "shop.StockService", "rpc.system": "grpc"}, "shop.StockService"},
		{map[string]any{"http.request.method": "GET"}, "unknown"},
	} {
		for _, path := range []string{"pdata", "protobuf"} {
			a := NewAnalyzer(testConfig())
			at := time.Now()
			td := toTraces([]genSpan{{service: "hx-cart", kind: ptrace.SpanKindClient, trace: traceID(1, 1), id: spanID(1, 1),
				parent: spanID(1, 0), start: at, dur: time.Millisecond, err: true, attrs: tc.attrs}})
			if path == "pdata" {
				a.ConsumeTraces(0, td, at)
			} else {
				b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.ConsumeProtobuf(0, b, at); err != nil {
					t.Fatal(err)
				}
			}
			a.Tick(at.Add(testConfig().Store.Wait + time.Second)) // the wait is over: no server side came
			var got []string
			for _, e := range a.Edges() {
				got = append(got, fmt.Sprintf("%s -> %s (%s, %d failed)", e.Client, e.Server, e.Conn, e.Failed))
			}
			if want := fmt.Sprintf("hx-cart -> %s (virtual_node, 1 failed)", tc.want); len(got) != 1 || got[0] != want {
				t.Errorf("%s %v: edges %q, want %q", path, tc.attrs, got, want)
			}
		}
	}
}
