package storage

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// searchFixture stores a small, fully known set of spans and logs.
//
//	spans (service, name, duration ms, status, attrs), one trace each, at t0+i s
//	logs  (service, severity number/text, body, trace), at t0+i s
type fixSpan struct {
	svc, name string
	ms        int
	status    ptrace.StatusCode
	attrs     map[string]string
}

type fixLog struct {
	svc     string
	sevNum  plog.SeverityNumber
	sevText string
	body    string
	trace   uint64
}

var (
	fixT0    = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fixSpans = []fixSpan{
		{"frontend", "GET /", 5, ptrace.StatusCodeOk, map[string]string{"http.route": "/", "region": "eu"}},
		{"frontend", "GET /cart", 120, ptrace.StatusCodeError, map[string]string{"http.route": "/cart", "region": "us"}},
		{"checkout", "POST /checkout", 300, ptrace.StatusCodeError, map[string]string{"region": "eu", "user": "' OR 1=1 --"}},
		{"checkout", "GET /", 50, ptrace.StatusCodeUnset, map[string]string{"region": "eu"}},
		{"payment", "charge", 900, ptrace.StatusCodeOk, map[string]string{"region": "us", "empty": ""}},
		{"sérvice-ünïcode", "GET /", 1, ptrace.StatusCodeOk, nil},
	}
	fixLogs = []fixLog{
		{"frontend", plog.SeverityNumberInfo, "INFO", "request served", 1},
		{"frontend", plog.SeverityNumberWarn, "WARN", "slow request to Cart", 2},
		{"checkout", plog.SeverityNumberError, "ERROR", "payment failed: TIMEOUT", 3},
		{"checkout", 0, "error", "text-only severity timeout", 0},
		{"checkout", 0, "CRITICAL", "text-only critical", 0}, // fatal, as the agent reads it
		{"payment", plog.SeverityNumberFatal, "FATAL", "out of memory", 5},
		{"payment", plog.SeverityNumberDebug, "DEBUG", `back\slash {x:String} 100%`, 5},
	}
)

func storeFixture(t *testing.T, s *Store) {
	t.Helper()
	td := ptrace.NewTraces()
	for i, f := range fixSpans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", f.svc)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceIDOf(uint64(i + 1)))
		sp.SetSpanID(spanIDOf(uint64(i+1), 0))
		sp.SetName(f.name)
		st := fixT0.Add(time.Duration(i) * time.Second)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(st.Add(time.Duration(f.ms) * time.Millisecond)))
		sp.Status().SetCode(f.status)
		for k, v := range f.attrs {
			sp.Attributes().PutStr(k, v)
		}
	}
	ld := plog.NewLogs()
	for i, f := range fixLogs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", f.svc)
		r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(fixT0.Add(time.Duration(i) * time.Second)))
		r.SetSeverityNumber(f.sevNum)
		r.SetSeverityText(f.sevText)
		r.Body().SetStr(f.body)
		if f.trace != 0 {
			r.SetTraceID(traceIDOf(f.trace))
		}
	}
	var sr SpanRows
	sr.AppendTraces(td, func(err error) { t.Fatal(err) })
	var lr LogRows
	lr.AppendLogs(ld, func(err error) { t.Fatal(err) })
	ctx := testCtx(t)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}
}

func spanNames(spans []Span) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.ServiceName+" "+sp.Name)
	}
	sort.Strings(out)
	return out
}

func logBodies(logs []LogRecord) []string {
	var out []string
	for _, l := range logs {
		out = append(out, l.Body)
	}
	sort.Strings(out)
	return out
}

