package ruletest

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// Scrape appends what g exposes now as samples at offset at, as a scrape
// (or the evaluator's copy of the flow analyzer's registry) would: a
// histogram becomes _bucket{le}, _sum and _count series, a summary its
// quantiles, _sum and _count, and a series that disappeared since the
// previous Scrape gets a stale marker. A live registry, such as the flow
// analyzer's fed simulated traffic, can so drive the rules instead of input
// series written by hand. Scrapes must go forward in time.
func (s *Simulation) Scrape(ctx context.Context, g prometheus.Gatherer, at time.Duration) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather: %w", err)
	}
	t := Epoch.Add(at).UnixMilli()
	seen := make(map[string]labels.Labels, len(s.scraped))
	app := s.db.Appender(ctx)
	var b labels.ScratchBuilder
	add := func(name string, m *dto.Metric, extraName, extraVal string, v float64) error {
		b.Reset()
		b.Add(labels.MetricName, name)
		for _, lp := range m.GetLabel() {
			b.Add(lp.GetName(), lp.GetValue())
		}
		if extraName != "" {
			b.Add(extraName, extraVal)
		}
		b.Sort()
		ls := b.Labels()
		seen[ls.String()] = ls
		if _, err := app.Append(0, ls, t, v); err != nil {
			return fmt.Errorf("append %s at %s: %w", ls, at, err)
		}
		return nil
	}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			if err := appendMetric(add, name, mf.GetType(), m); err != nil {
				_ = app.Rollback()
				return err
			}
		}
	}
	for key, ls := range s.scraped {
		if _, ok := seen[key]; !ok {
			if _, err := app.Append(0, ls, t, math.Float64frombits(value.StaleNaN)); err != nil {
				_ = app.Rollback()
				return fmt.Errorf("append stale marker %s: %w", ls, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("append scrape at %s: %w", at, err)
	}
	s.scraped = seen
	return nil
}

type addFunc func(name string, m *dto.Metric, extraName, extraVal string, v float64) error

// appendMetric flattens one metric into the series of the text exposition.
func appendMetric(add addFunc, name string, typ dto.MetricType, m *dto.Metric) error {
	switch typ {
	case dto.MetricType_COUNTER:
		return add(name, m, "", "", m.GetCounter().GetValue())
	case dto.MetricType_GAUGE:
		return add(name, m, "", "", m.GetGauge().GetValue())
	case dto.MetricType_UNTYPED:
		return add(name, m, "", "", m.GetUntyped().GetValue())
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		inf := false
		for _, bk := range h.GetBucket() {
			ub := bk.GetUpperBound()
			inf = inf || math.IsInf(ub, 1)
			if err := add(name+"_bucket", m, labels.BucketLabel, formatFloat(ub), float64(bk.GetCumulativeCount())); err != nil {
				return err
			}
		}
		if !inf {
			if err := add(name+"_bucket", m, labels.BucketLabel, "+Inf", float64(h.GetSampleCount())); err != nil {
				return err
			}
		}
		if err := add(name+"_sum", m, "", "", h.GetSampleSum()); err != nil {
			return err
		}
		return add(name+"_count", m, "", "", float64(h.GetSampleCount()))
	case dto.MetricType_SUMMARY:
		sm := m.GetSummary()
		for _, q := range sm.GetQuantile() {
			if err := add(name, m, "quantile", formatFloat(q.GetQuantile()), q.GetValue()); err != nil {
				return err
			}
		}
		if err := add(name+"_sum", m, "", "", sm.GetSampleSum()); err != nil {
			return err
		}
		return add(name+"_count", m, "", "", float64(sm.GetSampleCount()))
	}
	return nil
}

// formatFloat writes a bucket bound or quantile as the text exposition does.
func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
