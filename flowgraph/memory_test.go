package flowgraph

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/flowgraph/pairing"
)

// A flood of 1M distinct traces whose client spans never find a server:
// the store stays at its configured size, every half pushed out early is
// counted as evicted, and the heap does not grow with the flood.
func TestMemoryBoundUnderDistinctTraceFlood(t *testing.T) {
	cfg := testConfig()
	cfg.Store.MaxItems = 50000
	cfg.Store.Wait = time.Hour // nothing expires: only the size bound holds memory
	a := NewAnalyzer(cfg)

	const perBatch, batches = 1000, 1000
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "flood")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < perBatch; i++ {
		s := spans.AppendEmpty()
		s.SetKind(ptrace.SpanKindClient)
		s.SetSpanID(pcommon.SpanID{1})
		s.SetParentSpanID(pcommon.SpanID{2})
		s.Attributes().PutStr("peer.service", "downstream")
	}
	now := time.Unix(1_700_000_000, 0)
	feed := func(from, to int) {
		for b := from; b < to; b++ {
			for i := 0; i < perBatch; i++ {
				var id pcommon.TraceID
				binary.BigEndian.PutUint64(id[:], uint64(b*perBatch+i)+1)
				spans.At(i).SetTraceID(id)
			}
			a.ConsumeTraces(0, td, now)
		}
	}
	feed(0, 100) // fill the store
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	feed(100, batches)
	runtime.GC()
	runtime.ReadMemStats(&after)

	st := a.Stats()
	// one shard and the messaging store split max_items; client halves fill the shard's half
	shardCap := cfg.Store.MaxItems / 2
	if st.StoreItems != shardCap || st.StoreCapacity != cfg.Store.MaxItems {
		t.Fatalf("store holds %d (capacity %d), want the shard's %d", st.StoreItems, st.StoreCapacity, shardCap)
	}
	if got, want := st.Outcomes[pairing.OutcomeEvicted], uint64(perBatch*batches-shardCap); got != want {
		t.Fatalf("evicted %d, want %d", got, want)
	}
	if st.Outcomes[pairing.OutcomeStored] != perBatch*batches {
		t.Fatalf("stored %d", st.Outcomes[pairing.OutcomeStored])
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 8<<20 {
		t.Fatalf("heap grew by %d MB while 900k more distinct traces flowed through a full store", grew>>20)
	}
	if len(a.Edges()) != 0 {
		t.Fatalf("evicted halves must not become edges: %v", a.Edges())
	}
}
