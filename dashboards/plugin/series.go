package plugin

import (
	"context"
	"slices"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// EdgeMetrics are the series of an edges query, in this order.
var EdgeMetrics = querymodel.EdgeMetrics

// edgeSeries answers an edges query (query.Reader.EdgeSeries) as one
// numeric frame per edge and metric labelled client, server and
// connection_type, which Grafana alerting can evaluate. The step is the
// panel's interval, or the range over max data points (query.Step).
func (d *Datasource) edgeSeries(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	set, err := d.reader(st).EdgeSeries(ctx, query.SeriesRequest{From: q.From, To: q.To, Step: query.Step(q.From, q.To, q.Interval, q.MaxDataPoints),
		Client: q.Client, Server: q.Server, Service: q.Service, ConnectionType: q.ConnectionType, Metric: q.Metric})
	if err != nil {
		return errorResponse(err)
	}
	var frames data.Frames
	for _, s := range set.Series {
		frames = append(frames, seriesFrame(s, q.Metric == "", set.Times))
	}
	if len(frames) == 0 {
		// an empty time series frame: "no data", still typed for alerting
		f := data.NewFrame("edges", data.NewField("time", nil, []time.Time{}), data.NewField("value", nil, []*float64{}))
		f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
		frames = data.Frames{f}
	}
	return backend.DataResponse{Frames: frames}
}

var breakerMappings = data.ValueMappings{data.ValueMapper{
	"0": {Text: "closed", Color: "green"},
	"1": {Text: "half-open", Color: "orange"},
	"2": {Text: "open", Color: "red"},
}}

func seriesFrame(s query.Series, named bool, times []time.Time) *data.Frame {
	display := s.Client + " → " + s.Server
	if named {
		display += " " + s.Metric
	}
	cfg := &data.FieldConfig{DisplayNameFromDS: display, Unit: s.Unit}
	if s.Metric == "breaker_state" {
		cfg.Mappings = breakerMappings
	}
	f := data.NewFrame(s.Metric,
		data.NewField("time", nil, slices.Clone(times)),
		data.NewField(s.Metric, data.Labels{"client": s.Client, "server": s.Server, "connection_type": s.ConnectionType}, s.Values).SetConfig(cfg),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
	return f
}
