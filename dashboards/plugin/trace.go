package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

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

// trace answers a trace query: one trace by ID (storage.GetTrace) in the
// frame Grafana's trace view renders. Each span's logs are its events and
// the log records stored with its span ID, in time order.
func (d *Datasource) trace(ctx context.Context, st *storage.Store, q query) backend.DataResponse {
	if strings.TrimSpace(q.TraceID) == "" {
		return errorResponse(fmt.Errorf("%w: no trace ID", errBadQuery))
	}
	tr, err := st.GetTrace(ctx, strings.TrimSpace(q.TraceID))
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: data.Frames{traceFrame(tr)}}
}

// statusCodes are the trace view's span status codes.
var statusCodes = map[string]int64{"Unset": 0, "Ok": 1, "Error": 2}

func traceFrame(tr storage.Trace) *data.Frame {
	logsBySpan := map[string][]storage.LogRecord{}
	for _, l := range tr.Logs {
		if l.SpanID != "" {
			logsBySpan[l.SpanID] = append(logsBySpan[l.SpanID], l)
		}
	}
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
		starts[i] = float64(sp.Timestamp.UnixNano()) / 1e6
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
		for _, ev := range sp.Events {
			entries = append(entries, traceLog{Timestamp: ms(ev.Timestamp), Name: ev.Name,
				Fields: append([]keyValue{{"event", ev.Name}}, pairs(ev.Attributes)...)})
		}
		for _, l := range logsBySpan[sp.SpanID] {
			f := []keyValue{{"body", l.Body}}
			if l.SeverityText != "" {
				f = append(f, keyValue{"severity", l.SeverityText})
			}
			entries = append(entries, traceLog{Timestamp: ms(l.Timestamp), Name: "log", Fields: append(f, pairs(l.Attributes)...)})
		}
		sort.SliceStable(entries, func(a, b int) bool { return entries[a].Timestamp < entries[b].Timestamp })
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

// pairs turns attributes into key/value pairs sorted by key.
func pairs(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
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
