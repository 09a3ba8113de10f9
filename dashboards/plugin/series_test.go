package plugin_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// series is one frame of an edges query.
type series struct {
	metric string
	labels data.Labels
	times  []time.Time
	values []*float64
}

func seriesOf(t *testing.T, r backend.DataResponse) []series {
	t.Helper()
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	var out []series
	for _, f := range r.Frames {
		if f.Meta == nil || f.Meta.Type != data.FrameTypeTimeSeriesMulti {
			t.Fatalf("frame %s: meta %+v, want a time series frame", f.Name, f.Meta)
		}
		if got := fieldTypes(f); len(got) != 2 || got[0] != "time:time.Time" || got[1] != f.Name+":*float64" {
			t.Fatalf("frame %s fields %v", f.Name, got)
		}
		out = append(out, series{metric: f.Name, labels: f.Fields[1].Labels,
			times: column[time.Time](t, f, "time"), values: column[*float64](t, f, f.Name)})
	}
	return out
}

const step = 5 * time.Minute

// The series of an edge sum to the truth: requests (rate x step), failed
// requests, retries; the breaker forced open shows as open; every frame is
// numeric and labelled for alerting.
func TestEdgeSeries(t *testing.T) {
	s := theShop(t)
	tr := s.res.Truth
	want := truthEdges(tr)
	maxPoints := int64(s.to.Sub(s.from)/step) + 1 // the step is range/maxPoints rounded up to minutes: 5m
	r := s.queryRange(t, s.full(), plugin.Query{QueryType: plugin.QueryEdges, Client: "checkout", Server: "payments"}, s.from, s.to, maxPoints)
	all := seriesOf(t, r)
	// every metric of the two checkout->payments edges but the delivery
	// ratio, which plain calls do not have
	if len(all) != 2*(len(plugin.EdgeMetrics)-1) {
		t.Fatalf("%d frames, want %d metrics for the two checkout->payments edges", len(all), len(plugin.EdgeMetrics)-1)
	}
	sums := map[string]float64{}
	sawOpen := false
	for _, sr := range all {
		conn := sr.labels["connection_type"]
		if sr.labels["client"] != "checkout" || sr.labels["server"] != "payments" || (conn != "unset" && conn != "virtual_node") {
			t.Fatalf("labels %v", sr.labels)
		}
		if sr.metric == "delivery_ratio" || !slices.ContainsFunc(sr.values, func(v *float64) bool { return v != nil }) {
			t.Errorf("%s of %v: a series without values", sr.metric, sr.labels)
		}
		for i, v := range sr.values {
			if i > 0 && sr.times[i].Sub(sr.times[i-1]) != step {
				t.Fatalf("%s: steps %s apart", sr.metric, sr.times[i].Sub(sr.times[i-1]))
			}
			if v == nil {
				continue
			}
			switch sr.metric {
			case "rate", "errors", "retries":
				// the first and last steps are cut by the range
				lo, hi := maxT(sr.times[i], s.from), minT(sr.times[i].Add(step), s.to)
				sums[conn+"/"+sr.metric] += *v * hi.Sub(lo).Seconds()
			case "breaker_state":
				sawOpen = sawOpen || *v == 2
			}
		}
	}
	for conn, key := range map[string]string{"unset": "checkout->payments|", "virtual_node": "checkout->payments|virtual_node"} {
		w := want[key]
		for metric, n := range map[string]int64{"rate": w.requests, "errors": w.failed, "retries": w.retries} {
			if got := sums[conn+"/"+metric]; math.Abs(got-float64(n)) > 0.01 {
				t.Errorf("%s %s: the series sum to %.3f, the truth has %d", key, metric, got, n)
			}
		}
	}
	if !sawOpen {
		t.Error("breaker_state never open on checkout->payments")
	}

	// One metric; an unknown one is refused.
	r = s.queryRange(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryEdges, Client: "gateway", Server: "checkout", Metric: "p99"}, s.from, s.to, maxPoints)
	p99 := seriesOf(t, r)
	if len(p99) != 1 || p99[0].metric != "p99" {
		t.Fatalf("p99 only: %d frames", len(p99))
	}
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryEdges, Metric: "vibes"})
	if r.Error == nil || r.Status != backend.StatusBadRequest {
		t.Errorf("unknown metric: %d %v", r.Status, r.Error)
	}
	// Nothing matches: one empty, typed frame ("no data" for alerting).
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryEdges, Client: "' OR 1=1 --"})
	if r.Error != nil || len(r.Frames) != 1 || r.Frames[0].Rows() != 0 {
		t.Errorf("hostile client: %v, %d frames", r.Error, len(r.Frames))
	}
}

