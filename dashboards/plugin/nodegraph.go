package plugin

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/storage"
)

// nodeGraph answers a nodegraph query: the flow graph of the time range
// (flowgraph's model, from the rollups) as the two frames Grafana's Node
// Graph panel reads. Live breaker states and firing alerts are added when
// their APIs are configured; when one is unreachable the graph is still
// drawn and a notice says what is missing.
//
// The panel shows no producer-to-consumer delay, so its histograms are not
// summed: a third of what the query costs.
func (d *Datasource) nodeGraph(ctx context.Context, st *storage.Store, q query) backend.DataResponse {
	aggs, err := st.QueryEdgeSums(ctx, q.From, q.To, "", storage.ServerLatencyHistogram|storage.ClientLatencyHistogram)
	if err != nil {
		return errorResponse(err)
	}
	g := api.BuildGraph(aggs, nil, q.From, q.To, "storage")
	var notices []data.Notice
	if d.settings.AnalyzerURL != "" {
		if live, err := d.liveBreakers(ctx); err != nil {
			notices = append(notices, warning("live breaker states missing: flow analyzer API at %s: %v", d.settings.AnalyzerURL, err))
		} else {
			setLiveBreakers(&g, live)
		}
	}
	var alerts edgeAlerts
	if d.settings.AlertsURL != "" {
		if alerts, err = d.firingAlerts(ctx); err != nil {
			notices = append(notices, warning("firing alerts missing: alerts API at %s: %v", d.settings.AlertsURL, err))
		}
	}
	g = neighbourhood(g, q.Service, q.Depth, q.ConnectionType)
	if q.Service != "" && len(g.Nodes) == 0 {
		notices = append(notices, data.Notice{Severity: data.NoticeSeverityInfo,
			Text: fmt.Sprintf("%q has no edges between %s and %s", q.Service, q.From.Format("2006-01-02 15:04"), q.To.Format("2006-01-02 15:04"))})
	}
	nodes, edges := nodeGraphFrames(g, alerts)
	edges.Meta.Notices = notices
	return backend.DataResponse{Frames: data.Frames{nodes, edges}}
}

func warning(format string, args ...any) data.Notice {
	return data.Notice{Severity: data.NoticeSeverityWarning, Text: fmt.Sprintf(format, args...)}
}

// setLiveBreakers gives each edge the live state of its client's breaker
// towards its server.
func setLiveBreakers(g *api.Graph, live []api.Breaker) {
	by := map[[2]string]api.Breaker{}
	for _, b := range live {
		by[[2]string{b.Service, b.Target}] = b
	}
	g.Breakers = live
	for i := range g.Edges {
		if b, ok := by[[2]string{g.Edges[i].Client, g.Edges[i].Server}]; ok {
			g.Edges[i].Breaker = &b
		}
	}
}

// connMatches says whether an edge of connection type conn passes the
// filter: "" any, "unset" plain calls, else that type.
func connMatches(conn, filter string) bool {
	switch filter {
	case "":
		return true
	case "unset":
		return conn == storage.ConnectionUnset
	}
	return conn == filter
}

// neighbourhood keeps the edges that pass the connection type filter and,
// when service is not empty, lie within depth hops of it (an edge between
// two nodes depth hops away is beyond it; depth 0 means 1), and the nodes
// they touch. Node figures stay those of the whole graph.
func neighbourhood(g api.Graph, service string, depth int, conn string) api.Graph {
	edges := g.Edges[:0:0]
	for _, e := range g.Edges {
		if connMatches(e.ConnectionType, conn) {
			edges = append(edges, e)
		}
	}
	if service != "" {
		if depth <= 0 {
			depth = 1
		}
		dist := map[string]int{service: 0}
		frontier := []string{service}
		for hop := 1; hop <= depth && len(frontier) > 0; hop++ {
			var next []string
			for _, n := range frontier {
				for _, e := range edges {
					for _, p := range [][2]string{{e.Client, e.Server}, {e.Server, e.Client}} {
						if _, seen := dist[p[1]]; p[0] == n && !seen {
							dist[p[1]] = hop
							next = append(next, p[1])
						}
					}
				}
			}
			frontier = next
		}
		in := edges[:0:0]
		for _, e := range edges {
			dc, c := dist[e.Client]
			ds, s := dist[e.Server]
			if c && s && min(dc, ds) < depth {
				in = append(in, e)
			}
		}
		edges = in
	}
	touched := map[string]bool{}
	for _, e := range edges {
		touched[e.Client], touched[e.Server] = true, true
	}
	nodes := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if touched[n.ID] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes, g.Edges = nodes, edges
	return g
}

