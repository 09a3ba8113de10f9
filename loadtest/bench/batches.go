package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// BatchStats is the collector's share of freshness for one kind of row
// during the window, from its own histograms: how big its inserts were,
// how long they took, and how long a batch's first message waited until
// its offsets were committed (batch age + waiting for the previous insert
// + the insert + the commit).
type BatchStats struct {
	Kind                               string
	Inserts                            float64
	RowsPerInsert                      float64
	InsertP50, InsertP99               float64 // seconds
	FetchToCommitP50, FetchToCommitP99 float64 // seconds
}

// collectorMetrics is one scrape of the collector's /metrics.
type collectorMetrics map[string]*dto.MetricFamily

func scrapeCollector(ctx context.Context, addr string) (collectorMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape collector metrics: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse collector metrics: %w", err)
	}
	return collectorMetrics(mf), nil
}

// batchStats compares two scrapes, per kind.
func batchStats(before, after collectorMetrics) []BatchStats {
	var out []BatchStats
	for _, kind := range []string{"spans", "logs"} {
		ins := histDelta(before, after, "flowlens_collector_batch_insert_seconds", kind)
		rows := histDelta(before, after, "flowlens_collector_batch_rows", kind)
		delay := histDelta(before, after, "flowlens_collector_batch_commit_delay_seconds", kind)
		if ins.count == 0 {
			continue
		}
		out = append(out, BatchStats{
			Kind: kind, Inserts: ins.count, RowsPerInsert: rows.sum / math.Max(rows.count, 1),
			InsertP50: ins.quantile(0.5), InsertP99: ins.quantile(0.99),
			FetchToCommitP50: delay.quantile(0.5), FetchToCommitP99: delay.quantile(0.99),
		})
	}
	return out
}

// hist is a histogram's observations between two scrapes.
type hist struct {
	count, sum float64
	bounds     []float64 // upper bounds, ascending, +Inf excluded
	cum        []float64 // cumulative counts per bound
}

func histDelta(before, after collectorMetrics, name, kind string) hist {
	a, b := findHist(after, name, kind), findHist(before, name, kind)
	if a == nil {
		return hist{}
	}
	h := hist{count: float64(a.GetSampleCount()), sum: a.GetSampleSum()}
	if b != nil {
		h.count -= float64(b.GetSampleCount())
		h.sum -= b.GetSampleSum()
	}
	for i, bk := range a.GetBucket() {
		if math.IsInf(bk.GetUpperBound(), 1) {
			break // the text format's +Inf bucket: count holds it
		}
		c := float64(bk.GetCumulativeCount())
		if b != nil && i < len(b.GetBucket()) {
			c -= float64(b.GetBucket()[i].GetCumulativeCount())
		}
		h.bounds = append(h.bounds, bk.GetUpperBound())
		h.cum = append(h.cum, c)
	}
	return h
}

func findHist(m collectorMetrics, name, kind string) *dto.Histogram {
	mf := m[name]
	if mf == nil {
		return nil
	}
	for _, met := range mf.GetMetric() {
		for _, l := range met.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == kind {
				return met.GetHistogram()
			}
		}
	}
	return nil
}

// quantile interpolates linearly within the bucket, as PromQL's
// histogram_quantile does; beyond the last bound it answers that bound.
func (h hist) quantile(q float64) float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return 0
	}
	rank := q * h.count
	i := sort.Search(len(h.cum), func(i int) bool { return h.cum[i] >= rank })
	if i == len(h.cum) {
		return h.bounds[len(h.bounds)-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], h.cum[i-1]
	}
	in := h.cum[i] - below
	if in == 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/in
}
