package pairing

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

type recorder struct {
	names *intern.Table
	got   []edges.Observation
}

func (r *recorder) Observe(o *edges.Observation) { r.got = append(r.got, *o) }

func (r *recorder) edges() map[string]int {
	m := map[string]int{}
	for _, o := range r.got {
		m[r.names.Name(o.Client)+">"+r.names.Name(o.Server)+"|"+o.Conn.String()]++
	}
	return m
}

func newTestStore(t *testing.T, max int) (*Store, *recorder, *intern.Table) {
	t.Helper()
	names := intern.NewTable(0)
	r := &recorder{names: names}
	return New(Config{Wait: time.Second, MaxItems: max}, names, r), r, names
}

func tid(n byte) extract.TraceID { return extract.TraceID{n, 1, 2, 3} }
func sid(n byte) extract.SpanID  { return extract.SpanID{n, 9} }

func TestPairsInEitherOrder(t *testing.T) {
	for _, serverFirst := range []bool{false, true} {
		st, r, names := newTestStore(t, 100)
		c := extract.Span{TraceID: tid(1), SpanID: sid(1), ParentID: sid(9), Kind: extract.KindClient, Service: names.ID("a"), StartNs: 100, EndNs: 400}
		s := extract.Span{TraceID: tid(1), SpanID: sid(2), ParentID: sid(1), Kind: extract.KindServer, Service: names.ID("b"), StartNs: 150, EndNs: 350, Error: true}
		if serverFirst {
			st.Add(&s, 0)
			st.Add(&c, 0)
		} else {
			st.Add(&c, 0)
			st.Add(&s, 0)
		}
		st.Add(&s, 0) // duplicate
		st.Add(&c, 0) // duplicate
		st.Expire(int64(2 * time.Second))
		if len(r.got) != 1 {
			t.Fatalf("serverFirst=%v: %d observations, want 1: %+v", serverFirst, len(r.got), r.got)
		}
		o := r.got[0]
		if names.Name(o.Client) != "a" || names.Name(o.Server) != "b" || !o.Failed || o.ClientNs != 300 || o.ServerNs != 200 || o.Conn != flowmodel.ConnUnset {
			t.Fatalf("observation %+v", o)
		}
		if got := st.Stats().Outcomes; got[OutcomeDuplicate] != 2 || got[OutcomePaired] != 1 || got[OutcomeExpired] != 0 {
			t.Fatalf("outcomes %v", got)
		}
	}
}