// Node and edge field names of Grafana's Node Graph panel.
const (
	fieldID            = "id"
	fieldTitle         = "title"
	fieldSubtitle      = "subtitle"
	fieldMainStat      = "mainstat"
	fieldSecondaryStat = "secondarystat"
	fieldColor         = "color"
	fieldSource        = "source"
	fieldTarget        = "target"
	fieldThickness     = "thickness"
	fieldHighlighted   = "highlighted"
)

// nodeGraphFrames shapes a graph for the Node Graph panel. Nodes: inbound
// requests/s and error share, arcs success/failed (summing to 1; a node
// without inbound requests is all success). Edges: requests/s and p99, the
// details of the flowgraph model, thickness by rate, and highlighted when a
// firing alert names the edge.
func nodeGraphFrames(g api.Graph, alerts edgeAlerts) (*data.Frame, *data.Frame) {
	n := len(g.Nodes)
	var (
		ids, titles, subtitles, colors = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		rates, errPct, arcOK, arcFail  = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		reqIn, reqOut, failIn          = make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, nd := range g.Nodes {
		ids[i], titles[i], subtitles[i] = nd.ID, nd.ID, nd.Type
		rates[i], errPct[i] = round(nd.RequestRate, 3), round(nd.ErrorPercent, 2)
		arcOK[i] = 1
		if nd.RequestsIn > 0 {
			arcFail[i] = float64(nd.FailedIn) / float64(nd.RequestsIn)
			arcOK[i] = 1 - arcFail[i]
		}
		reqIn[i], reqOut[i], failIn[i] = int64(nd.RequestsIn), int64(nd.RequestsOut), int64(nd.FailedIn)
		colors[i] = errorColor(nd.ErrorPercent)
	}
	nodes := data.NewFrame("nodes",
		data.NewField(fieldID, nil, ids),
		data.NewField(fieldTitle, nil, titles),
		data.NewField(fieldSubtitle, nil, subtitles),
		data.NewField(fieldMainStat, nil, rates).SetConfig(&data.FieldConfig{DisplayName: "Requests", Unit: "reqps"}),
		data.NewField(fieldSecondaryStat, nil, errPct).SetConfig(&data.FieldConfig{DisplayName: "Errors", Unit: "percent"}),
		data.NewField("arc__success", nil, arcOK).SetConfig(&data.FieldConfig{DisplayName: "Success", Color: fixedColor("green")}),
		data.NewField("arc__failed", nil, arcFail).SetConfig(&data.FieldConfig{DisplayName: "Failed", Color: fixedColor("red")}),
		data.NewField("detail__requests_in", nil, reqIn).SetConfig(&data.FieldConfig{DisplayName: "Requests in"}),
		data.NewField("detail__requests_out", nil, reqOut).SetConfig(&data.FieldConfig{DisplayName: "Requests out"}),
		data.NewField("detail__failed_in", nil, failIn).SetConfig(&data.FieldConfig{DisplayName: "Failed in"}),
		data.NewField(fieldColor, nil, colors),
	)
	nodes.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph}

	m := len(g.Edges)
	var (
		eids, sources, targets, conns, brk, alertNames = make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
		eRate, p50, p95, p99, ePct, thick              = make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m)
		ratio                                          = make([]*float64, m)
		sent, recv, retries, trans                     = make([]int64, m), make([]int64, m), make([]int64, m), make([]int64, m)
		requests, failed                               = make([]int64, m), make([]int64, m)
		highlighted                                    = make([]bool, m)
	)
	maxRate := 0.0
	for _, e := range g.Edges {
		maxRate = math.Max(maxRate, e.RequestRate)
	}
	for i, e := range g.Edges {
		eids[i], sources[i], targets[i] = e.ID, e.Client, e.Server
		conns[i] = e.ConnectionType
		if conns[i] == "" {
			conns[i] = "unset"
		}
		eRate[i], ePct[i] = round(e.RequestRate, 3), round(e.ErrorPercent, 2)
		p50[i], p95[i], p99[i] = round(e.P50ms, 2), round(e.P95ms, 2), round(e.P99ms, 2)
		if e.DeliveryRatio != nil {
			r := round(*e.DeliveryRatio, 4)
			ratio[i] = &r
		}
		sent[i], recv[i], retries[i], trans[i] = int64(e.MessagesSent), int64(e.MessagesReceived), int64(e.Retries), int64(e.BreakerTransitions)
		requests[i], failed[i] = int64(e.Requests), int64(e.Failed)
		brk[i] = breakerState(e)
		thick[i] = 1
		if maxRate > 0 {
			thick[i] = round(1+4*math.Sqrt(e.RequestRate/maxRate), 1)
		}
		if names := alerts.of(e.Client, e.Server, e.ConnectionType); len(names) > 0 {
			highlighted[i] = true
			alertNames[i] = strings.Join(names, ", ")
		}
	}
	edges := data.NewFrame("edges",
		data.NewField(fieldID, nil, eids),
		data.NewField(fieldSource, nil, sources),
		data.NewField(fieldTarget, nil, targets),
		data.NewField(fieldMainStat, nil, eRate).SetConfig(&data.FieldConfig{DisplayName: "Requests", Unit: "reqps"}),
		data.NewField(fieldSecondaryStat, nil, p99).SetConfig(&data.FieldConfig{DisplayName: "p99", Unit: "ms"}),
		data.NewField("detail__requests", nil, requests).SetConfig(&data.FieldConfig{DisplayName: "Requests in range"}),
		data.NewField("detail__failed", nil, failed).SetConfig(&data.FieldConfig{DisplayName: "Failed in range"}),
		data.NewField("detail__p50", nil, p50).SetConfig(&data.FieldConfig{DisplayName: "p50", Unit: "ms"}),
		data.NewField("detail__p95", nil, p95).SetConfig(&data.FieldConfig{DisplayName: "p95", Unit: "ms"}),
		data.NewField("detail__error_percent", nil, ePct).SetConfig(&data.FieldConfig{DisplayName: "Errors", Unit: "percent"}),
		data.NewField("detail__connection_type", nil, conns).SetConfig(&data.FieldConfig{DisplayName: "Connection"}),
		data.NewField("detail__delivery_ratio", nil, ratio).SetConfig(&data.FieldConfig{DisplayName: "Delivered (received/sent)", Unit: "percentunit"}),
		data.NewField("detail__messages_sent", nil, sent).SetConfig(&data.FieldConfig{DisplayName: "Messages sent"}),
		data.NewField("detail__messages_received", nil, recv).SetConfig(&data.FieldConfig{DisplayName: "Messages received"}),
		data.NewField("detail__retries", nil, retries).SetConfig(&data.FieldConfig{DisplayName: "Retries"}),
		data.NewField("detail__breaker", nil, brk).SetConfig(&data.FieldConfig{DisplayName: "Breaker"}),
		data.NewField("detail__breaker_transitions", nil, trans).SetConfig(&data.FieldConfig{DisplayName: "Breaker changes"}),
		data.NewField("detail__alerts", nil, alertNames).SetConfig(&data.FieldConfig{DisplayName: "Firing alerts"}),
		data.NewField(fieldThickness, nil, thick),
		data.NewField(fieldHighlighted, nil, highlighted),
	)
	edges.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeNodeGraph}
	return nodes, edges
}

// breakerState is the live state of the edge's breaker when the analyzer
// gave it, else the worst state requests saw in the range ("" when the
// client has no breaker towards the server).
func breakerState(e api.Edge) string {
	if e.Breaker != nil {
		return e.Breaker.State
	}
	if b := e.BreakerRequests; b != nil {
		switch {
		case b.Open > 0:
			return "open"
		case b.HalfOpen > 0:
			return "half_open"
		case b.Closed > 0:
			return "closed"
		}
	}
	return ""
}

func errorColor(pct float64) string {
	switch {
	case pct >= 5:
		return "red"
	case pct >= 1:
		return "orange"
	}
	return "green"
}

func fixedColor(c string) map[string]any { return map[string]any{"mode": "fixed", "fixedColor": c} }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
