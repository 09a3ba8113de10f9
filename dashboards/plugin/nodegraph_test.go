package plugin_test

import (
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/gen"
)

var (
	nodeFields = []string{"id:string", "title:string", "subtitle:string", "mainstat:float64", "secondarystat:float64",
		"arc__success:float64", "arc__failed:float64", "detail__requests_in:int64", "detail__requests_out:int64",
		"detail__failed_in:int64", "color:string"}
	edgeFields = []string{"id:string", "source:string", "target:string", "mainstat:float64", "secondarystat:float64",
		"detail__requests:int64", "detail__failed:int64", "detail__p50:float64", "detail__p95:float64",
		"detail__error_percent:float64", "detail__connection_type:string", "detail__delivery_ratio:*float64",
		"detail__messages_sent:int64", "detail__messages_received:int64", "detail__retries:int64", "detail__breaker:string",
		"detail__breaker_transitions:int64", "detail__alerts:string", "thickness:float64", "highlighted:bool"}
)

// truthEdge is the truth of one graph edge (summed over destinations).
type truthEdge struct{ requests, failed, retries int64 }

func truthEdges(tr *gen.Truth) map[string]truthEdge {
	out := map[string]truthEdge{}
	for _, e := range tr.Edges {
		k := e.Client + "->" + e.Server + "|" + e.ConnectionType
		c := out[k]
		c.requests += int64(e.Requests)
		c.failed += int64(e.Failed)
		c.retries += int64(e.Retries)
		out[k] = c
	}
	return out
}

// truthDeliveryRatios are received / everything the producer sent, per
// producer -> consumer edge: the flow analyzer's definition.
func truthDeliveryRatios(tr *gen.Truth) map[string]float64 {
	producerOf := map[string]string{}
	for _, e := range tr.Edges {
		if e.Destination != "" {
			producerOf[e.Destination] = e.Client
		}
	}
	sent, received := map[string]uint64{}, map[string]uint64{}
	for _, q := range tr.Queues {
		p := producerOf[q.Destination]
		sent[p] += q.Sent
		for consumer, n := range q.Received {
			received[p+"->"+consumer+"|"+flowmodel.ConnectionMessaging] += n
		}
	}
	out := map[string]float64{}
	for k, n := range received {
		out[k] = float64(n) / float64(sent[strings.Split(k, "->")[0]])
	}
	return out
}

type edgeRow struct {
	requests, failed, retries, transitions int64
	rate, p99, errPct, thickness           float64
	ratio                                  *float64
	conn, breaker, alerts                  string
	highlighted                            bool
}

func edgeRows(t *testing.T, f *data.Frame) map[string]edgeRow {
	t.Helper()
	ids := column[string](t, f, "id")
	var (
		req, fail, retr, trans = column[int64](t, f, "detail__requests"), column[int64](t, f, "detail__failed"), column[int64](t, f, "detail__retries"), column[int64](t, f, "detail__breaker_transitions")
		rate, p99, pct, thick  = column[float64](t, f, "mainstat"), column[float64](t, f, "secondarystat"), column[float64](t, f, "detail__error_percent"), column[float64](t, f, "thickness")
		ratio                  = column[*float64](t, f, "detail__delivery_ratio")
		conn, brk, alerts      = column[string](t, f, "detail__connection_type"), column[string](t, f, "detail__breaker"), column[string](t, f, "detail__alerts")
		hl                     = column[bool](t, f, "highlighted")
		src, dst               = column[string](t, f, "source"), column[string](t, f, "target")
	)
	out := map[string]edgeRow{}
	for i, id := range ids {
		if !strings.HasPrefix(id, src[i]+"->"+dst[i]+"|") {
			t.Errorf("edge %s: source %s, target %s", id, src[i], dst[i])
		}
		out[id] = edgeRow{req[i], fail[i], retr[i], trans[i], rate[i], p99[i], pct[i], thick[i], ratio[i], conn[i], brk[i], alerts[i], hl[i]}
	}
	return out
}

