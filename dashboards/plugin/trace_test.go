package plugin_test

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/storage"
)

var (
	traceFields = []string{"traceID:string", "spanID:string", "parentSpanID:string", "operationName:string", "serviceName:string",
		"serviceTags:json.RawMessage", "startTime:float64", "duration:float64", "logs:json.RawMessage", "references:json.RawMessage",
		"tags:json.RawMessage", "kind:string", "statusCode:int64", "statusMessage:string"}
	tracesFields = []string{"traceID:string", "startTime:time.Time", "service:string", "operation:string", "duration:float64",
		"status:string", "spanID:string"}
	logFields = []string{"timestamp:time.Time", "body:string", "severity:string", "id:string", "labels:json.RawMessage",
		"traceID:string", "spanID:string"}
)

type kv struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type spanLog struct {
	Timestamp float64 `json:"timestamp"`
	Name      string  `json:"name"`
	Fields    []kv    `json:"fields"`
}

func field(kvs []kv, key string) any {
	for _, p := range kvs {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// The trace of a breaker change, in the trace view's frame: every stored
// span with its times, status and tags, and each span's log lines in its
// logs (the breaker change under the span that saw it).
func TestTraceQuery(t *testing.T) {
	s := theShop(t)
	change := s.res.Truth.Breakers[0]
	r := s.query(t, s.full(), plugin.Query{QueryType: plugin.QueryTrace, TraceID: strings.ToUpper(change.TraceID)})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	if len(r.Frames) != 1 {
		t.Fatalf("%d frames", len(r.Frames))
	}
	f := r.Frames[0]
	if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeTrace {
		t.Errorf("meta %+v, want preferredVisualisationType trace", f.Meta)
	}
	if got := fieldTypes(f); !reflect.DeepEqual(got, traceFields) {
		t.Errorf("fields\n got %v\nwant %v", got, traceFields)
	}
	stored, err := s.st.GetTrace(context.Background(), change.TraceID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != len(stored.Spans) || f.Rows() < 3 {
		t.Fatalf("%d spans, stored %d", f.Rows(), len(stored.Spans))
	}
	logsOf := map[string]int{}
	for _, l := range stored.Logs {
		logsOf[l.SpanID]++
	}
	roots := 0
	var (
		ids, parents, ops, svcs, kinds = column[string](t, f, "spanID"), column[string](t, f, "parentSpanID"), column[string](t, f, "operationName"), column[string](t, f, "serviceName"), column[string](t, f, "kind")
		starts, durs                   = column[float64](t, f, "startTime"), column[float64](t, f, "duration")
		codes                          = column[int64](t, f, "statusCode")
		logs, tags, svcTags            = column[json.RawMessage](t, f, "logs"), column[json.RawMessage](t, f, "tags"), column[json.RawMessage](t, f, "serviceTags")
		traceIDs                       = column[string](t, f, "traceID")
	)
	for i, sp := range stored.Spans {
		if traceIDs[i] != change.TraceID || ids[i] != sp.SpanID || parents[i] != sp.ParentSpanID || ops[i] != sp.Name ||
			svcs[i] != sp.ServiceName || kinds[i] != strings.ToLower(sp.Kind) {
			t.Errorf("span %d: %s %s %s %s %s, stored %+v", i, ids[i], parents[i], ops[i], svcs[i], kinds[i], sp)
		}
		if math.Abs(starts[i]-float64(sp.Timestamp.UnixNano())/1e6) > 1e-3 || math.Abs(durs[i]-float64(sp.Duration)/1e6) > 1e-6 {
			t.Errorf("span %s: start %f ms, duration %f ms; stored %s, %s", sp.SpanID, starts[i], durs[i], sp.Timestamp, sp.Duration)
		}
		if want := map[string]int64{"Unset": 0, "Ok": 1, "Error": 2}[sp.StatusCode]; codes[i] != want {
			t.Errorf("span %s: status code %d, stored %s", sp.SpanID, codes[i], sp.StatusCode)
		}
		if sp.ParentSpanID == "" {
			roots++
		}
		var entries []spanLog
		var tg, st []kv
		for raw, dst := range map[string]any{string(logs[i]): &entries, string(tags[i]): &tg, string(svcTags[i]): &st} {
			if err := json.Unmarshal([]byte(raw), dst); err != nil {
				t.Fatalf("span %s: %s: %v", sp.SpanID, raw, err)
			}
		}
		n := 0
		for _, e := range entries {
			if e.Name == "log" {
				n++
			}
		}
		if n != logsOf[sp.SpanID] || n == 0 {
			t.Errorf("span %s: %d log lines in its logs, %d stored", sp.SpanID, n, logsOf[sp.SpanID])
		}
		if field(st, "service.name") != sp.ServiceName {
			t.Errorf("span %s: serviceTags %v", sp.SpanID, st)
		}
		for k, v := range sp.Attributes {
			if field(tg, k) != v {
				t.Errorf("span %s: tag %s = %v, stored %q", sp.SpanID, k, field(tg, k), v)
			}
		}
		if sp.SpanID == change.SpanID {
			want := "circuit breaker " + change.Name + " " + change.From + " -> " + change.To
			found := false
			for _, e := range entries {
				found = found || (field(e.Fields, "body") == want && e.Timestamp == float64(change.Time.UnixNano())/1e6)
			}
			if !found {
				t.Errorf("span %s: the breaker change %q is not among its logs %+v", sp.SpanID, want, entries)
			}
		}
	}
	if roots != 1 {
		t.Errorf("%d root spans", roots)
	}
}

// A consumer span's link to its producer is a reference.
func TestTraceReferencesAreSpanLinks(t *testing.T) {
	s := theShop(t)
	ctx := context.Background()
	var id string
	if err := s.st.Conn().QueryRow(ctx, "SELECT TraceId FROM `"+s.st.Database()+"`.otel_traces WHERE length(Links.TraceId) > 0 LIMIT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	stored, err := s.st.GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryTrace, TraceID: id})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	refs := column[json.RawMessage](t, r.Frames[0], "references")
	links := 0
	for i, sp := range stored.Spans {
		var got []struct{ TraceID, SpanID string }
		if err := json.Unmarshal(refs[i], &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(sp.Links) {
			t.Fatalf("span %s: %d references, %d links", sp.SpanID, len(got), len(sp.Links))
		}
		for j, l := range sp.Links {
			links++
			if got[j].TraceID != l.TraceID || got[j].SpanID != l.SpanID {
				t.Errorf("span %s: reference %+v, link %+v", sp.SpanID, got[j], l)
			}
		}
	}
	if links == 0 {
		t.Error("no link in the trace")
	}
}

// Trace IDs are checked before anything runs: a hostile one is a clear
// error, a well-formed unknown one is not found.
func TestTraceIDErrors(t *testing.T) {
	s := theShop(t)
	for _, tc := range []struct {
		id     string
		status backend.Status
		want   string
	}{
		{"' OR 1=1 --", backend.StatusBadRequest, "invalid trace ID"},
		{"0123456789abcdef0123456789abcdef'); DROP TABLE otel_traces; --", backend.StatusBadRequest, "invalid trace ID"},
		{"", backend.StatusBadRequest, "no trace ID"},
		{"0123456789abcdef0123456789abcdef", backend.StatusNotFound, "trace not found"},
	} {
		r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryTrace, TraceID: tc.id})
		if r.Error == nil || r.Status != tc.status || !strings.Contains(r.Error.Error(), tc.want) {
			t.Errorf("trace ID %q: status %d, %v; want %d %q", tc.id, r.Status, r.Error, tc.status, tc.want)
		}
	}
}

// Trace search: one row per trace of the matching spans, as the storage's
// search finds them, each trace ID linked to the trace query.
func TestTracesQuery(t *testing.T) {
	s := theShop(t)
	for _, q := range []plugin.Query{
		{QueryType: plugin.QueryTraces, Service: "checkout", Limit: 50},
		{QueryType: plugin.QueryTraces, Service: "payments", Status: "error", Limit: 500},
		{QueryType: plugin.QueryTraces, Service: "gateway", MinDuration: "50ms", MaxDuration: "2s", OrderBy: "slowest", Limit: 20},
		{QueryType: plugin.QueryTraces, Attributes: map[string]string{"flowlens.seq": "17"}},
		{QueryType: plugin.QueryTraces, Service: "' OR 1=1 --"},
	} {
		r := s.query(t, s.full(), q)
		if r.Error != nil {
			t.Fatalf("%+v: %v", q, r.Error)
		}
		f := r.Frames[0]
		if got := fieldTypes(f); !reflect.DeepEqual(got, tracesFields) {
			t.Errorf("fields\n got %v\nwant %v", got, tracesFields)
		}
		dur := func(s string) time.Duration {
			d, _ := time.ParseDuration(cmp.Or(s, "0s"))
			return d
		}
		minD, maxD := dur(q.MinDuration), dur(q.MaxDuration)
		spans, err := s.st.SearchSpans(context.Background(), storage.SpanQuery{Service: q.Service, Status: q.Status, Attributes: q.Attributes,
			MinDuration: minD, MaxDuration: maxD, Slowest: q.OrderBy == "slowest", From: s.from, To: s.to, Limit: q.Limit})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		seen := map[string]bool{}
		for _, sp := range spans {
			if !seen[sp.TraceID] {
				seen[sp.TraceID] = true
				want = append(want, sp.TraceID)
			}
		}
		got := column[string](t, f, "traceID")
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%+v: %d traces, search finds %d", q, len(got), len(want))
		}
		if q.Service != "" && strings.Contains(q.Service, "'") && len(got) != 0 {
			t.Errorf("hostile service found %d traces", len(got))
		}
		if q.Status == "error" {
			for _, st := range column[string](t, f, "status") {
				if st != "Error" {
					t.Errorf("status %s in an error search", st)
				}
			}
		}
		if q.OrderBy == "slowest" {
			d := column[float64](t, f, "duration")
			for i := 1; i < len(d); i++ {
				if d[i] > d[i-1] || d[i] < 50 || d[i] > 2000 {
					t.Errorf("durations %v not slowest first within [50ms, 2s]", d)
					break
				}
			}
		}
		fl, _ := f.FieldByName("traceID")
		links := fl.Config.Links
		if len(links) != 1 || links[0].Internal == nil || links[0].Internal.DatasourceUID != s.full().pluginContext().DataSourceInstanceSettings.UID {
			t.Fatalf("trace ID link %+v", links)
		}
		lq, _ := json.Marshal(links[0].Internal.Query)
		if string(lq) != `{"queryType":"trace","traceId":"${__value.raw}"}` {
			t.Errorf("link query %s", lq)
		}
	}
	r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryTraces, MinDuration: "a while"})
	if r.Error == nil || r.Status != backend.StatusBadRequest || !strings.Contains(r.Error.Error(), "minimum duration") {
		t.Errorf("bad duration: %d %v", r.Status, r.Error)
	}
}

