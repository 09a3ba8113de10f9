package plugin

import (
	"context"
	"math"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// nodeGraph answers a nodegraph query: the flow graph of the time range
// (query.Reader.Graph) as the two frames Grafana's Node Graph panel reads;
// what the live APIs could not add is said in notices.
//
// The panel shows no producer-to-consumer delay, so its histograms are not
// summed: a third of what the query costs.
func (d *Datasource) nodeGraph(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	g, err := d.reader(st).Graph(ctx, query.GraphRequest{From: q.From, To: q.To, Service: q.Service, Depth: q.Depth, ConnectionType: q.ConnectionType,
		Histograms: storage.ServerLatencyHistogram | storage.ClientLatencyHistogram})
	if err != nil {
		return errorResponse(err)
	}
	nodes, edges := nodeGraphFrames(g)
	for _, n := range g.Notices {
		sev := data.NoticeSeverityWarning
		if n.Severity == query.NoticeInfo {
			sev = data.NoticeSeverityInfo
		}
		edges.Meta.Notices = append(edges.Meta.Notices, data.Notice{Severity: sev, Text: n.Text})
	}
	return backend.DataResponse{Frames: data.Frames{nodes, edges}}
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
func nodeGraphFrames(g query.Graph) (*data.Frame, *data.Frame) {
	n := len(g.Nodes)
	var (
		ids, titles, subtitles, colors = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		rates, errPct, arcOK, arcFail  = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		reqIn, reqOut, failIn          = make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, nd := range g.Nodes {
		ids[i], titles[i], subtitles[i] = nd.ID, nd.ID, nd.Type
		rates[i], errPct[i] = query.Round(nd.RequestRate, 3), query.Round(nd.ErrorPercent, 2)
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
		conns[i] = flowmodel.ConnectionName(e.ConnectionType)
		eRate[i], ePct[i] = query.Round(e.RequestRate, 3), query.Round(e.ErrorPercent, 2)
		p50[i], p95[i], p99[i] = query.Round(e.P50ms, 2), query.Round(e.P95ms, 2), query.Round(e.P99ms, 2)
		if e.DeliveryRatio != nil {
			r := query.Round(*e.DeliveryRatio, 4)
			ratio[i] = &r
		}
		sent[i], recv[i], retries[i], trans[i] = int64(e.MessagesSent), int64(e.MessagesReceived), int64(e.Retries), int64(e.BreakerTransitions)
		requests[i], failed[i] = int64(e.Requests), int64(e.Failed)
		brk[i] = e.BreakerState
		thick[i] = 1
		if maxRate > 0 {
			thick[i] = query.Round(1+4*math.Sqrt(e.RequestRate/maxRate), 1)
		}
		if len(e.Alerts) > 0 {
			highlighted[i] = true
			alertNames[i] = strings.Join(e.Alerts, ", ")
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