func TestVirtualNodesAndRoots(t *testing.T) {
	st, r, names := newTestStore(t, 100)
	spans := []extract.Span{
		// root server: client "user"
		{TraceID: tid(1), SpanID: sid(1), Kind: extract.KindServer, Service: names.ID("gw")},
		// client to an uninstrumented peer
		{TraceID: tid(1), SpanID: sid(2), ParentID: sid(1), Kind: extract.KindClient, Service: names.ID("gw"), ServerAddress: names.ID("api.stripe.com")},
		// client with no peer attribute at all
		{TraceID: tid(1), SpanID: sid(3), ParentID: sid(1), Kind: extract.KindClient, Service: names.ID("gw")},
		// database call: direct edge
		{TraceID: tid(1), SpanID: sid(4), ParentID: sid(1), Kind: extract.KindClient, Service: names.ID("gw"), DBSystem: names.ID("postgresql"), DBName: names.ID("orders")},
		// producer nobody consumes
		{TraceID: tid(1), SpanID: sid(5), ParentID: sid(1), Kind: extract.KindProducer, Service: names.ID("gw"), Destination: names.ID("audit")},
		// server whose client never came
		{TraceID: tid(2), SpanID: sid(6), ParentID: sid(7), Kind: extract.KindServer, Service: names.ID("b")},
		// internal: ignored
		{TraceID: tid(2), SpanID: sid(8), ParentID: sid(6), Kind: extract.KindInternal, Service: names.ID("b")},
	}
	for i := range spans {
		st.Add(&spans[i], 0)
	}
	if got := len(r.got); got != 2 {
		t.Fatalf("before expiry: %d observations, want 2 (root, database)", got)
	}
	st.Expire(int64(time.Second))
	want := map[string]int{
		"user>gw|":                       1,
		"gw>api.stripe.com|virtual_node": 1,
		"gw>unknown|virtual_node":        1,
		"gw>orders|database":             1,
		"gw>audit|virtual_node":          1,
		"unknown>b|virtual_node":         1,
	}
	got := r.edges()
	if len(got) != len(want) {
		t.Fatalf("edges %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("edge %s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	for _, o := range r.got {
		if names.Name(o.Server) == "audit" && (o.Sent != 1 || o.Received != 0 || !o.Unpaired) {
			t.Fatalf("lost message observation %+v", o)
		}
	}
	if out := st.Stats().Outcomes; out[OutcomeExpired] != 4 || out[OutcomeIgnored] != 1 || out[OutcomeRoot] != 1 || out[OutcomeDatabase] != 1 {
		t.Fatalf("outcomes %v", out)
	}
}

func TestMessagingByLinksAndFanOut(t *testing.T) {
	st, r, names := newTestStore(t, 100)
	prod := extract.Span{TraceID: tid(1), SpanID: sid(1), ParentID: sid(9), Kind: extract.KindProducer, Service: names.ID("checkout"), Destination: names.ID("orders"), StartNs: 1000, EndNs: 1100}
	link := []extract.Link{{TraceID: tid(1), SpanID: sid(1)}}
	// two consumer groups; both arrive before the producer, in their own traces
	c1 := extract.Span{TraceID: tid(2), SpanID: sid(2), Kind: extract.KindConsumer, Service: names.ID("fulfil"), Destination: names.ID("orders"), StartNs: 5000, EndNs: 6000, Links: link}
	c2 := extract.Span{TraceID: tid(3), SpanID: sid(3), Kind: extract.KindConsumer, Service: names.ID("email"), Destination: names.ID("orders"), StartNs: 900, EndNs: 950, Links: link} // skewed clock: before the producer
	st.Add(&c1, 0)
	st.Add(&c2, 0)
	st.Add(&prod, 0)
	st.Add(&c1, 0) // duplicate
	st.Expire(int64(time.Second))
	if len(r.got) != 2 {
		t.Fatalf("%d observations: %+v", len(r.got), r.got)
	}
	var sent, recv int
	for _, o := range r.got {
		if o.Conn != flowmodel.ConnMessaging || names.Name(o.Destination) != "orders" || names.Name(o.Client) != "checkout" {
			t.Fatalf("observation %+v", o)
		}
		sent += int(o.Sent)
		recv += int(o.Received)
		switch names.Name(o.Server) {
		case "fulfil":
			if o.DelayNs != 4000 {
				t.Fatalf("delay %d, want 4000", o.DelayNs)
			}
		case "email":
			if o.DelayNs != 0 {
				t.Fatalf("skewed delay %d, want clamped 0", o.DelayNs)
			}
		}
	}
	if sent != 1 || recv != 2 {
		t.Fatalf("sent %d received %d, want 1 and 2", sent, recv)
	}
}

func TestMemoryBoundUnderFlood(t *testing.T) {
	const max = 10000
	st, r, names := newTestStore(t, max)
	svc := names.ID("flood")
	for i := 0; i < 1_000_000; i++ {
		s := extract.Span{Kind: extract.KindClient, Service: svc}
		s.TraceID[0], s.TraceID[1], s.TraceID[2] = byte(i), byte(i>>8), byte(i>>16)
		s.SpanID[0] = 1
		st.Add(&s, 0)
		if st.Len() > max {
			t.Fatalf("store holds %d > %d", st.Len(), max)
		}
	}
	stats := st.Stats()
	if stats.Outcomes[OutcomeEvicted] != 1_000_000-max || stats.Items != max {
		t.Fatalf("stats %+v", stats)
	}
	if len(r.got) != 0 {
		t.Fatalf("evicted halves must not invent edges, got %d", len(r.got))
	}
	st.Expire(int64(time.Hour))
	if st.Stats().Outcomes[OutcomeExpired] != max || st.Len() != 0 {
		t.Fatalf("after expiry %+v", st.Stats())
	}
}
