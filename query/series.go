package query

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// EdgeMetrics are the series of an edge, in this order.
var EdgeMetrics = []string{"rate", "errors", "error_percent", "p50", "p95", "p99", "delivery_ratio", "retries", "breaker_state"}

// Breaker states as numbers (breaker_state): the worst state requests saw
// in the step. No requests with a breaker state is no value, never closed.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// metricSpec says how an edge metric is computed and shown. zeroWhenIdle:
// a step without requests is 0 (a count), not a missing value (a ratio).
// Counts per second are over the step (its part inside the range), as a
// rate of a time series is; the graph's own rates are over the time that
// has calls, which is the step's length only when calls never pause.
type metricSpec struct {
	unit         string
	zeroWhenIdle bool
	value        func(e api.Edge, secs float64) (float64, bool)
}

var metricSpecs = map[string]metricSpec{
	"rate":          {"reqps", true, func(e api.Edge, secs float64) (float64, bool) { return float64(e.Requests) / secs, true }},
	"errors":        {"reqps", true, func(e api.Edge, secs float64) (float64, bool) { return float64(e.Failed) / secs, true }},
	"error_percent": {"percent", false, func(e api.Edge, _ float64) (float64, bool) { return e.ErrorPercent, e.Requests > 0 }},
	"p50":           {"ms", false, func(e api.Edge, _ float64) (float64, bool) { return e.P50ms, e.Requests > 0 }},
	"p95":           {"ms", false, func(e api.Edge, _ float64) (float64, bool) { return e.P95ms, e.Requests > 0 }},
	"p99":           {"ms", false, func(e api.Edge, _ float64) (float64, bool) { return e.P99ms, e.Requests > 0 }},
	"delivery_ratio": {"percentunit", false, func(e api.Edge, _ float64) (float64, bool) {
		if e.DeliveryRatio == nil {
			return 0, false
		}
		return *e.DeliveryRatio, true
	}},
	"retries": {"short", true, func(e api.Edge, secs float64) (float64, bool) { return float64(e.Retries) / secs, true }}, // retries/s
	"breaker_state": {"", false, func(e api.Edge, _ float64) (float64, bool) {
		switch BreakerState(api.Edge{BreakerRequests: e.BreakerRequests}) {
		case "open":
			return BreakerOpen, true
		case "half_open":
			return BreakerHalfOpen, true
		case "closed":
			return BreakerClosed, true
		}
		return 0, false
	}},
}

// Step is the step of a series over [from, to): interval, or the range
// over maxPoints, at least a bucket, in whole buckets; a step over an hour
// is whole hours, so that the hourly tier serves it.
func Step(from, to time.Time, interval time.Duration, maxPoints int64) time.Duration {
	step := max(interval, flowmodel.BucketWidth)
	if maxPoints > 0 {
		step = max(step, to.Sub(from)/time.Duration(maxPoints))
	}
	round := flowmodel.BucketWidth
	if step > time.Hour {
		round = time.Hour
	}
	return (step + round - 1) / round * round
}

// SeriesRequest asks for per-edge series over [From, To) in steps of Step
// (see Step). Client, Server and Service (either end) select edges;
// ConnectionType filters them; Metric is one of EdgeMetrics, empty all.
type SeriesRequest struct {
	From, To                time.Time
	Step                    time.Duration
	Client, Server, Service string
	ConnectionType          string
	Metric                  string
}

// Validate says what the user must change.
func (r SeriesRequest) Validate() error {
	if err := CheckRange(r.From, r.To); err != nil {
		return err
	}
	if r.Step < flowmodel.BucketWidth || r.Step%flowmodel.BucketWidth != 0 {
		return fmt.Errorf("%w: step %s: want whole buckets of %s (see Step)", ErrBadRequest, r.Step, flowmodel.BucketWidth)
	}
	if r.Metric != "" {
		if _, ok := metricSpecs[r.Metric]; !ok {
			return fmt.Errorf("%w: metric %q: want one of %s", ErrBadRequest, r.Metric, strings.Join(EdgeMetrics, ", "))
		}
	}
	return CheckConnectionType(r.ConnectionType)
}

// SeriesSet is the answer to a SeriesRequest: the steps' start times and
// one series per edge and metric.
type SeriesSet struct {
	Step   time.Duration `json:"step_ns"`
	Times  []time.Time   `json:"times"`
	Series []Series      `json:"series"`
}

// Series is one metric of one edge, a value per step of its set; nil is
// no value (a ratio in a step without requests).
type Series struct {
	Client         string     `json:"client"`
	Server         string     `json:"server"`
	ConnectionType string     `json:"connection_type"` // "unset" for plain calls
	Metric         string     `json:"metric"`
	Unit           string     `json:"unit"` // reqps, percent, percentunit, ms, short (per second), "" (breaker state)
	Values         []*float64 `json:"values"`
}

type seriesKey struct{ client, server, conn string }

