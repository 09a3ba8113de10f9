package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/storage"
)

func TestBarStaysInsideTheAxis(t *testing.T) {
	for _, c := range []struct{ off, dur, total time.Duration }{
		{0, 0, 0}, {0, time.Second, time.Second}, {time.Second, 0, time.Second}, {2 * time.Second, time.Second, time.Second},
		{0, time.Nanosecond, time.Hour}, {-time.Second, time.Second, time.Second},
	} {
		b := bar(c.off, c.dur, c.total, 20)
		if n := len([]rune(b)); n != 20 || !strings.Contains(b, "█") {
			t.Errorf("bar(%v) = %q (%d runes)", c, b, n)
		}
	}
}

func TestWaterfallWithoutSpans(t *testing.T) {
	var out bytes.Buffer
	tr := storage.Trace{TraceID: "t", Logs: []storage.LogRecord{{Timestamp: time.Unix(1, 0), Body: "only a log\nsecond line", SeverityNumber: 17}}}
	if err := renderWaterfall(&out, tr, 20); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "only a log⏎second line") || !strings.Contains(out.String(), "ERROR") ||
		!strings.Contains(out.String(), "0 spans, 0 services, 1 log,") {
		t.Errorf("waterfall:\n%s", out.String())
	}
}

// messageFiles writes a producer's trace, its consumer's trace (linked to
// the producer span, as the messaging conventions have it) and a log of the
// producer, all a minute old, as OTLP JSON files for flowlens load.
func messageFiles(t *testing.T) (traces, logs string, producerTrace, producerSpan, consumerTrace string) {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	pt, ps := pcommon.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}, pcommon.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}
	ct, cs := pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}, pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	td := ptrace.NewTraces()
	add := func(service, name string, kind ptrace.SpanKind, trace pcommon.TraceID, id pcommon.SpanID, start time.Time) ptrace.Span {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetName(name)
		s.SetKind(kind)
		s.SetTraceID(trace)
		s.SetSpanID(id)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(3 * time.Millisecond)))
		return s
	}
	add("checkout", "orders publish", ptrace.SpanKindProducer, pt, ps, at)
	l := add("fulfilment", "orders process", ptrace.SpanKindConsumer, ct, cs, at.Add(40*time.Millisecond)).Links().AppendEmpty()
	l.SetTraceID(pt)
	l.SetSpanID(ps)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Millisecond)))
	r.SetSeverityNumber(plog.SeverityNumberInfo)
	r.Body().SetStr("order 1234 published")
	r.SetTraceID(pt)
	r.SetSpanID(ps)

	dir := t.TempDir()
	traces, logs = filepath.Join(dir, "traces.json"), filepath.Join(dir, "logs.json")
	tb, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(traces, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logs, lb, 0o644); err != nil {
		t.Fatal(err)
	}
	return traces, logs, pt.String(), ps.String(), ct.String()
}

// The trace ID flowlens logs prints is one flowlens trace takes.
func TestLogsPrintTraceIDsThatTraceOpens(t *testing.T) {
	c := newStorageCLI(t)
	traces, logs, producerTrace, _, _ := messageFiles(t)
	c.mustRun("load", traces, logs)
	out := c.mustRun("logs", "--since", "10m")
	var id string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, "order 1234 published") {
			id = strings.Fields(l)[3] // TIME SEV SERVICE TRACE-ID BODY
		}
	}
	if id != producerTrace {
		t.Fatalf("logs shows trace ID %q, want %s:\n%s", id, producerTrace, out)
	}
	if tr, _, err := c.run("trace", id); err != nil || !strings.Contains(tr, "orders publish") {
		t.Fatalf("flowlens trace %s: %v\n%s", id, err, tr)
	}
}

// The waterfall shows each span's links, whole, so the consumer's trace
// leads to its producer's; -o json has them too.
func TestWaterfallShowsSpanLinks(t *testing.T) {
	c := newStorageCLI(t)
	traces, logs, producerTrace, producerSpan, consumerTrace := messageFiles(t)
	c.mustRun("load", traces, logs)
	out := c.mustRun("trace", consumerTrace)
	lines := strings.Split(out, "\n")
	link := -1
	for i, l := range lines {
		if strings.Contains(l, "→ link: trace "+producerTrace+" span "+producerSpan) {
			link = i
		}
	}
	if link < 1 || !strings.Contains(lines[link-1], "orders process") {
		t.Fatalf("no link to the producer under the consumer span:\n%s", out)
	}
	// and back: the producer's trace leads to its consumer
	out = c.mustRun("trace", producerTrace)
	lines = strings.Split(out, "\n")
	back := -1
	for i, l := range lines {
		if strings.Contains(l, "← linked from: trace "+consumerTrace+" span ") && strings.Contains(l, "orders process") {
			back = i
		}
	}
	if back < 1 || !strings.Contains(lines[back-1], "orders publish") {
		t.Fatalf("no link from the consumer under the producer span:\n%s", out)
	}
	var tr storage.Trace
	if err := json.Unmarshal([]byte(c.mustRun("trace", consumerTrace, "-o", "json")), &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Spans) != 1 || len(tr.Spans[0].Links) != 1 || tr.Spans[0].Links[0].TraceID != producerTrace || tr.Spans[0].Links[0].SpanID != producerSpan {
		t.Fatalf("trace -o json: spans %+v, want the consumer span linked to %s/%s", tr.Spans, producerTrace, producerSpan)
	}
}

// With a console known, the waterfall ends with the trace's page in it,
// which the console serves (console/browser_test.go opens such pages).
func TestTracePrintsItsConsoleURL(t *testing.T) {
	c := newStorageCLI(t)
	traces, logs, _, _, consumerTrace := messageFiles(t)
	c.mustRun("load", traces, logs)
	out := c.mustRun("trace", consumerTrace, "--console-url", "http://127.0.0.1:9400/")
	if want := "\nconsole: http://127.0.0.1:9400/traces/" + consumerTrace + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("the waterfall does not end with %q:\n%s", want, out)
	}
	t.Setenv(consoleEnv, "http://console.internal:9400")
	if out := c.mustRun("trace", consumerTrace); !strings.Contains(out, "console: http://console.internal:9400/traces/"+consumerTrace) {
		t.Errorf("$%s is not followed:\n%s", consoleEnv, out)
	}
	if out := c.mustRun("trace", consumerTrace, "-o", "json"); strings.Contains(out, "console:") {
		t.Errorf("json output with a console line:\n%s", out)
	}
}
