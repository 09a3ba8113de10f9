package plugin

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/storage"
)

// EdgeMetrics are the series of an edges query, in this order.
var EdgeMetrics = querymodel.EdgeMetrics

// Breaker states as numbers (breaker_state): the worst state requests saw
// in the step. No requests with a breaker state is no value, never closed.
const (
	breakerClosed   = 0
	breakerHalfOpen = 1
	breakerOpen     = 2
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
		switch breakerState(api.Edge{BreakerRequests: e.BreakerRequests}) {
		case "open":
			return breakerOpen, true
		case "half_open":
			return breakerHalfOpen, true
		case "closed":
			return breakerClosed, true
		}
		return 0, false
	}},
}

// seriesStep is the step of an edges query: the panel's interval, or the
// range over max data points, at least a bucket, in whole buckets; a step
// over an hour is whole hours, so that the hourly tier serves it.
func seriesStep(q query) time.Duration {
	step := max(q.Interval, storage.EdgeBucket)
	if q.MaxDataPoints > 0 {
		step = max(step, q.To.Sub(q.From)/time.Duration(q.MaxDataPoints))
	}
	round := storage.EdgeBucket
	if step > time.Hour {
		round = time.Hour
	}
	return (step + round - 1) / round * round
}

type seriesKey struct{ client, server, conn string }

// edgeSeries answers an edges query: per edge and step, the request rate,
// failed requests/s, error share, p50/p95/p99 (ms), delivery ratio,
// retries/s and breaker state, as one numeric frame per edge and metric
// labelled client, server and connection_type, which Grafana alerting can
// evaluate. A ratio without any value in the range (the delivery ratio of
// a plain call, the breaker state of an edge without a breaker) has no
// frame; counts are 0 in steps without requests. Each step is flowgraph's model of the edge over that step
// (api.BuildGraph), so the numbers are those of the node graph.
func (d *Datasource) edgeSeries(ctx context.Context, st *storage.Store, q query) backend.DataResponse {
	metrics := EdgeMetrics
	if q.Metric != "" {
		if _, ok := metricSpecs[q.Metric]; !ok {
			return errorResponse(fmt.Errorf("%w: metric %q: want one of %s", errBadQuery, q.Metric, strings.Join(EdgeMetrics, ", ")))
		}
		metrics = []string{q.Metric}
	}
	step := seriesStep(q)
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
	points, err := st.QueryEdgeSeries(ctx, f, q.From, q.To, step)
	if err != nil {
		return errorResponse(err)
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
	extra := map[time.Time][]storage.EdgeAggregate{}
	for _, c := range producers {
		more, err := st.QueryEdgeSeries(ctx, storage.EdgeFilter{Client: c}, q.From, q.To, step)
		if err != nil {
			return errorResponse(err)
		}
		for _, p := range more {
			if p.Server != q.Service && p.Server != q.Server { // not read already
				extra[p.Time] = append(extra[p.Time], p.EdgeAggregate)
			}
		}
	}
	byTime := map[time.Time][]storage.EdgeAggregate{}
	for _, p := range points {
		byTime[p.Time] = append(byTime[p.Time], p.EdgeAggregate)
	}
	sec := int64(step / time.Second)
	first := time.Unix(q.From.Unix()/sec*sec, 0).UTC()
	var times []time.Time
	for t := first; t.Before(q.To); t = t.Add(step) {
		times = append(times, t)
	}
	values := map[seriesKey]map[string][]*float64{}
	for i, t := range times {
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
					values[k][m] = make([]*float64, len(times))
				}
			}
			for _, m := range metrics {
				if v, ok := metricSpecs[m].value(e, to.Sub(from).Seconds()); ok {
					v = round(v, 6)
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
	var frames data.Frames
	for _, k := range keys {
		for _, m := range metrics {
			if !metricSpecs[m].zeroWhenIdle && !slices.ContainsFunc(values[k][m], func(v *float64) bool { return v != nil }) {
				continue // no value in the range (a delivery ratio of a plain call): no series
			}
			frames = append(frames, seriesFrame(k, m, len(metrics) > 1, times, values[k][m]))
		}
	}
	if len(frames) == 0 {
		// an empty time series frame: "no data", still typed for alerting
		f := data.NewFrame("edges", data.NewField("time", nil, []time.Time{}), data.NewField("value", nil, []*float64{}))
		f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
		frames = data.Frames{f}
	}
	return backend.DataResponse{Frames: frames}
}

// edgeWanted applies the query's server, service and connection type to an
// edge of the graph of a step.
func edgeWanted(e api.Edge, q query) bool {
	switch {
	case q.Client != "" && e.Client != q.Client,
		q.Server != "" && e.Server != q.Server,
		q.Service != "" && e.Client != q.Service && e.Server != q.Service:
		return false
	}
	if e.Requests == 0 && e.BreakerRequests == nil {
		return false // a row of breaker transitions alone
	}
	return connMatches(e.ConnectionType, q.ConnectionType)
}

var breakerMappings = data.ValueMappings{data.ValueMapper{
	"0": {Text: "closed", Color: "green"},
	"1": {Text: "half-open", Color: "orange"},
	"2": {Text: "open", Color: "red"},
}}

func seriesFrame(k seriesKey, metric string, named bool, times []time.Time, vals []*float64) *data.Frame {
	spec := metricSpecs[metric]
	out := make([]*float64, len(vals))
	for i, v := range vals {
		switch {
		case v != nil:
			out[i] = v
		case spec.zeroWhenIdle:
			out[i] = new(float64)
		}
	}
	conn := k.conn
	if conn == "" {
		conn = "unset"
	}
	display := k.client + " → " + k.server
	if named {
		display += " " + metric
	}
	cfg := &data.FieldConfig{DisplayNameFromDS: display, Unit: spec.unit}
	if metric == "breaker_state" {
		cfg.Mappings = breakerMappings
	}
	f := data.NewFrame(metric,
		data.NewField("time", nil, slices.Clone(times)),
		data.NewField(metric, data.Labels{"client": k.client, "server": k.server, "connection_type": conn}, out).SetConfig(cfg),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
	return f
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
