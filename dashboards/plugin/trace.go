package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// keyValue is the {key, value} pair of the trace view's tag lists.
type keyValue struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// traceLog is one entry of a span's logs in the trace view: a span event,
// or a log record that carries the span's ID.
type traceLog struct {
	Timestamp float64    `json:"timestamp"` // ms
	Name      string     `json:"name,omitempty"`
	Fields    []keyValue `json:"fields"`
}

// traceReference is a span link.
type traceReference struct {
	TraceID string     `json:"traceID"`
	SpanID  string     `json:"spanID"`
	Tags    []keyValue `json:"tags,omitempty"`
}

// trace answers a trace query: one trace by ID (query.Reader.Trace) in the
// frame Grafana's trace view renders. Each span's logs are its entries:
// events and the log records stored with its span ID, in time order.
func (d *Datasource) trace(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	tr, err := d.reader(st).Trace(ctx, q.TraceID)
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: data.Frames{traceFrame(tr)}}
}

// statusCodes are the trace view's span status codes.
var statusCodes = map[string]int64{"Unset": 0, "Ok": 1, "Error": 2}

func traceFrame(tr query.Trace) *data.Frame {
	n := len(tr.Spans)
	var (
		traceIDs, spanIDs, parents, ops, services, kinds, msgs = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		serviceTags, logs, refs, tags = make([]json.RawMessage, n), make([]json.RawMessage, n), make([]json.RawMessage, n), make([]json.RawMessage, n)
		starts, durations             = make([]float64, n), make([]float64, n)
		codes                         = make([]int64, n)
	)
	for i, sp := range tr.Spans {
		traceIDs[i], spanIDs[i], parents[i] = sp.TraceID, sp.SpanID, sp.ParentSpanID
		ops[i], services[i], kinds[i] = sp.Name, sp.ServiceName, strings.ToLower(sp.Kind)
		starts[i] = ms(sp.Timestamp)
		durations[i] = float64(sp.Duration) / 1e6
		codes[i], msgs[i] = statusCodes[sp.StatusCode], sp.StatusMessage
		serviceTags[i] = mustJSON(pairs(sp.ResourceAttributes))
		spanTags := pairs(sp.Attributes)
		if sp.ScopeName != "" {
			spanTags = append(spanTags, keyValue{"otel.scope.name", sp.ScopeName})
		}
		if sp.ScopeVersion != "" {
			spanTags = append(spanTags, keyValue{"otel.scope.version", sp.ScopeVersion})
		}
		tags[i] = mustJSON(spanTags)
		var entries []traceLog
		for _, e := range tr.Entries[sp.SpanID] {
			var f []keyValue
			name := e.Name
			if e.Kind == query.EntryEvent {
				f = []keyValue{{"event", e.Name}}
			} else {
				name, f = "log", []keyValue{{"body", e.Body}}
				if e.Name != "" {
					f = append(f, keyValue{"severity", e.Name})
				}
			}
			for _, a := range e.Attributes {
				f = append(f, keyValue{a.Key, a.Value})
			}
			entries = append(entries, traceLog{Timestamp: ms(e.Time), Name: name, Fields: f})
		}
		logs[i] = mustJSON(entries)
		var rs []traceReference
		for _, l := range sp.Links {
			rs = append(rs, traceReference{TraceID: l.TraceID, SpanID: l.SpanID, Tags: pairs(l.Attributes)})
		}
		refs[i] = mustJSON(rs)
	}
	f := data.NewFrame("Trace",
		data.NewField("traceID", nil, traceIDs),
		data.NewField("spanID", nil, spanIDs),
		data.NewField("parentSpanID", nil, parents),
		data.NewField("operationName", nil, ops),
		data.NewField("serviceName", nil, services),
		data.NewField("serviceTags", nil, serviceTags),
		data.NewField("startTime", nil, starts),
		data.NewField("duration", nil, durations),
		data.NewField("logs", nil, logs),
		data.NewField("references", nil, refs),
		data.NewField("tags", nil, tags),
		data.NewField("kind", nil, kinds),
		data.NewField("statusCode", nil, codes),
		data.NewField("statusMessage", nil, msgs),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTrace}
	return f
}

func ms(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// pairs turns attributes into the trace view's key/value pairs, by key.
func pairs(m map[string]string) []keyValue {
	kvs := query.Pairs(m)
	out := make([]keyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = keyValue{kv.Key, kv.Value}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings and numbers go in
	}
	if string(b) == "null" {
		return json.RawMessage("[]")
	}
	return b
}
