package flowgraph

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/intern"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// rootSpan is one request entering service: an edge from "user".
func rootSpan(service string, traceID byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetKind(ptrace.SpanKindServer)
	s.SetTraceID(pcommon.TraceID{traceID, 1})
	s.SetSpanID(pcommon.SpanID{traceID, 2})
	return td
}

// Spans whose service names are random and 2 MiB long, more of them than
// max_names: the names are cut (and counted), so they pin kilobytes, not
// hundreds of megabytes; once their edges are idle they are removed, and
// services that come later get their own names, not __overflow__.
func TestRandomHugeServiceNamesDoNotPinMemoryNorCrowdOutRealOnes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxNames = 64
	cfg.MaxIdle = time.Minute
	a := NewAnalyzer(cfg)
	now := time.Unix(1_700_000_000, 0)

	tail := strings.Repeat("x", 2<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const attack = 200
	for i := range attack {
		a.ConsumeTraces(0, rootSpan(fmt.Sprintf("%08x-%s", i, tail), byte(i)), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
		t.Errorf("the heap kept %d MiB after %d spans with 2 MiB service names", grew>>20, attack)
	}
	st := a.Stats()
	if st.NamesTruncated < attack {
		t.Errorf("names truncated = %d, want at least %d", st.NamesTruncated, attack)
	}
	for _, e := range a.Edges() {
		if len(e.Server) > cfg.MaxNameBytes {
			t.Fatalf("an edge names a service of %d bytes", len(e.Server))
		}
	}

	// The attack stops. Its edges go idle, their counts are written (the
	// rollup flush drains them), and the sweep removes them and their names.
	a.DrainRollups()
	now = now.Add(cfg.MaxIdle + time.Second)
	a.Tick(now)
	st = a.Stats()
	if st.EvictedEdges == 0 || st.NamesEvicted == 0 {
		t.Errorf("after max_idle: %d edges and %d names evicted, want both > 0", st.EvictedEdges, st.NamesEvicted)
	}

	// Real services are named.
	for i, svc := range []string{"checkout", "payments", "cart"} {
		a.ConsumeTraces(0, rootSpan(svc, byte(250+i)), now)
	}
	got := map[string]bool{}
	for _, e := range a.Edges() {
		got[e.Server] = true
	}
	for _, svc := range []string{"checkout", "payments", "cart"} {
		if !got[svc] {
			t.Errorf("%s is not in the graph after the attack (servers: %v)", svc, got)
		}
	}
	if got[intern.Overflow] {
		t.Errorf("a real service became %s after the attack", intern.Overflow)
	}
}

// While the table is full, the next tick sweeps the names nothing refers
// to (spans already paired into edges of other names), without waiting
// for max_idle: a burst of names on unpaired attributes does not turn
// the next minute of real services into __overflow__.
func TestFullNameTableIsSweptAtTheNextTick(t *testing.T) {
	cfg := testConfig()
	cfg.MaxNames = 32
	a := NewAnalyzer(cfg)
	now := time.Unix(1_700_000_000, 0)
	// Names that end up on no edge: database spans of random db.system
	// values go to an edge named by db.name, which stays the same.
	for i := range 100 {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "api")
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetKind(ptrace.SpanKindClient)
		s.SetTraceID(pcommon.TraceID{byte(i), 1})
		s.SetSpanID(pcommon.SpanID{byte(i), 2})
		s.Attributes().PutStr("db.name", "orders")
		s.Attributes().PutStr("server.address", fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		a.ConsumeTraces(0, td, now)
	}
	if a.Stats().NamesOverflow == 0 {
		t.Fatal("the table never filled up: the test does not test anything")
	}
	now = now.Add(time.Second)
	a.Tick(now)
	a.ConsumeTraces(0, rootSpan("checkout", 200), now)
	for _, e := range a.Edges() {
		if e.Client == "user" && e.Server == "checkout" {
			return
		}
	}
	t.Fatalf("checkout is not in the graph after the sweep: %+v", a.Edges())
}