// The delivery ratio of each step divides what the consumer received by
// everything the producer sent in it, whichever side the query names.
func TestEdgeSeriesDeliveryRatio(t *testing.T) {
	s := theShop(t)
	maxPoints := int64(s.to.Sub(s.from)/step) + 1       // the step is range/maxPoints rounded up to minutes: 5m
	ratioOf := func(q plugin.Query) map[int64]float64 { // by unix second
		t.Helper()
		q.QueryType, q.Metric = plugin.QueryEdges, "delivery_ratio"
		out := map[int64]float64{}
		for _, sr := range seriesOf(t, s.queryRange(t, s.clickhouseOnly(), q, s.from, s.to, maxPoints)) {
			if sr.labels["client"] != "checkout" || sr.labels["server"] != "fulfilment" {
				continue
			}
			for i, v := range sr.values {
				if v != nil {
					out[sr.times[i].Unix()] = *v
				}
			}
		}
		return out
	}
	// from the stored rollups: received on the edge / sent on all of
	// checkout's edges, per step
	points, err := s.st.QueryEdgeSeries(context.Background(), storage.EdgeFilter{Client: "checkout"}, s.from, s.to, step)
	if err != nil {
		t.Fatal(err)
	}
	sent, received := map[time.Time]uint64{}, map[time.Time]uint64{}
	for _, p := range points {
		sent[p.Time] += p.MessagesSent
		if p.Server == "fulfilment" && p.ConnectionType == flowmodel.ConnectionMessaging {
			received[p.Time] += p.MessagesReceived
		}
	}
	want := map[int64]float64{}
	below := false
	for ts, n := range received {
		if n > 0 {
			want[ts.Unix()] = math.Round(float64(n)/float64(sent[ts])*1e6) / 1e6
			below = below || want[ts.Unix()] < 1
		}
	}
	if !below {
		t.Fatal("the dropped messages do not show in the stored rollups")
	}
	for _, q := range []plugin.Query{{Client: "checkout", Server: "fulfilment"}, {Server: "fulfilment"}, {Service: "fulfilment"}, {}} {
		if got := ratioOf(q); !reflect.DeepEqual(got, want) {
			t.Errorf("query %+v: ratios %v, want %v", q, got, want)
		}
	}
}

// Services and operations for template variables, and the same through the
// resources the query editor calls.
func TestNamesAndResources(t *testing.T) {
	s := theShop(t)
	var wantNodes []string
	seen := map[string]bool{}
	for k := range truthEdges(s.res.Truth) {
		for _, n := range strings.Split(strings.Split(k, "|")[0], "->") {
			if !seen[n] {
				seen[n] = true
				wantNodes = append(wantNodes, n)
			}
		}
	}
	sort.Strings(wantNodes)
	r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryServices})
	if r.Error != nil || !reflect.DeepEqual(fieldTypes(r.Frames[0]), []string{"service:string"}) {
		t.Fatalf("services: %v %v", r.Error, r.Frames)
	}
	if got := column[string](t, r.Frames[0], "service"); !reflect.DeepEqual(got, wantNodes) {
		t.Errorf("services %v, want %v", got, wantNodes)
	}
	ops, err := s.st.Operations(context.Background(), "checkout", s.from, s.to)
	if err != nil || len(ops) == 0 {
		t.Fatalf("operations of checkout: %v %v", ops, err)
	}
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryOperations, Service: "checkout"})
	if r.Error != nil || !reflect.DeepEqual(column[string](t, r.Frames[0], "operation"), ops) {
		t.Errorf("operations: %v", r.Error)
	}

	ms := func(tm time.Time) string { return strconv.FormatInt(tm.UnixMilli(), 10) }
	rng := "from=" + ms(s.from) + "&to=" + ms(s.to)
	status, body := s.resource(t, s.full(), "services?"+rng)
	var names []string
	if status != http.StatusOK || json.Unmarshal(body, &names) != nil || !reflect.DeepEqual(names, wantNodes) {
		t.Errorf("/services: %d %s", status, body)
	}
	status, body = s.resource(t, s.full(), "operations?service=checkout&"+rng)
	if status != http.StatusOK || json.Unmarshal(body, &names) != nil || !reflect.DeepEqual(names, ops) {
		t.Errorf("/operations: %d %s", status, body)
	}
	status, body = s.resource(t, s.full(), "edges?"+rng)
	var edges []plugin.EdgeRef
	if status != http.StatusOK || json.Unmarshal(body, &edges) != nil {
		t.Fatalf("/edges: %d %s", status, body)
	}
	gotEdges := map[string]bool{}
	for _, e := range edges {
		gotEdges[e.Client+"->"+e.Server+"|"+e.ConnectionType] = true
	}
	for k := range truthEdges(s.res.Truth) {
		if !gotEdges[k] {
			t.Errorf("/edges lacks %s", k)
		}
	}
	status, body = s.resource(t, s.full(), "options")
	if status != http.StatusOK || !strings.Contains(string(body), `"delivery_ratio"`) {
		t.Errorf("/options: %d %s", status, body)
	}
	for path, want := range map[string]int{
		"services?from=yesterday":                         http.StatusBadRequest,
		"operations?" + rng:                               http.StatusBadRequest, // no service
		"operations?service=%27%20OR%201%3D1%20--&" + rng: http.StatusOK,         // data, no rows
		"nothing-here":                                    http.StatusNotFound,
	} {
		status, body := s.resource(t, s.full(), path)
		if status != want {
			t.Errorf("%s: %d %s, want %d", path, status, body, want)
		}
	}
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
