package query

import (
	"testing"

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
	d := SpanDepths(spans)
	if d["a"] != 0 || d["b"] != 1 || d["c"] != 2 || d["orphan"] != 0 {
		t.Errorf("depths %v", d)
	}
	if _, ok := d["x"]; !ok {
		t.Error("cycle member without depth")
	}
}
