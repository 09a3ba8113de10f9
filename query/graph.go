package query

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

// GraphRequest asks for the flow graph of [From, To).
type GraphRequest struct {
	From, To time.Time
	// Service, when not empty, keeps its neighbourhood: the edges within
	// Depth hops of it (0 means 1).
	Service string
	Depth   int
	// ConnectionType keeps the edges of one type ("" any; see flowmodel.ConnectionFilters).
	ConnectionType string
	// Histograms are the latency histograms to sum (0: all of them); a view
	// that shows no delay saves a third of the query by leaving it out.
	Histograms storage.Histograms
}

// Validate says what the user must change.
func (r GraphRequest) Validate() error {
	if err := CheckRange(r.From, r.To); err != nil {
		return err
	}
	if r.Depth < 0 || r.Depth > MaxDepth {
		return fmt.Errorf("%w: depth %d: want 0 (everything) to %d", ErrBadRequest, r.Depth, MaxDepth)
	}
	return CheckConnectionType(r.ConnectionType)
}

// Graph is flowgraph's model of a range with what the live parts add.
type Graph struct {
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	FirstCall   *time.Time    `json:"first_call,omitempty"`
	LastCall    *time.Time    `json:"last_call,omitempty"`
	RateSeconds float64       `json:"rate_seconds"`
	Nodes       []api.Node    `json:"nodes"`
	Edges       []Edge        `json:"edges"`
	Breakers    []api.Breaker `json:"breakers,omitempty"`
	// Notices say what is missing (a live API that did not answer) or why
	// the graph is empty.
	Notices []Notice `json:"notices,omitempty"`
}

// Edge is an edge of the graph with its breaker and alerts.
type Edge struct {
	api.Edge
	// BreakerState is the live state of the client's breaker towards the
	// server when the analyzer gave it, else the worst state requests saw
	// in the range: closed, half_open, open, or "" without a breaker.
	BreakerState string `json:"breaker_state,omitempty"`
	// Alerts are the names of the firing alerts about the edge, sorted.
	Alerts []string `json:"alerts,omitempty"`
}

// Notice severities.
const (
	NoticeInfo    = "info"
	NoticeWarning = "warning"
)

// Notice is a message for the person looking at an answer.
type Notice struct {
	Severity string `json:"severity"`
	Text     string `json:"text"`
}

// Graph answers a GraphRequest: the rollups of the range as flowgraph
// builds them (api.BuildGraph), node figures those of the whole graph. Live
// breaker states and firing alerts are added when their sources are set;
// when one fails the graph is still drawn and a notice says what is missing.
func (r Reader) Graph(ctx context.Context, req GraphRequest) (Graph, error) {
	if err := req.Validate(); err != nil {
		return Graph{}, err
	}
	h := req.Histograms
	if h == 0 {
		h = storage.AllHistograms
	}
	aggs, err := r.Store.QueryEdgeSums(ctx, req.From, req.To, "", h)
	if err != nil {
		return Graph{}, err
	}
	g := api.BuildGraph(aggs, nil, req.From, req.To, "storage")
	var notices []Notice
	if r.Breakers != nil {
		if live, err := r.Breakers.Breakers(ctx); err != nil {
			notices = append(notices, Notice{NoticeWarning, fmt.Sprintf("live breaker states missing: %s: %v", describe(r.Breakers), err)})
		} else {
			setLiveBreakers(&g, live)
		}
	}
	var alerts edgeAlerts
	if r.Alerts != nil {
		if all, err := r.Alerts.Alerts(ctx); err != nil {
			notices = append(notices, Notice{NoticeWarning, fmt.Sprintf("firing alerts missing: %s: %v", describe(r.Alerts), err)})
		} else {
			alerts = firingByEdge(all)
		}
	}
	g = neighbourhood(g, req.Service, req.Depth, req.ConnectionType)
	if req.Service != "" && len(g.Nodes) == 0 {
		notices = append(notices, Notice{NoticeInfo,
			fmt.Sprintf("%q has no edges between %s and %s", req.Service, req.From.Format("2006-01-02 15:04"), req.To.Format("2006-01-02 15:04"))})
	}
	out := Graph{From: g.From, To: g.To, FirstCall: g.FirstCall, LastCall: g.LastCall, RateSeconds: g.RateSeconds,
		Nodes: g.Nodes, Edges: make([]Edge, len(g.Edges)), Breakers: g.Breakers, Notices: notices}
	for i, e := range g.Edges {
		out.Edges[i] = Edge{Edge: e, BreakerState: BreakerState(e), Alerts: alerts.of(e.Client, e.Server, e.ConnectionType)}
	}
	return out, nil
}

// describe names a source for notices: "flow analyzer API at http://…".
func describe(src any) string {
	if s, ok := src.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", src)
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

// BreakerState is the live state of the edge's breaker when the analyzer
// gave it, else the worst state requests saw in the range ("" when the
// client has no breaker towards the server).
func BreakerState(e api.Edge) string {
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

// neighbourhood keeps the edges that pass the connection type filter and,
// when service is not empty, lie within depth hops of it (an edge between
// two nodes depth hops away is beyond it; depth 0 means 1), and the nodes
// they touch. Node figures stay those of the whole graph.
func neighbourhood(g api.Graph, service string, depth int, conn string) api.Graph {
	edges := g.Edges[:0:0]
	for _, e := range g.Edges {
		if flowmodel.ConnectionMatches(e.ConnectionType, conn) {
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

// edgeAlerts maps edges to the names of the firing alerts about them.
type edgeAlerts map[edgeRef][]string

type edgeRef struct{ client, server, conn string }

// anyConn matches an edge of any connection type.
const anyConn = "\x00any"

// firingByEdge keys the firing alerts by the edge their labels name:
// client and server (the service-graph labels, with connection_type when
// present), service and target (breaker alerts), or destination (queue
// alerts: the node named after the queue, where undelivered messages end).
func firingByEdge(alerts []alertapi.Alert) edgeAlerts {
	out := edgeAlerts{}
	for _, a := range alerts {
		if a.State != "firing" {
			continue
		}
		if k, ok := edgeOfLabels(a.Labels); ok {
			out.add(k, a.Name)
		}
	}
	return out
}

// edgeOfLabels is the edge labels name (see firingByEdge); ok is false
// when they name none.
func edgeOfLabels(l map[string]string) (ref edgeRef, ok bool) {
	conn := anyConn
	if c, ok := l["connection_type"]; ok {
		conn = c
	}
	switch {
	case l["client"] != "" && l["server"] != "":
		return edgeRef{l["client"], l["server"], conn}, true
	case l["service"] != "" && l["target"] != "":
		return edgeRef{l["service"], l["target"], anyConn}, true
	case l["destination"] != "":
		return edgeRef{"", l["destination"], anyConn}, true
	}
	return edgeRef{}, false
}

// names reports whether labels naming this edge (edgeOfLabels) are about the
// edge client -> server of connection type conn.
func (k edgeRef) names(client, server, conn string) bool {
	return (k.client == "" || k.client == client) && k.server == server && (k.conn == anyConn || k.conn == conn)
}

func (m edgeAlerts) add(k edgeRef, name string) {
	for _, n := range m[k] {
		if n == name {
			return
		}
	}
	m[k] = append(m[k], name)
}

// of returns the firing alerts about the edge client -> server.
func (m edgeAlerts) of(client, server, conn string) []string {
	var names []string
	for _, k := range []edgeRef{{client, server, conn}, {client, server, anyConn}, {"", server, anyConn}} {
		names = append(names, m[k]...)
	}
	sort.Strings(names)
	return names
}
