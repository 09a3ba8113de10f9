package edges

import "time"

// LatencyBounds are the upper bounds (seconds) of the latency and delay
// histograms, shared by the Prometheus metrics and the rollup rows. An
// implicit +Inf bucket follows. They span 1 ms to 10 s like the service
// graph defaults, with finer steps under 100 ms where most calls live.
var LatencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NumBuckets is len(LatencyBounds) + 1 (+Inf).
const NumBuckets = 14

var boundsNs = func() [NumBuckets - 1]int64 {
	var b [NumBuckets - 1]int64
	for i, s := range LatencyBounds {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// bucketOf returns the index of the bucket that ns falls in (le semantics).
func bucketOf(ns int64) int {
	// a binary search over 13 bounds: 4 comparisons
	lo, hi := 0, len(boundsNs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ns <= boundsNs[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Histogram counts durations per bucket (not cumulative) with their sum.
type Histogram struct {
	Counts [NumBuckets]uint64
	Count  uint64
	SumNs  int64
}

func (h *Histogram) observe(b int, ns int64) {
	h.Counts[b]++
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

// Quantile estimates the q-quantile in seconds by linear interpolation
// inside the bucket (as Prometheus' histogram_quantile does); NaN-free:
// 0 for an empty histogram, the largest bound for the +Inf bucket.
func (h *Histogram) Quantile(q float64) float64 {
	return QuantileOf(h.Counts[:], q)
}

// QuantileOf is Quantile over bucket counts in LatencyBounds order.
func QuantileOf(counts []uint64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		next := cum + float64(c)
		if next >= rank {
			if i >= len(LatencyBounds) {
				return LatencyBounds[len(LatencyBounds)-1]
			}
			lower := 0.0
			if i > 0 {
				lower = LatencyBounds[i-1]
			}
			upper := LatencyBounds[i]
			return lower + (upper-lower)*(rank-cum)/float64(c)
		}
		cum = next
	}
	return LatencyBounds[len(LatencyBounds)-1]
}
