package ruletest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A registry scraped into the simulation reads as Prometheus would read it:
// counters rate, histograms have their buckets, and a series the registry
// drops is gone at the next scrape, not 5 minutes later.
func TestScrapeReadsARegistryAsPrometheusWould(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "h"}, []string{"edge"})
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: "h", Buckets: []float64{0.1, 1}})
	reg.MustRegister(calls, lat)
	sim, err := NewSimulation(SimConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx := context.Background()
	for i := 0; i <= 5; i++ {
		if i > 0 {
			calls.WithLabelValues("a").Add(60) // 1/s
			calls.WithLabelValues("b").Add(120)
			for range 60 {
				lat.Observe(0.5)
			}
		}
		if err := sim.Scrape(ctx, reg, time.Duration(i)*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	query := func(q string, at time.Duration) []float64 {
		t.Helper()
		vec, err := sim.Query(ctx, q, at)
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, s := range vec {
			out = append(out, s.F)
		}
		return out
	}
	if got := query(`rate(calls_total{edge="a"}[5m])`, 5*time.Minute); len(got) != 1 || got[0] != 1 {
		t.Errorf("rate of a counter growing 1/s = %v", got)
	}
	// all in (0.1, 1]: the median is half way through that bucket
	if got := query(`histogram_quantile(0.5, rate(latency_seconds_bucket[5m]))`, 5*time.Minute); len(got) != 1 || got[0] != 0.55 {
		t.Errorf("median from the buckets = %v, want 0.55", got)
	}
	if got := query(`latency_seconds_count`, 5*time.Minute); len(got) != 1 || got[0] != 300 {
		t.Errorf("count = %v, want 300", got)
	}

	calls.DeleteLabelValues("b")
	if err := sim.Scrape(ctx, reg, 6*time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := query(`calls_total{edge="b"}`, 6*time.Minute); len(got) != 0 {
		t.Errorf("a series the registry dropped still reads %v", got)
	}
	if got := query(`calls_total{edge="a"}`, 6*time.Minute); len(got) != 1 || got[0] != 300 {
		t.Errorf("the remaining series reads %v, want 300", got)
	}
}