// The node graph is the shop's graph: every edge of the truth with its
// requests, failures and retries, the queue's delivery ratio, the forced-open
// breaker, and the edge of the firing alerts highlighted.
func TestNodeGraphIsTheShop(t *testing.T) {
	s := theShop(t)
	tr := s.res.Truth
	r := s.query(t, s.full(), plugin.Query{QueryType: plugin.QueryNodeGraph})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	if len(r.Frames) != 2 || r.Frames[0].Name != "nodes" || r.Frames[1].Name != "edges" {
		t.Fatalf("frames %v", r.Frames)
	}
	nodes, edges := r.Frames[0], r.Frames[1]
	for _, f := range r.Frames {
		if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeNodeGraph {
			t.Errorf("frame %s: meta %+v, want preferredVisualisationType nodeGraph", f.Name, f.Meta)
		}
	}
	if got := fieldTypes(nodes); !reflect.DeepEqual(got, nodeFields) {
		t.Errorf("node fields\n got %v\nwant %v", got, nodeFields)
	}
	if got := fieldTypes(edges); !reflect.DeepEqual(got, edgeFields) {
		t.Errorf("edge fields\n got %v\nwant %v", got, edgeFields)
	}
	if len(r.Frames[1].Meta.Notices) != 0 {
		t.Errorf("notices %+v", r.Frames[1].Meta.Notices)
	}

	rows := edgeRows(t, edges)
	want := truthEdges(tr)
	if len(rows) != len(want) {
		t.Errorf("%d edges, the truth has %d: %v", len(rows), len(want), sortedKeys(rows))
	}
	// Rates are over the time from the range's first call to its last, the
	// same for every edge: the run's length, less the last call's duration.
	ug := rows["user->gateway|"]
	secs := float64(ug.requests) / ug.rate
	if run := tr.End.Sub(tr.Start).Seconds(); secs > run || secs < run-5 {
		t.Errorf("rates are over %.1f s, the run took %.1f s", secs, run)
	}
	for k, w := range want {
		g, ok := rows[k]
		if !ok {
			t.Errorf("edge %s of the truth is missing", k)
			continue
		}
		if g.requests != w.requests || g.failed != w.failed || g.retries != w.retries {
			t.Errorf("edge %s: requests/failed/retries %d/%d/%d, truth %d/%d/%d", k, g.requests, g.failed, g.retries, w.requests, w.failed, w.retries)
		}
		if math.Abs(g.rate-float64(w.requests)/secs) > 0.002 {
			t.Errorf("edge %s: %.3f requests/s, want %.3f", k, g.rate, float64(w.requests)/secs)
		}
		if w.requests > 0 && math.Abs(g.errPct-100*float64(w.failed)/float64(w.requests)) > 0.01 {
			t.Errorf("edge %s: %.2f%% errors, truth %d of %d", k, g.errPct, w.failed, w.requests)
		}
		if g.thickness < 1 || g.thickness > 5 {
			t.Errorf("edge %s: thickness %v", k, g.thickness)
		}
	}
	ratios := truthDeliveryRatios(tr)
	if len(ratios) == 0 {
		t.Fatal("the truth has no messaging edges")
	}
	for k, g := range rows {
		w, isQueue := ratios[k]
		switch {
		case isQueue && (g.ratio == nil || math.Abs(*g.ratio-w) > 0.0001):
			t.Errorf("edge %s: delivery ratio %v, truth %.4f", k, g.ratio, w)
		case !isQueue && g.ratio != nil:
			t.Errorf("edge %s: delivery ratio %v on an edge without consumers", k, *g.ratio)
		}
	}
	if q := tr.Queue("orders"); q == nil || q.Dropped == 0 {
		t.Fatalf("no drops on the orders queue in the truth: %+v", q)
	}

	// The live state of the breaker is the analyzer's; its changes in the
	// range are the truth's.
	cp := rows["checkout->payments|"]
	var last string
	var changes int64
	for _, b := range tr.Breakers {
		if b.Service == "checkout" && b.Name == "payments" {
			last = b.To
			changes++
		}
	}
	if changes == 0 || cp.breaker != last || cp.transitions != changes {
		t.Errorf("checkout->payments breaker %q with %d changes; truth: %d changes, last to %q", cp.breaker, cp.transitions, changes, last)
	}
	// Firing alerts, by client/server labels and by breaker labels,
	// highlight every edge between checkout and payments (the calls the
	// open breaker cut short end on the virtual edge); a pending one does
	// not highlight.
	for k, g := range rows {
		ours := strings.HasPrefix(k, "checkout->payments|")
		if ours != g.highlighted || ours != (g.alerts == "BreakerOpen, CheckoutPaymentsErrors") {
			t.Errorf("edge %s: highlighted %v, alerts %q", k, g.highlighted, g.alerts)
		}
	}
	if _, ok := rows["checkout->payments|virtual_node"]; !ok {
		t.Error("no virtual edge for the calls the open breaker cut short")
	}

	// Nodes: arcs sum to 1, inbound requests are the truth's.
	ids := column[string](t, nodes, "id")
	ok, failed := column[float64](t, nodes, "arc__success"), column[float64](t, nodes, "arc__failed")
	in := column[int64](t, nodes, "detail__requests_in")
	wantIn := map[string]int64{}
	for k, w := range want {
		wantIn[strings.Split(strings.Split(k, "|")[0], "->")[1]] += w.requests
	}
	for i, id := range ids {
		if math.Abs(ok[i]+failed[i]-1) > 1e-9 {
			t.Errorf("node %s: arcs %v + %v", id, ok[i], failed[i])
		}
		if in[i] != wantIn[id] {
			t.Errorf("node %s: %d requests in, truth %d", id, in[i], wantIn[id])
		}
	}

	// Without the analyzer's API the breaker is the worst state requests
	// saw in the range: the calls made while it was forced open are those
	// it cut short, on the virtual edge.
	r = s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryNodeGraph})
	rows = edgeRows(t, r.Frames[1])
	if g := rows["checkout->payments|virtual_node"]; g.breaker != "open" || g.highlighted {
		t.Errorf("without the live APIs, cut-short calls: breaker %q, highlighted %v", g.breaker, g.highlighted)
	}
	if g := rows["checkout->payments|"]; g.breaker != "closed" {
		t.Errorf("without the live APIs, calls that went through: breaker %q", g.breaker)
	}
}

