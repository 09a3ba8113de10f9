package api

import (
	"net/http"
)

// NodeGraph is the graph shaped for Grafana's Node Graph panel (for example
// through a JSON data source): field names are the panel's own (id, title,
// subtitle, mainstat, secondarystat, arc__*, detail__*; edges source, target).
type NodeGraph struct {
	Nodes []NodeGraphNode `json:"nodes"`
	Edges []NodeGraphEdge `json:"edges"`
}

// NodeGraphNode is one node: mainstat inbound requests/s, secondarystat
// inbound error %, arcs the success/failure split.
type NodeGraphNode struct {
	ID            string  `json:"id"`
	Title         string  `json:"title"`
	Subtitle      string  `json:"subtitle"`
	MainStat      float64 `json:"mainstat"`
	SecondaryStat float64 `json:"secondarystat"`
	ArcSuccess    float64 `json:"arc__success"`
	ArcFailed     float64 `json:"arc__failed"`
}

// NodeGraphEdge is one edge: mainstat requests/s, secondarystat p99 ms.
type NodeGraphEdge struct {
	ID             string   `json:"id"`
	Source         string   `json:"source"`
	Target         string   `json:"target"`
	MainStat       float64  `json:"mainstat"`
	SecondaryStat  float64  `json:"secondarystat"`
	ErrorPercent   float64  `json:"detail__error_percent"`
	ConnectionType string   `json:"detail__connection_type"`
	DeliveryRatio  *float64 `json:"detail__delivery_ratio,omitempty"`
	Breaker        string   `json:"detail__breaker,omitempty"`
}

// ToNodeGraph reshapes a graph.
func ToNodeGraph(g Graph) NodeGraph {
	out := NodeGraph{Nodes: []NodeGraphNode{}, Edges: []NodeGraphEdge{}}
	for _, n := range g.Nodes {
		ng := NodeGraphNode{ID: n.ID, Title: n.ID, Subtitle: n.Type, MainStat: n.RequestRate, SecondaryStat: n.ErrorPercent, ArcSuccess: 1}
		if n.RequestsIn > 0 {
			ng.ArcFailed = float64(n.FailedIn) / float64(n.RequestsIn)
			ng.ArcSuccess = 1 - ng.ArcFailed
		}
		out.Nodes = append(out.Nodes, ng)
	}
	for _, e := range g.Edges {
		ne := NodeGraphEdge{ID: e.ID, Source: e.Client, Target: e.Server, MainStat: e.RequestRate, SecondaryStat: e.P99ms,
			ErrorPercent: e.ErrorPercent, ConnectionType: e.ConnectionType, DeliveryRatio: e.DeliveryRatio}
		if e.Breaker != nil {
			ne.Breaker = e.Breaker.State
		}
		out.Edges = append(out.Edges, ne)
	}
	return out
}

func (h *Handler) nodeGraph(w http.ResponseWriter, r *http.Request) {
	h.serveGraph(w, r, func(g Graph) any { return ToNodeGraph(g) })
}
