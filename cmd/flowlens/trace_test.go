package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/storage"
)

func TestSpanDepthsSurvivesBrokenParents(t *testing.T) {
	spans := []storage.Span{
		{SpanID: "a"},
		{SpanID: "b", ParentSpanID: "a"},
		{SpanID: "c", ParentSpanID: "b"},
		{SpanID: "orphan", ParentSpanID: "missing"},
		{SpanID: "x", ParentSpanID: "y"}, // a cycle
		{SpanID: "y", ParentSpanID: "x"},
		{SpanID: "self", ParentSpanID: "self"},
	}
	d := spanDepths(spans)
	if d["a"] != 0 || d["b"] != 1 || d["c"] != 2 || d["orphan"] != 0 {
		t.Errorf("depths %v", d)
	}
	if _, ok := d["x"]; !ok {
		t.Error("cycle member without depth")
	}
}

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
	if !strings.Contains(out.String(), "only a log⏎second line") || !strings.Contains(out.String(), "ERROR") {
		t.Errorf("waterfall:\n%s", out.String())
	}
}