// A service's neighbourhood and a connection type narrow the graph.
func TestNodeGraphFilters(t *testing.T) {
	s := theShop(t)
	want := truthEdges(s.res.Truth)
	ids := func(q plugin.Query) []string {
		t.Helper()
		r := s.query(t, s.clickhouseOnly(), q)
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		out := column[string](t, r.Frames[1], "id")
		sort.Strings(out)
		return out
	}
	near := func(service string, depth int) []string {
		adj := map[string][]string{}
		for k := range want {
			cs := strings.Split(strings.Split(k, "|")[0], "->")
			adj[cs[0]], adj[cs[1]] = append(adj[cs[0]], cs[1]), append(adj[cs[1]], cs[0])
		}
		dist := map[string]int{service: 0}
		for hop, frontier := 1, []string{service}; hop <= depth; hop++ {
			var next []string
			for _, n := range frontier {
				for _, m := range adj[n] {
					if _, ok := dist[m]; !ok {
						dist[m] = hop
						next = append(next, m)
					}
				}
			}
			frontier = next
		}
		var out []string
		for k := range want {
			cs := strings.Split(strings.Split(k, "|")[0], "->")
			dc, c := dist[cs[0]]
			ds, d := dist[cs[1]]
			if c && d && min(dc, ds) < depth {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, depth := range []int{1, 2} {
		got, exp := ids(plugin.Query{QueryType: plugin.QueryNodeGraph, Service: "payments", Depth: depth}), near("payments", depth)
		if !reflect.DeepEqual(got, exp) || len(got) == 0 {
			t.Errorf("payments, depth %d:\n got %v\nwant %v", depth, got, exp)
		}
	}
	got := ids(plugin.Query{QueryType: plugin.QueryNodeGraph, ConnectionType: flowmodel.ConnectionDatabase})
	var exp []string
	for k := range want {
		if strings.HasSuffix(k, "|"+flowmodel.ConnectionDatabase) {
			exp = append(exp, k)
		}
	}
	sort.Strings(exp)
	if !reflect.DeepEqual(got, exp) || len(got) == 0 {
		t.Errorf("database edges:\n got %v\nwant %v", got, exp)
	}
	// A name nobody has, hostile or not, is an empty graph with a notice.
	for _, svc := range []string{"nobody", "' OR 1=1 --"} {
		r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryNodeGraph, Service: svc})
		if r.Error != nil || r.Frames[1].Rows() != 0 || len(r.Frames[1].Meta.Notices) != 1 {
			t.Errorf("service %q: %v, %d edges, notices %+v", svc, r.Error, r.Frames[1].Rows(), r.Frames[1].Meta.Notices)
		}
	}
	r := s.query(t, s.clickhouseOnly(), plugin.Query{QueryType: plugin.QueryNodeGraph, ConnectionType: "carrier_pigeon"})
	if r.Error == nil || !strings.Contains(r.Error.Error(), "connection type") {
		t.Errorf("unknown connection type: %v", r.Error)
	}
}
