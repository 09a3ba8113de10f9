package edges

import (
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// The histogram bounds are the flow model's (flowmodel.LatencyBounds for
// server and client latency, flowmodel.DelayBounds for producer->consumer
// delay), so Prometheus buckets and stored rows agree. An implicit +Inf
// bucket follows the last bound.
var (
	LatencyBounds = seconds(flowmodel.LatencyBounds)
	DelayBounds   = seconds(flowmodel.DelayBounds)

	latencyNs = nanos(flowmodel.LatencyBounds)
	delayNs   = nanos(flowmodel.DelayBounds)
)

// MaxBuckets is the capacity of a Histogram's fixed count array.
const MaxBuckets = 24

func init() {
	if len(latencyNs)+1 > MaxBuckets || len(delayNs)+1 > MaxBuckets {
		panic("edges: flowmodel histogram bounds exceed MaxBuckets")
	}
}

func seconds(b []time.Duration) []float64 {
	out := make([]float64, len(b))
	for i, d := range b {
		out[i] = d.Seconds()
	}
	return out
}

func nanos(b []time.Duration) []int64 {
	out := make([]int64, len(b))
	for i, d := range b {
		out[i] = int64(d)
	}
	return out
}

// bucketOf returns the index of the bucket that ns falls in (le semantics).
func bucketOf(bounds []int64, ns int64) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ns <= bounds[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Histogram counts durations per bucket (not cumulative) with their sum.
// Only the first len(bounds)+1 counts are used.
type Histogram struct {
	Counts [MaxBuckets]uint64
	Count  uint64
	SumNs  int64
}

func (h *Histogram) observe(bounds []int64, ns int64) {
	h.Counts[bucketOf(bounds, ns)]++
	h.Count++
	h.SumNs += ns
}

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Count += o.Count
	h.SumNs += o.SumNs
}

// Slice returns the used counts for bounds of length n (n+1 counts).
func (h *Histogram) Slice(n int) []uint64 {
	out := make([]uint64, n+1)
	copy(out, h.Counts[:n+1])
	return out
}
