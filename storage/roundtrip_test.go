package storage

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fullTrace is one trace with every column set: two spans, events, links,
// nested maps, nanosecond timestamps, and two logs carrying its ID.
func fullTrace() (ptrace.Traces, plog.Logs, []Span, []LogRecord) {
	return fullTraceAt(time.Date(2026, 11, 21, 8, 30, 0, 123456789, time.UTC))
}

// fullTraceAt is fullTrace starting at t0. Tests whose data meets a TTL or a
// window relative to now pass a time relative to now.
func fullTraceAt(t0 time.Time) (ptrace.Traces, plog.Logs, []Span, []LogRecord) {
	tid := traceIDOf(4242)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutInt("pid", 4711)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("scope-a")
	ss.Scope().SetVersion("1.2.3")

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(tid)
	root.SetSpanID(spanIDOf(4242, 0))
	root.TraceState().FromRaw("vendor=x")
	root.SetName("POST /checkout")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(250*time.Millisecond + 7)))
	root.Attributes().PutStr("http.method", "POST")
	root.Attributes().PutInt("http.status_code", 500)
	root.Attributes().PutEmptySlice("tags").AppendEmpty().SetStr("a")
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("card declined")
	ev := root.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(100*time.Millisecond + 1)))
	ev.Attributes().PutStr("exception.type", "CardError")
	ev2 := root.Events().AppendEmpty()
	ev2.SetName("retry")
	ev2.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(101 * time.Millisecond)))
	link := root.Links().AppendEmpty()
	link.SetTraceID(traceIDOf(7))
	link.SetSpanID(spanIDOf(7, 3))
	link.TraceState().FromRaw("k=v")
	link.Attributes().PutStr("messaging.operation", "process")

	child := ss.Spans().AppendEmpty()
	child.SetTraceID(tid)
	child.SetSpanID(spanIDOf(4242, 1))
	child.SetParentSpanID(spanIDOf(4242, 0))
	child.SetName("charge card")
	child.SetKind(ptrace.SpanKindClient)
	child.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(10*time.Millisecond + 3)))
	child.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(90 * time.Millisecond)))

	resAttrs := map[string]string{"service.name": "checkout", "pid": "4711"}
	spans := []Span{{
		Timestamp: t0, TraceID: hexTraceID(tid), SpanID: hexSpanID(spanIDOf(4242, 0)), TraceState: "vendor=x",
		Name: "POST /checkout", Kind: "Server", ServiceName: "checkout", ResourceAttributes: resAttrs,
		ScopeName: "scope-a", ScopeVersion: "1.2.3",
		Attributes: map[string]string{"http.method": "POST", "http.status_code": "500", "tags": `["a"]`},
		Duration:   250*time.Millisecond + 7, StatusCode: "Error", StatusMessage: "card declined",
		Events: []SpanEvent{
			{Timestamp: t0.Add(100*time.Millisecond + 1), Name: "exception", Attributes: map[string]string{"exception.type": "CardError"}},
			{Timestamp: t0.Add(101 * time.Millisecond), Name: "retry", Attributes: map[string]string{}},
		},
		Links: []SpanLink{{TraceID: hexTraceID(traceIDOf(7)), SpanID: hexSpanID(spanIDOf(7, 3)), TraceState: "k=v",
			Attributes: map[string]string{"messaging.operation": "process"}}},
	}, {
		Timestamp: t0.Add(10*time.Millisecond + 3), TraceID: hexTraceID(tid), SpanID: hexSpanID(spanIDOf(4242, 1)),
		ParentSpanID: hexSpanID(spanIDOf(4242, 0)), Name: "charge card", Kind: "Client", ServiceName: "checkout",
		ResourceAttributes: resAttrs, ScopeName: "scope-a", ScopeVersion: "1.2.3", Attributes: map[string]string{},
		Duration: 80*time.Millisecond - 3, StatusCode: "Unset",
	}}

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("https://scope/schema")
	sl.Scope().SetName("logger")
	sl.Scope().SetVersion("2")
	sl.Scope().Attributes().PutStr("lib", "zap")
	l1 := sl.LogRecords().AppendEmpty()
	l1.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(50*time.Millisecond + 9)))
	l1.SetTraceID(tid)
	l1.SetSpanID(spanIDOf(4242, 1))
	l1.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	l1.SetSeverityNumber(plog.SeverityNumberError)
	l1.SetSeverityText("ERROR")
	l1.Body().SetStr("card declined: insufficient funds")
	l1.Attributes().PutStr("card.brand", "visa")
	l1.SetEventName("payment.failed")
	l2 := sl.LogRecords().AppendEmpty() // no time: observed time is used
	l2.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(260 * time.Millisecond)))
	l2.SetTraceID(tid)
	l2.Body().SetEmptyMap().PutStr("msg", "done")

	logs := []LogRecord{{
		Timestamp: t0.Add(50*time.Millisecond + 9), TraceID: hexTraceID(tid), SpanID: hexSpanID(spanIDOf(4242, 1)),
		TraceFlags: 1, SeverityText: "ERROR", SeverityNumber: 17, ServiceName: "checkout",
		Body: "card declined: insufficient funds", ResourceSchemaURL: "https://opentelemetry.io/schemas/1.26.0",
		ResourceAttributes: map[string]string{"service.name": "checkout"}, ScopeSchemaURL: "https://scope/schema",
		ScopeName: "logger", ScopeVersion: "2", ScopeAttributes: map[string]string{"lib": "zap"},
		Attributes: map[string]string{"card.brand": "visa"}, EventName: "payment.failed",
	}, {
		Timestamp: t0.Add(260 * time.Millisecond), TraceID: hexTraceID(tid), ServiceName: "checkout", Body: `{"msg":"done"}`,
		ResourceSchemaURL:  "https://opentelemetry.io/schemas/1.26.0",
		ResourceAttributes: map[string]string{"service.name": "checkout"}, ScopeSchemaURL: "https://scope/schema",
		ScopeName: "logger", ScopeVersion: "2", ScopeAttributes: map[string]string{"lib": "zap"},
		Attributes: map[string]string{},
	}}
	return td, ld, spans, logs
}

