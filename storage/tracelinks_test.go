package storage

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A producer's trace lists the consumer spans of other traces that link to
// it, so a person can go from the message sent to where it was handled.
func TestTraceListsTheSpansLinkingToIt(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	producerTrace, producerSpan := traceIDOf(7001), spanIDOf(7001, 0)
	td := ptrace.NewTraces()
	add := func(service, name string, kind ptrace.SpanKind, trace pcommon.TraceID, span pcommon.SpanID, start time.Time) ptrace.Span {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(trace)
		sp.SetSpanID(span)
		sp.SetName(name)
		sp.SetKind(kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
		return sp
	}
	add("orders", "orders publish", ptrace.SpanKindProducer, producerTrace, producerSpan, at)
	// two consumers in traces of their own, linked to the producer span
	for i, svc := range []string{"billing", "shipping"} {
		c := add(svc, "orders process", ptrace.SpanKindConsumer, traceIDOf(uint64(7100+i)), spanIDOf(uint64(7100+i), 0), at.Add(time.Duration(i+1)*time.Second))
		l := c.Links().AppendEmpty()
		l.SetTraceID(producerTrace)
		l.SetSpanID(producerSpan)
	}
	// a link inside its own trace is not a link from another trace
	self := add("orders", "orders retry", ptrace.SpanKindInternal, producerTrace, spanIDOf(7001, 1), at.Add(time.Millisecond))
	self.Links().AppendEmpty().SetTraceID(producerTrace)
	var rows SpanRows
	rows.AppendTraces(td, nil)
	if err := s.InsertSpans(ctx, &rows, ""); err != nil {
		t.Fatal(err)
	}

	tr, err := s.GetTrace(ctx, hexTraceID(producerTrace))
	if err != nil {
		t.Fatal(err)
	}
	want := []LinkingSpan{
		{LinkedSpanID: hexSpanID(producerSpan), Timestamp: at.Add(time.Second), TraceID: hexTraceID(traceIDOf(7100)),
			SpanID: hexSpanID(spanIDOf(7100, 0)), ServiceName: "billing", Name: "orders process"},
		{LinkedSpanID: hexSpanID(producerSpan), Timestamp: at.Add(2 * time.Second), TraceID: hexTraceID(traceIDOf(7101)),
			SpanID: hexSpanID(spanIDOf(7101, 0)), ServiceName: "shipping", Name: "orders process"},
	}
	if len(tr.LinkedFrom) != len(want) {
		t.Fatalf("linked from %+v, want %+v", tr.LinkedFrom, want)
	}
	for i := range want {
		got := tr.LinkedFrom[i]
		if !got.Timestamp.Equal(want[i].Timestamp) {
			t.Errorf("linked from [%d] at %v, want %v", i, got.Timestamp, want[i].Timestamp)
		}
		got.Timestamp = want[i].Timestamp
		if got != want[i] {
			t.Errorf("linked from [%d] = %+v, want %+v", i, got, want[i])
		}
	}
	// A consumer's trace is linked from nothing.
	if tr, err := s.GetTrace(ctx, hexTraceID(traceIDOf(7100))); err != nil || len(tr.LinkedFrom) != 0 {
		t.Errorf("consumer trace: linked from %+v, %v", tr.LinkedFrom, err)
	}
}
