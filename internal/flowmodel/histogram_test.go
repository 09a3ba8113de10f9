package flowmodel

import (
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	h := NewHistogram(LatencyBounds)
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Error("empty histogram")
	}
	for i := 0; i < 100; i++ {
		h.Observe(3 * time.Millisecond) // bucket (2ms, 4ms]
	}
	if q := h.Quantile(0.5); q != 3*time.Millisecond {
		t.Errorf("p50 = %s, want 3ms (middle of the bucket)", q)
	}
	h.Observe(time.Minute) // overflow bucket
	if q := h.Quantile(1); q != 15*time.Second {
		t.Errorf("p100 = %s, want the highest bound", q)
	}
	if q := h.Quantile(0.99); q > 4*time.Millisecond {
		t.Errorf("p99 = %s", q)
	}
	if BucketIndex(LatencyBounds, 2*time.Millisecond) != 0 || BucketIndex(LatencyBounds, 2*time.Millisecond+1) != 1 ||
		BucketIndex(LatencyBounds, time.Hour) != len(LatencyBounds) {
		t.Error("BucketIndex: bounds are inclusive upper bounds")
	}
	var m Histogram
	m.Merge(h)
	m.Merge(h)
	if m.Count() != 2*h.Count() {
		t.Errorf("merge count %d", m.Count())
	}
}
