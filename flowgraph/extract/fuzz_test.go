package extract_test

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/flowgraph/pairing"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type storeHandler struct {
	st  *pairing.Store
	now int64
}

func (h *storeHandler) HandleSpan(s *extract.Span) { h.st.Add(s, h.now) }

func seed() []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindProducer, ptrace.SpanKindConsumer} {
		s := ss.AppendEmpty()
		s.SetKind(k)
		s.SetTraceID(pcommon.TraceID{1, 2, 3})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{byte(i)})
		}
		s.SetStartTimestamp(pcommon.Timestamp(1e18))
		s.SetEndTimestamp(pcommon.Timestamp(1e18 + 5e6))
		s.Attributes().PutStr("peer.service", "b")
		s.Attributes().PutStr("messaging.destination.name", "q")
		s.Attributes().PutStr("breaker.state", "open")
		s.Attributes().PutInt("http.request.resend_count", 1)
		s.Links().AppendEmpty().SetSpanID(pcommon.SpanID{3})
		ev := s.Events().AppendEmpty()
		ev.SetName("breaker.state_change")
		ev.Attributes().PutStr("breaker.state", "half_open")
	}
	var m ptrace.ProtoMarshaler
	b, _ := m.MarshalTraces(td)
	return b
}

// FuzzTraces feeds arbitrary OTLP protobuf through extraction and pairing:
// nothing may panic or hang, and the store never exceeds its size.
func FuzzTraces(f *testing.F) {
	f.Add(seed())
	f.Add([]byte{})
	names := intern.NewTable(1000)
	agg := edges.NewAggregator(edges.Config{MaxLatenessNs: int64(time.Hour), MaxFutureNs: int64(time.Hour)}, names)
	h := &storeHandler{st: pairing.New(pairing.Config{Wait: time.Second, MaxItems: 64}, names, agg)}
	ex := extract.New(extract.DefaultNames, names)
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return
		}
		h.now += int64(100 * time.Millisecond)
		agg.SetNow(h.now)
		ex.Traces(td, h)
		h.st.Expire(h.now)
		if h.st.Len() > 64 {
			t.Fatalf("store holds %d", h.st.Len())
		}
		_ = agg.Drain(nil, 1<<62)
	})
}
