package flowmodel

import (
	"sort"
	"time"
)

// Histogram is a fixed-bucket histogram: Counts[i] counts observations
// <= Bounds[i] (and > Bounds[i-1]); the last count is above every bound.
type Histogram struct {
	Bounds []time.Duration `json:"-"`
	Counts []uint64        `json:"counts"`
	// Sum of the observations in seconds.
	Sum float64 `json:"sum_seconds"`
}

// NewHistogram returns an empty histogram over bounds.
func NewHistogram(bounds []time.Duration) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

// BucketIndex is the index of the bucket d falls in.
func BucketIndex(bounds []time.Duration, d time.Duration) int {
	return sort.Search(len(bounds), func(i int) bool { return d <= bounds[i] })
}

// Observe adds one observation.
func (h *Histogram) Observe(d time.Duration) {
	if len(h.Counts) != len(h.Bounds)+1 {
		h.Counts = make([]uint64, len(h.Bounds)+1)
	}
	h.Counts[BucketIndex(h.Bounds, d)]++
	h.Sum += d.Seconds()
}

// Merge adds o's counts (same bounds) into h.
func (h *Histogram) Merge(o Histogram) {
	if len(h.Counts) < len(o.Counts) {
		h.Counts = append(h.Counts, make([]uint64, len(o.Counts)-len(h.Counts))...)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Sum += o.Sum
}

// Count is the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Mean is the average observation, 0 when empty.
func (h Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.Sum / float64(n) * float64(time.Second))
}

// Quantile estimates the q-quantile (0 <= q <= 1) like Prometheus'
// histogram_quantile: linear interpolation inside the bucket, the first
// bucket starting at 0, and the highest finite bound for the overflow bucket.
// It returns 0 for an empty histogram.
func (h Histogram) Quantile(q float64) time.Duration {
	return Quantile(h.Bounds, h.Counts, q)
}

// Quantile estimates the q-quantile from bucket counts over bounds
// (len(counts) == len(bounds)+1); see Histogram.Quantile.
func Quantile(bounds []time.Duration, counts []uint64, q float64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	if q < 0 {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := q * float64(total)
	var cum uint64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if float64(cum+c) >= rank {
			if i >= len(bounds) {
				return bounds[len(bounds)-1]
			}
			lower := time.Duration(0)
			if i > 0 {
				lower = bounds[i-1]
			}
			frac := (rank - float64(cum)) / float64(c)
			return lower + time.Duration(frac*float64(bounds[i]-lower))
		}
		cum += c
	}
	return bounds[len(bounds)-1]
}
