package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
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

// scrapeCollector reads the collector's /metrics at base, the URL its
// "collector started" line names (http://host:port, or https:// with
// TLS); a bare host:port is taken as http.
func scrapeCollector(ctx context.Context, base string) (collectorMetrics, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
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
	bounds     []time.Duration // upper bounds, ascending, +Inf excluded
	counts     []uint64        // per bucket; the last one is beyond the bounds
}

func histDelta(before, after collectorMetrics, name, kind string) hist {
	a, b := findHist(after, name, kind), findHist(before, name, kind)
	if a == nil {
		return hist{}
	}
	h := hist{sum: a.GetSampleSum()}
	total := a.GetSampleCount()
	if b != nil {
		h.sum -= b.GetSampleSum()
		total -= b.GetSampleCount()
	}
	h.count = float64(total)
	var below uint64 // cumulative count of the buckets so far
	for i, bk := range a.GetBucket() {
		if math.IsInf(bk.GetUpperBound(), 1) {
			break // the text format's +Inf bucket: total holds it
		}
		c := bk.GetCumulativeCount()
		if b != nil && i < len(b.GetBucket()) {
			c -= b.GetBucket()[i].GetCumulativeCount()
		}
		h.bounds = append(h.bounds, time.Duration(bk.GetUpperBound()*float64(time.Second)))
		h.counts = append(h.counts, c-below)
		below = c
	}
	h.counts = append(h.counts, total-below)
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

// quantile is histogram_quantile's estimate in seconds; beyond the last
// bound it answers that bound.
func (h hist) quantile(q float64) float64 {
	return flowmodel.Quantile(h.bounds, h.counts, q).Seconds()
}