// Log search as a logs frame; the trace's logs are every record stored with
// its ID.
func TestLogsQuery(t *testing.T) {
	s := theShop(t)
	change := s.res.Truth.Breakers[0]
	r := s.query(t, s.full(), plugin.Query{QueryType: plugin.QueryLogs, TraceID: change.TraceID, Limit: 1000})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	f := r.Frames[0]
	if got := fieldTypes(f); !reflect.DeepEqual(got, logFields) {
		t.Errorf("fields\n got %v\nwant %v", got, logFields)
	}
	if f.Meta == nil || f.Meta.Type != data.FrameTypeLogLines || f.Meta.PreferredVisualization != data.VisTypeLogs {
		t.Errorf("meta %+v", f.Meta)
	}
	stored, err := s.st.GetTrace(context.Background(), change.TraceID)
	if err != nil {
		t.Fatal(err)
	}
	bodies := column[string](t, f, "body")
	if len(bodies) != len(stored.Logs) || len(bodies) == 0 {
		t.Fatalf("%d log lines, %d stored with the trace", len(bodies), len(stored.Logs))
	}
	want := "circuit breaker " + change.Name + " " + change.From + " -> " + change.To
	ids := map[string]bool{}
	found := false
	for i, b := range bodies {
		found = found || b == want
		var labels map[string]string
		if err := json.Unmarshal(column[json.RawMessage](t, f, "labels")[i], &labels); err != nil || labels["service"] == "" {
			t.Errorf("labels %s: %v", column[json.RawMessage](t, f, "labels")[i], err)
		}
		if tid := column[string](t, f, "traceID")[i]; tid != change.TraceID {
			t.Errorf("trace ID %s", tid)
		}
		ids[column[string](t, f, "id")[i]] = true
	}
	if !found || len(ids) != len(bodies) {
		t.Errorf("breaker line found %v; %d distinct ids for %d lines", found, len(ids), len(bodies))
	}
	// severity at least warn, of one service
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryLogs, Service: "checkout", Severity: "warn", Limit: 1000})
	if r.Error != nil || r.Frames[0].Rows() == 0 {
		t.Fatalf("warnings of checkout: %v", r.Error)
	}
	for _, sev := range column[string](t, r.Frames[0], "severity") {
		if sev != "warn" && sev != "error" {
			t.Errorf("severity %s in a search for warn and above", sev)
		}
	}
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryLogs, TraceID: "nope"})
	if r.Error == nil || r.Status != backend.StatusBadRequest {
		t.Errorf("bad trace ID in a log search: %d %v", r.Status, r.Error)
	}
}
