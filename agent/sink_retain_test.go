package agent

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"weak"

	"github.com/flowlens/flowlens/agent/otlpin"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// refuseAll fails the test if the sink appends anything.
type refuseAll struct{ t *testing.T }

func (r refuseAll) Append(context.Context, [][]byte, bool, func()) error {
	r.t.Error("a refused request reached the buffer")
	return nil
}

// A request refused as too large is not kept alive by the sink: the
// receiver's memory is the receiver's again once the sink answered (the
// pooled scratch used to keep pointing into it).
func TestRefusedRequestIsNotRetainedBySink(t *testing.T) {
	s := newOTLPSink(refuseAll{t}, 16, false)
	request := func() weak.Pointer[byte] {
		td := ptrace.NewTraces()
		sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, 2, 3})
		sp.SetSpanID(pcommon.SpanID{4})
		sp.SetName("a span larger than the sixteen bytes a message may have")
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeTracesProto(context.Background(), b, 1); !errors.Is(err, otlpin.ErrInvalid) {
			t.Fatalf("consume: %v, want the request refused as too large", err)
		}
		return weak.Make(&b[0])
	}()
	runtime.GC()
	if request.Value() != nil {
		t.Fatal("the sink still holds the refused request's memory after it answered")
	}
}
