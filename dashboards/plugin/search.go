package plugin

import (
	"context"
	"encoding/json"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// traceLink opens the trace query of this data source for the field's
// value (a trace ID), in Explore or the panel's split view.
func (d *Datasource) traceLink() []data.DataLink {
	return []data.DataLink{{
		Title: "Trace ${__value.raw}",
		Internal: &data.InternalDataLink{
			DatasourceUID:  d.uid,
			DatasourceName: d.name,
			Query:          map[string]any{"queryType": QueryTrace, "traceId": "${__value.raw}"},
		},
	}}
}

// traces answers a traces query: trace search (query.Reader.SearchTraces)
// as a table with one row per trace, the first matching span of each (the
// newest, or the slowest with orderBy slowest); each trace ID links to the
// trace.
func (d *Datasource) traces(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	hits, err := d.reader(st).SearchTraces(ctx, query.TraceSearch{
		Service: q.Service, Operation: q.Operation, MinDuration: q.minDur, MaxDuration: q.maxDur,
		Status: q.Status, Attributes: q.Attributes, From: q.From, To: q.To, Limit: q.Limit, Slowest: q.OrderBy == "slowest",
	})
	if err != nil {
		return errorResponse(err)
	}
	var (
		ids, services, ops, statuses, spanIDs []string
		starts                                []time.Time
		durations                             []float64
	)
	for _, h := range hits {
		ids, spanIDs = append(ids, h.TraceID), append(spanIDs, h.SpanID)
		starts = append(starts, h.Start)
		services, ops = append(services, h.Service), append(ops, h.Operation)
		durations = append(durations, float64(h.Duration)/1e6)
		statuses = append(statuses, h.Status)
	}
	f := data.NewFrame("Traces",
		data.NewField("traceID", nil, ids).SetConfig(&data.FieldConfig{DisplayName: "Trace ID", Links: d.traceLink()}),
		data.NewField("startTime", nil, starts).SetConfig(&data.FieldConfig{DisplayName: "Start time"}),
		data.NewField("service", nil, services).SetConfig(&data.FieldConfig{DisplayName: "Service"}),
		data.NewField("operation", nil, ops).SetConfig(&data.FieldConfig{DisplayName: "Operation"}),
		data.NewField("duration", nil, durations).SetConfig(&data.FieldConfig{DisplayName: "Duration", Unit: "ms"}),
		data.NewField("status", nil, statuses).SetConfig(&data.FieldConfig{DisplayName: "Status"}),
		data.NewField("spanID", nil, spanIDs).SetConfig(&data.FieldConfig{DisplayName: "Span ID"}),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTable}
	return backend.DataResponse{Frames: data.Frames{f}}
}

// logs answers a logs query: log search (query.Reader.SearchLogs), newest first,
// as a logs frame (Grafana's log lines: timestamp, body, severity, id,
// labels) with the trace ID linked to the trace query.
func (d *Datasource) logs(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	recs, err := d.reader(st).SearchLogs(ctx, storage.LogQuery{Service: q.Service, Severity: q.Severity, Contains: q.Contains,
		TraceID: q.TraceID, From: q.From, To: q.To, Limit: q.Limit})
	if err != nil {
		return errorResponse(err)
	}
	n := len(recs)
	var (
		ts                                         = make([]time.Time, n)
		bodies, severities, ids, traceIDs, spanIDs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		labels                                     = make([]json.RawMessage, n)
	)
	for i, r := range recs {
		ts[i], bodies[i], severities[i] = r.Timestamp, r.Body, r.SeverityText
		traceIDs[i], spanIDs[i] = r.TraceID, r.SpanID
		ids[i] = logID(r)
		l := map[string]string{"service": r.ServiceName}
		for k, v := range r.Attributes {
			l[k] = v
		}
		labels[i] = mustJSON(l)
	}
	f := data.NewFrame("Logs",
		data.NewField("timestamp", nil, ts),
		data.NewField("body", nil, bodies),
		data.NewField("severity", nil, severities),
		data.NewField("id", nil, ids),
		data.NewField("labels", nil, labels),
		data.NewField("traceID", nil, traceIDs).SetConfig(&data.FieldConfig{DisplayName: "Trace ID", Links: d.traceLink()}),
		data.NewField("spanID", nil, spanIDs),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeLogLines, TypeVersion: data.FrameTypeVersion{0, 0},
		PreferredVisualization: data.VisTypeLogs}
	return backend.DataResponse{Frames: data.Frames{f}}
}

// logID tells log lines apart for Grafana (deduplication, permalinks).
func logID(r storage.LogRecord) string {
	return r.Timestamp.Format("20060102T150405.000000000") + "_" + r.ServiceName + "_" + r.SpanID
}
