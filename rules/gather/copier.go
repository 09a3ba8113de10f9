// Package gather copies what a Prometheus Gatherer exposes into a TSDB as one
// scrape would. The rules evaluator copies the flow analyzer's registry this
// way, and rules/ruletest's simulation does the same, so a simulated rule
// sees exactly the series the evaluator would.
package gather

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Copier appends what a Gatherer exposes into a storage, as one scrape
// would: histograms become _bucket/_sum/_count, summaries quantiles, and a
// series that disappears gets a stale marker (so a vanished breaker stops
// counting at once, not after the 5m lookback).
//
// Counters, histograms and summaries are appended with their created
// timestamp as the start timestamp; a TSDB opened with
// EnableSTAsZeroSample (as the evaluator's and the simulation's are) stores it as a
// zero sample before the first sample after it, as Prometheus does with
// created-timestamp-zero-ingestion. That zero is what lets rate() count the
// first increase of a new series, and see a counter reset when the analyzer
// restarted, even if its counters came back to exactly their old values. A
// start timestamp the series already has samples after (the evaluator
// restarted, the analyzer did not) is out of order and ignored, so it never
// fakes a reset.
type Copier struct {
	g    prometheus.Gatherer
	st   storage.AppendableV2
	prev map[string]labels.Labels
	cur  map[string]labels.Labels
	b    labels.ScratchBuilder
}

// NewCopier copies from g into st.
func NewCopier(g prometheus.Gatherer, st storage.AppendableV2) *Copier {
	return &Copier{g: g, st: st, prev: map[string]labels.Labels{}, cur: map[string]labels.Labels{}}
}

// Copy gathers once and appends every sample at t (ms). It returns the
// number of samples appended.
func (c *Copier) Copy(ctx context.Context, t int64) (int, error) {
	mfs, err := c.g.Gather()
	if err != nil && len(mfs) == 0 {
		return 0, fmt.Errorf("gather flow metrics: %w", err)
	}
	app := c.st.AppenderV2(ctx)
	n := 0
	// add appends one sample; st is its start timestamp (ms), 0 if none
	add := func(name string, m *dto.Metric, extraName, extraVal string, st int64, v float64) error {
		c.b.Reset()
		c.b.Add(labels.MetricName, name)
		for _, lp := range m.GetLabel() {
			c.b.Add(lp.GetName(), lp.GetValue())
		}
		if extraName != "" {
			c.b.Add(extraName, extraVal)
		}
		c.b.Sort()
		ls := c.b.Labels()
		key := ls.String()
		c.cur[key] = ls
		n++
		if _, err := app.Append(0, ls, st, t, v, nil, nil, storage.AOptions{}); err != nil {
			return fmt.Errorf("append %s: %w", key, err)
		}
		return nil
	}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			var err error
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				cn := m.GetCounter()
				err = add(name, m, "", "", startMs(cn.GetCreatedTimestamp()), cn.GetValue())
			case dto.MetricType_GAUGE:
				err = add(name, m, "", "", 0, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				err = add(name, m, "", "", 0, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				st := startMs(h.GetCreatedTimestamp())
				inf := false
				for _, bk := range h.GetBucket() {
					ub := bk.GetUpperBound()
					inf = inf || math.IsInf(ub, 1)
					if err = add(name+"_bucket", m, "le", formatLE(ub), st, float64(bk.GetCumulativeCount())); err != nil {
						break
					}
				}
				if err == nil && !inf {
					err = add(name+"_bucket", m, "le", "+Inf", st, float64(h.GetSampleCount()))
				}
				if err == nil {
					err = add(name+"_sum", m, "", "", st, h.GetSampleSum())
				}
				if err == nil {
					err = add(name+"_count", m, "", "", st, float64(h.GetSampleCount()))
				}
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				st := startMs(s.GetCreatedTimestamp())
				for _, q := range s.GetQuantile() {
					if err = add(name, m, "quantile", formatLE(q.GetQuantile()), 0, q.GetValue()); err != nil {
						break
					}
				}
				if err == nil {
					err = add(name+"_sum", m, "", "", st, s.GetSampleSum())
				}
				if err == nil {
					err = add(name+"_count", m, "", "", st, float64(s.GetSampleCount()))
				}
			}
			if err != nil {
				_ = app.Rollback()
				clear(c.cur)
				return 0, err
			}
		}
	}
	for key, ls := range c.prev {
		if _, ok := c.cur[key]; !ok {
			if _, err := app.Append(0, ls, 0, t, math.Float64frombits(value.StaleNaN), nil, nil, storage.AOptions{}); err != nil {
				_ = app.Rollback()
				clear(c.cur)
				return 0, fmt.Errorf("append stale marker %s: %w", key, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		clear(c.cur)
		return 0, fmt.Errorf("commit flow metrics: %w", err)
	}
	c.prev, c.cur = c.cur, c.prev
	clear(c.cur)
	return n, nil
}

// startMs is a created timestamp in ms, 0 (none) when unset.
func startMs(ts *timestamppb.Timestamp) int64 {
	if ts == nil {
		return 0
	}
	return ts.AsTime().UnixMilli()
}

func formatLE(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