func TestSearchSpans(t *testing.T) {
	s := newStore(t)
	storeFixture(t, s)
	ctx := testCtx(t)
	window := SpanQuery{From: fixT0.Add(-time.Minute), To: fixT0.Add(time.Minute)}
	with := func(f func(q *SpanQuery)) SpanQuery { q := window; f(&q); return q }
	tests := []struct {
		name    string
		q       SpanQuery
		want    []string
		wantErr error
	}{
		{"all", window, []string{"checkout GET /", "checkout POST /checkout", "frontend GET /", "frontend GET /cart", "payment charge", "sérvice-ünïcode GET /"}, nil},
		{"service", with(func(q *SpanQuery) { q.Service = "checkout" }), []string{"checkout GET /", "checkout POST /checkout"}, nil},
		{"unicode service", with(func(q *SpanQuery) { q.Service = "sérvice-ünïcode" }), []string{"sérvice-ünïcode GET /"}, nil},
		{"operation", with(func(q *SpanQuery) { q.Operation = "GET /" }), []string{"checkout GET /", "frontend GET /", "sérvice-ünïcode GET /"}, nil},
		{"min duration", with(func(q *SpanQuery) { q.MinDuration = 120 * time.Millisecond }), []string{"checkout POST /checkout", "frontend GET /cart", "payment charge"}, nil},
		{"status error", with(func(q *SpanQuery) { q.Status = "error" }), []string{"checkout POST /checkout", "frontend GET /cart"}, nil},
		{"status unset", with(func(q *SpanQuery) { q.Status = "UNSET" }), []string{"checkout GET /"}, nil},
		{"attribute", with(func(q *SpanQuery) { q.Attributes = map[string]string{"region": "eu"} }), []string{"checkout GET /", "checkout POST /checkout", "frontend GET /"}, nil},
		{"two attributes", with(func(q *SpanQuery) { q.Attributes = map[string]string{"region": "us", "http.route": "/cart"} }), []string{"frontend GET /cart"}, nil},
		{"empty attribute value", with(func(q *SpanQuery) { q.Attributes = map[string]string{"empty": ""} }), []string{"payment charge"}, nil},
		{"attribute value that looks like SQL", with(func(q *SpanQuery) { q.Attributes = map[string]string{"user": "' OR 1=1 --"} }), []string{"checkout POST /checkout"}, nil},
		{"combined", with(func(q *SpanQuery) { q.Service = "frontend"; q.Status = "error"; q.MinDuration = time.Millisecond }), []string{"frontend GET /cart"}, nil},
		{"time range", with(func(q *SpanQuery) { q.From = fixT0.Add(4 * time.Second) }), []string{"payment charge", "sérvice-ünïcode GET /"}, nil},
		{"limit", with(func(q *SpanQuery) { q.Limit = 1 }), []string{"sérvice-ünïcode GET /"}, nil},
		{"bad status", with(func(q *SpanQuery) { q.Status = "' OR 1=1 --" }), nil, ErrInvalidQuery},
		{"bad limit", with(func(q *SpanQuery) { q.Limit = -1 }), nil, ErrInvalidQuery},
		{"empty range", with(func(q *SpanQuery) { q.To = q.From }), nil, ErrInvalidQuery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.SearchSpans(ctx, tt.q)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := spanNames(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("got %q\nwant %q", g, tt.want)
			}
		})
	}
}

func TestSearchLogs(t *testing.T) {
	s := newStore(t)
	storeFixture(t, s)
	ctx := testCtx(t)
	window := LogQuery{From: fixT0.Add(-time.Minute), To: fixT0.Add(time.Minute)}
	with := func(f func(q *LogQuery)) LogQuery { q := window; f(&q); return q }
	tests := []struct {
		name    string
		q       LogQuery
		want    []string
		wantErr error
	}{
		{"service", with(func(q *LogQuery) { q.Service = "payment" }), []string{"back\\slash {x:String} 100%", "out of memory"}, nil},
		{"severity error and above", with(func(q *LogQuery) { q.Severity = "error" }), []string{"out of memory", "payment failed: TIMEOUT", "text-only critical", "text-only severity timeout"}, nil},
		{"severity warn", with(func(q *LogQuery) { q.Severity = "WARNING" }), []string{"out of memory", "payment failed: TIMEOUT", "slow request to Cart", "text-only critical", "text-only severity timeout"}, nil},
		{"severity fatal finds a text that says critical", with(func(q *LogQuery) { q.Severity = "fatal" }), []string{"out of memory", "text-only critical"}, nil},
		{"contains, any case", with(func(q *LogQuery) { q.Contains = "timeout" }), []string{"payment failed: TIMEOUT", "text-only severity timeout"}, nil},
		{"contains special characters", with(func(q *LogQuery) { q.Contains = `\slash {x:String} 100%` }), []string{"back\\slash {x:String} 100%"}, nil},
		{"contains a percent alone", with(func(q *LogQuery) { q.Contains = "%" }), []string{"back\\slash {x:String} 100%"}, nil},
		{"trace", with(func(q *LogQuery) { q.TraceID = hexTraceID(traceIDOf(5)) }), []string{"back\\slash {x:String} 100%", "out of memory"}, nil},
		{"trace and severity", with(func(q *LogQuery) { q.TraceID = hexTraceID(traceIDOf(5)); q.Severity = "info" }), []string{"out of memory"}, nil},
		{"bad severity", with(func(q *LogQuery) { q.Severity = "loud" }), nil, ErrInvalidQuery},
		{"bad trace id", with(func(q *LogQuery) { q.TraceID = "' OR 1=1 --" }), nil, ErrInvalidQuery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.SearchLogs(ctx, tt.q)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := logBodies(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("got %q\nwant %q", g, tt.want)
			}
		})
	}
}