// EdgeSeries answers a SeriesRequest: per edge and step, the request rate,
// failed requests/s, error share, p50/p95/p99 (ms), delivery ratio,
// retries/s and breaker state. A ratio without any value in the range (the
// delivery ratio of a plain call, the breaker state of an edge without a
// breaker) has no series; counts are 0 in steps without requests. Each step
// is flowgraph's model of the edge over that step (api.BuildGraph), so the
// numbers are those of the graph.
func (r Reader) EdgeSeries(ctx context.Context, q SeriesRequest) (SeriesSet, error) {
	if err := q.Validate(); err != nil {
		return SeriesSet{}, err
	}
	metrics := EdgeMetrics
	if q.Metric != "" {
		metrics = []string{q.Metric}
	}
	step := q.Step
	// A producer's delivery ratio divides by everything it sent, on all its
	// edges: read whole clients where the filter allows it.
	f := storage.EdgeFilter{Client: q.Client}
	switch {
	case q.Client != "":
	case q.Service != "":
		f.Service = q.Service
	case q.Server != "":
		f.Server = q.Server
	}
	points, err := r.Store.QueryEdgeSeries(ctx, f, q.From, q.To, step)
	if err != nil {
		return SeriesSet{}, err
	}
	complete := func(client string) bool {
		return f == (storage.EdgeFilter{}) || f.Client == client || f.Service == client
	}
	var producers []string
	for _, p := range points {
		if p.MessagesReceived > 0 && !complete(p.Client) && !slices.Contains(producers, p.Client) {
			producers = append(producers, p.Client)
		}
	}
	extra := map[time.Time][]flowmodel.EdgeAggregate{}
	for _, c := range producers {
		more, err := r.Store.QueryEdgeSeries(ctx, storage.EdgeFilter{Client: c}, q.From, q.To, step)
		if err != nil {
			return SeriesSet{}, err
		}
		for _, p := range more {
			if p.Server != q.Service && p.Server != q.Server { // not read already
				extra[p.Time] = append(extra[p.Time], p.EdgeAggregate)
			}
		}
	}
	byTime := map[time.Time][]flowmodel.EdgeAggregate{}
	for _, p := range points {
		byTime[p.Time] = append(byTime[p.Time], p.EdgeAggregate)
	}
	sec := int64(step / time.Second)
	first := time.Unix(q.From.Unix()/sec*sec, 0).UTC()
	out := SeriesSet{Step: step, Times: []time.Time{}, Series: []Series{}}
	for t := first; t.Before(q.To); t = t.Add(step) {
		out.Times = append(out.Times, t)
	}
	values := map[seriesKey]map[string][]*float64{}
	for i, t := range out.Times {
		aggs, ok := byTime[t]
		if !ok {
			continue
		}
		from, to := maxTime(t, q.From), minTime(t.Add(step), q.To)
		g := api.BuildGraph(append(slices.Clone(aggs), extra[t]...), nil, from, to, "storage")
		for _, e := range g.Edges {
			if !edgeWanted(e, q) {
				continue
			}
			k := seriesKey{e.Client, e.Server, e.ConnectionType}
			if values[k] == nil {
				values[k] = map[string][]*float64{}
				for _, m := range metrics {
					values[k][m] = make([]*float64, len(out.Times))
				}
			}
			for _, m := range metrics {
				if v, ok := metricSpecs[m].value(e, to.Sub(from).Seconds()); ok {
					v = Round(v, 6)
					values[k][m][i] = &v
				}
			}
		}
	}
	keys := make([]seriesKey, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.client < b.client || a.client == b.client && (a.server < b.server || a.server == b.server && a.conn < b.conn)
	})
	for _, k := range keys {
		for _, m := range metrics {
			spec := metricSpecs[m]
			vals := values[k][m]
			if !spec.zeroWhenIdle && !slices.ContainsFunc(vals, func(v *float64) bool { return v != nil }) {
				continue // no value in the range (a delivery ratio of a plain call): no series
			}
			if spec.zeroWhenIdle {
				for i := range vals {
					if vals[i] == nil {
						vals[i] = new(float64)
					}
				}
			}
			out.Series = append(out.Series, Series{Client: k.client, Server: k.server, ConnectionType: flowmodel.ConnectionName(k.conn), Metric: m, Unit: spec.unit, Values: vals})
		}
	}
	return out, nil
}

// edgeWanted applies the request's server, service and connection type to
// an edge of the graph of a step.
func edgeWanted(e api.Edge, q SeriesRequest) bool {
	switch {
	case q.Client != "" && e.Client != q.Client,
		q.Server != "" && e.Server != q.Server,
		q.Service != "" && e.Client != q.Service && e.Server != q.Service:
		return false
	}
	if e.Requests == 0 && e.BreakerRequests == nil {
		return false // a row of breaker transitions alone
	}
	return flowmodel.ConnectionMatches(e.ConnectionType, q.ConnectionType)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