func TestRoundTripEveryColumn(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	td, ld, wantSpans, wantLogs := fullTrace()
	var sr SpanRows
	if n := sr.AppendTraces(td, func(err error) { t.Errorf("rejected: %v", err) }); n != 2 {
		t.Fatalf("appended %d spans, want 2", n)
	}
	var lr LogRows
	if n := lr.AppendLogs(ld, func(err error) { t.Errorf("rejected: %v", err) }); n != 2 {
		t.Fatalf("appended %d logs, want 2", n)
	}
	// Noise: other traces and logs around the same time.
	noise := genTraces(1, 20, 5, wantSpans[0].Timestamp.Add(-time.Second), 100*time.Millisecond)
	sr.AppendTraces(noise, nil)
	lr.AppendLogs(genLogs(1, 20, wantSpans[0].Timestamp.Add(-time.Second), 100*time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}

	got, err := s.GetTrace(ctx, wantSpans[0].TraceID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spans, wantSpans) {
		t.Errorf("spans differ\n got %+v\nwant %+v", got.Spans, wantSpans)
	}
	if !reflect.DeepEqual(got.Logs, wantLogs) {
		t.Errorf("logs differ\n got %+v\nwant %+v", got.Logs, wantLogs)
	}

	// The index path alone finds the trace (GetTrace falls back to the bloom
	// filter, which would hide a broken index).
	if sp, err := s.traceSpansIndexed(ctx, wantSpans[0].TraceID); err != nil || len(sp) != 2 {
		t.Errorf("indexed lookup: %d spans, %v", len(sp), err)
	}
	// Upper-case and 0x-prefixed IDs find the same trace.
	got2, err := s.GetTrace(ctx, "0X"+upper(wantSpans[0].TraceID))
	if err != nil || len(got2.Spans) != 2 {
		t.Errorf("upper-case lookup: %d spans, %v", len(got2.Spans), err)
	}
	// A trace known only from its logs (no span stored) is found too.
	// genLogs wrote one record for each of the noise traces 1..20, whose
	// spans exist; trace 5000 has a log only.
	var only LogRows
	only.AppendLogs(genLogs(5000, 1, wantSpans[0].Timestamp, time.Second), nil)
	if err := s.InsertLogs(ctx, &only, ""); err != nil {
		t.Fatal(err)
	}
	if tr, err := s.GetTrace(ctx, hexTraceID(traceIDOf(5000))); err != nil || len(tr.Spans) != 0 || len(tr.Logs) != 1 {
		t.Errorf("logs-only trace: %d spans %d logs, %v", len(tr.Spans), len(tr.Logs), err)
	}
	// An unknown trace is ErrTraceNotFound; a malformed ID ErrInvalidTraceID.
	if _, err := s.GetTrace(ctx, hexTraceID(traceIDOf(999999))); !errors.Is(err, ErrTraceNotFound) {
		t.Errorf("unknown trace: %v, want ErrTraceNotFound", err)
	}
	if _, err := s.GetTrace(ctx, "' OR 1=1 --"); !errors.Is(err, ErrInvalidTraceID) {
		t.Errorf("hostile trace ID: %v, want ErrInvalidTraceID", err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