// hostile values are data: every filter that takes text returns no rows (no
// stored value matches them) and no error, or a validation error.
var hostile = []string{
	"' OR 1=1 --", `\' OR 1=1 --`, `\`, `\\`, "{x:String}", "{service:String}", "a\x00b", "\x00",
	"'; DROP TABLE otel_traces; --", "\" OR \"\"=\"", "`", "ünïcode ☃ \U0001F600", "%", "_", "\t\n\r",
	"') OR ('1'='1", "1) OR (1=1", "$1", "?", "@service", "\xff\xfe invalid utf8",
}

func TestInjectionIsData(t *testing.T) {
	s := newStore(t)
	storeFixture(t, s)
	ctx := testCtx(t)
	from, to := fixT0.Add(-time.Minute), fixT0.Add(time.Minute)
	for _, h := range hostile {
		checks := map[string]func() (int, error){
			"spans service": func() (int, error) {
				r, err := s.SearchSpans(ctx, SpanQuery{Service: h, From: from, To: to})
				return len(r), err
			},
			"spans operation": func() (int, error) {
				r, err := s.SearchSpans(ctx, SpanQuery{Operation: h, From: from, To: to})
				return len(r), err
			},
			"spans status": func() (int, error) {
				r, err := s.SearchSpans(ctx, SpanQuery{Status: h, From: from, To: to})
				return len(r), err
			},
			"spans attr key": func() (int, error) {
				r, err := s.SearchSpans(ctx, SpanQuery{Attributes: map[string]string{h: "eu"}, From: from, To: to})
				return len(r), err
			},
			"spans attr value": func() (int, error) {
				r, err := s.SearchSpans(ctx, SpanQuery{Attributes: map[string]string{"region": h}, From: from, To: to})
				return len(r), err
			},
			"logs service": func() (int, error) {
				r, err := s.SearchLogs(ctx, LogQuery{Service: h, From: from, To: to})
				return len(r), err
			},
			"logs severity": func() (int, error) {
				r, err := s.SearchLogs(ctx, LogQuery{Severity: h, From: from, To: to})
				return len(r), err
			},
			"logs trace": func() (int, error) {
				r, err := s.SearchLogs(ctx, LogQuery{TraceID: h, From: from, To: to})
				return len(r), err
			},
			"trace": func() (int, error) { tr, err := s.GetTrace(ctx, h); return len(tr.Spans) + len(tr.Logs), err },
		}
		for name, check := range checks {
			n, err := check()
			if err != nil && !errors.Is(err, ErrInvalidQuery) && !errors.Is(err, ErrInvalidTraceID) {
				t.Errorf("%s %q: unexpected error %v", name, h, err)
			}
			if n != 0 {
				t.Errorf("%s %q: %d rows, want none", name, h, n)
			}
		}
		// contains matches only bodies that really contain the text.
		r, err := s.SearchLogs(ctx, LogQuery{Contains: h, From: from, To: to})
		if err != nil {
			t.Errorf("logs contains %q: %v", h, err)
		}
		for _, l := range r {
			if !containsFold(l.Body, h) {
				t.Errorf("logs contains %q: returned %q", h, l.Body)
			}
		}
	}
	// The tables are intact.
	all, err := s.SearchSpans(ctx, SpanQuery{From: from, To: to})
	if err != nil || len(all) != len(fixSpans) {
		t.Fatalf("after injection attempts: %d spans, %v", len(all), err)
	}
}

func containsFold(s, sub string) bool {
	return len(sub) == 0 || indexFold(s, sub) >= 0
}

func indexFold(s, sub string) int {
	ls, lsub := []rune(s), []rune(sub)
	for i := 0; i+len(lsub) <= len(ls); i++ {
		ok := true
		for j := range lsub {
			if toLower(ls[i+j]) != toLower(lsub[j]) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

func toLower(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 32
	}
	return r
}
