package storage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestAppendTracesConvertsLikeTheExporter(t *testing.T) {
	td, _, want, _ := fullTrace()
	var r SpanRows
	if n := r.AppendTraces(td, nil); n != 2 || r.Len() != 2 {
		t.Fatalf("appended %d, Len %d", n, r.Len())
	}
	if r.SpanKind[0] != "Server" || r.SpanKind[1] != "Client" || r.StatusCode[0] != "Error" || r.StatusCode[1] != "Unset" {
		t.Errorf("kinds %v statuses %v", r.SpanKind, r.StatusCode)
	}
	if r.TraceID[0] != want[0].TraceID || r.ParentSpanID[0] != "" || r.ParentSpanID[1] != want[0].SpanID {
		t.Errorf("ids %v %v", r.TraceID, r.ParentSpanID)
	}
	if r.Duration[0] != uint64(250*time.Millisecond+7) || !r.Timestamp[0].Equal(want[0].Timestamp) {
		t.Errorf("duration %d timestamp %s", r.Duration[0], r.Timestamp[0])
	}
	if r.ServiceName[0] != "checkout" || r.SpanAttributes[0].Map()["http.status_code"] != "500" {
		t.Errorf("service %q attrs %v", r.ServiceName[0], r.SpanAttributes[0])
	}
	// Every column has one entry per row (the batch would be refused otherwise).
	for i, c := range r.columns() {
		if n := lenOf(c); n != 2 {
			t.Errorf("column %s has %d entries", spanColumns[i], n)
		}
	}
	r.Reset()
	if r.Len() != 0 {
		t.Fatal("Reset kept rows")
	}
	for i, c := range r.columns() {
		if n := lenOf(c); n != 0 {
			t.Errorf("after Reset column %s has %d entries", spanColumns[i], n)
		}
	}
}

func lenOf(c any) int {
	switch v := c.(type) {
	case []time.Time:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []uint8:
		return len(v)
	case []*Attrs:
		return len(v)
	case [][]time.Time:
		return len(v)
	case [][]string:
		return len(v)
	case [][]*Attrs:
		return len(v)
	}
	panic("unknown column type")
}

func TestAppendTracesRejects(t *testing.T) {
	mk := func(f func(sp ptrace.Span)) ptrace.Traces {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceIDOf(1))
		sp.SetSpanID(spanIDOf(1, 1))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(baseTime))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Second)))
		f(sp)
		return td
	}
	big := strings.Repeat("x", 70<<10)
	tests := []struct {
		name string
		td   ptrace.Traces
		want error
	}{
		{"no start time", mk(func(sp ptrace.Span) { sp.SetStartTimestamp(0) }), ErrBadTimestamp},
		{"start in 1970", mk(func(sp ptrace.Span) { sp.SetStartTimestamp(1000) }), ErrBadTimestamp},
		{"start in 2200", mk(func(sp ptrace.Span) {
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)))
		}), ErrBadTimestamp},
		{"huge attribute", mk(func(sp ptrace.Span) { sp.Attributes().PutStr("sql", big) }), ErrAttributeTooLarge},
		{"huge event attribute", mk(func(sp ptrace.Span) { sp.Events().AppendEmpty().Attributes().PutStr("x", big) }), ErrAttributeTooLarge},
		{"huge name", mk(func(sp ptrace.Span) { sp.SetName(big) }), ErrAttributeTooLarge},
	}
	for _, tt := range tests {
		var r SpanRows
		var got []error
		n := r.AppendTraces(tt.td, func(err error) { got = append(got, err) })
		if n != 0 || r.Len() != 0 || len(got) != 1 || !errors.Is(got[0], tt.want) {
			t.Errorf("%s: appended %d, rejects %v, want one %v", tt.name, n, got, tt.want)
		}
	}
	// Fine: end before start (clamped to 0), invalid UTF-8, no service name.
	var r SpanRows
	td := mk(func(sp ptrace.Span) {
		sp.SetEndTimestamp(sp.StartTimestamp() - 5)
		sp.SetName("bad \xff utf8")
	})
	if n := r.AppendTraces(td, func(err error) { t.Errorf("rejected: %v", err) }); n != 1 || r.Duration[0] != 0 {
		t.Errorf("appended %d, duration %v", n, r.Duration)
	}
	// A lower limit applies.
	r = SpanRows{Limits: RowLimits{MaxAttributeBytes: 10}}
	rejected := 0
	r.AppendTraces(mk(func(sp ptrace.Span) { sp.Attributes().PutStr("k", "01234567890") }), func(error) { rejected++ })
	if rejected != 1 {
		t.Errorf("limit 10: %d rejects", rejected)
	}
}

func TestAppendLogsRejectsAndFallsBack(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	ok := recs.AppendEmpty()
	ok.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
	ok.Body().SetStr("fine")
	observed := recs.AppendEmpty()
	observed.SetObservedTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(time.Second)))
	noTime := recs.AppendEmpty()
	noTime.Body().SetStr("no time at all")
	huge := recs.AppendEmpty()
	huge.SetTimestamp(pcommon.NewTimestampFromTime(baseTime))
	huge.Body().SetStr(strings.Repeat("y", 2<<20))
	var r LogRows
	var rejects []error
	if n := r.AppendLogs(ld, func(err error) { rejects = append(rejects, err) }); n != 2 {
		t.Fatalf("appended %d, want 2", n)
	}
	if len(rejects) != 2 || !errors.Is(rejects[0], ErrBadTimestamp) || !errors.Is(rejects[1], ErrAttributeTooLarge) {
		t.Errorf("rejects %v", rejects)
	}
	if !r.Timestamp[1].Equal(baseTime.Add(time.Second)) || r.ServiceName[1] != "api" {
		t.Errorf("observed-time fallback: %v %v", r.Timestamp, r.ServiceName)
	}
	for i, c := range r.columns() {
		if n := lenOf(c); n != 2 {
			t.Errorf("column %s has %d entries", logColumns[i], n)
		}
	}
}
