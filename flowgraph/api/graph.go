// Package api serves the flow graph as JSON:
//
//	GET /api/v1/graph?from=&to=&service=      nodes and edges of a time range (service: only its edges)
//	GET /api/v1/services/{name}/edges?from=&to= one service's inbound and outbound edges
//	GET /api/v1/breakers                        every circuit breaker's state
//	GET /api/v1/nodegraph?from=&to=&service=     the graph in Grafana Node Graph field names
//
// from and to are RFC 3339, unix seconds (or milliseconds) or now-<duration>
// (default: the last hour); since=<duration> instead of from means that long
// before to. An unknown or repeated query parameter is a 400 error.
//
// Edges come from the rollup table (one aggregate query) when a store is
// configured, else from the analyzer's memory (cumulative since start; the
// response says which in "source"). Breaker states are live.
package api

import (
	"sort"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Graph is the response of /api/v1/graph.
type Graph struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Source is where the counts come from: "storage" (the rollups in
	// ClickHouse, which lag the analyzer by up to its flush interval),
	// "storage+memory" (those and the counts the analyzer serving the API
	// has not written yet) or "memory" (the analyzer's totals since it
	// started; no storage).
	Source string `json:"source"`
	// FirstCall and LastCall are the start times of the first and the last
	// call counted (absent when there was none). Rates are over the time
	// between them (RateSeconds, at least a second): a range of an hour that
	// has 44 s of calls has rates over those 44 s.
	FirstCall   *time.Time `json:"first_call,omitempty"`
	LastCall    *time.Time `json:"last_call,omitempty"`
	RateSeconds float64    `json:"rate_seconds"`
	Nodes       []Node     `json:"nodes"`
	Edges       []Edge     `json:"edges"`
	Breakers    []Breaker  `json:"breakers,omitempty"`
}

// Node is a service, a database, a virtual node or the user.
type Node struct {
	ID               string  `json:"id"`
	Type             string  `json:"type"` // service, database, virtual, user
	RequestsIn       uint64  `json:"requests_in"`
	RequestsOut      uint64  `json:"requests_out"`
	FailedIn         uint64  `json:"failed_in"`
	ErrorPercent     float64 `json:"error_percent"` // of inbound requests
	RequestRate      float64 `json:"request_rate"`  // inbound requests/s
	MessagesSent     uint64  `json:"messages_sent,omitempty"`
	MessagesReceived uint64  `json:"messages_received,omitempty"`
}

// Edge is one client -> server flow over the time range.
type Edge struct {
	ID             string  `json:"id"`
	Client         string  `json:"client"`
	Server         string  `json:"server"`
	ConnectionType string  `json:"connection_type"`
	Requests       uint64  `json:"requests"`
	Failed         uint64  `json:"failed"`
	RequestRate    float64 `json:"request_rate"` // requests/s
	ErrorPercent   float64 `json:"error_percent"`
	// Latency quantiles in milliseconds: server side when the server was
	// seen, else client side.
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	// Messaging: messages sent by the client (producer) counted on this
	// edge, messages received by the server (consumer), and the delivery
	// ratio: received here / everything the producer sent.
	MessagesSent     uint64 `json:"messages_sent,omitempty"`
	MessagesReceived uint64 `json:"messages_received,omitempty"`
	// ProducerSent is everything the client sent (over all its messaging
	// edges, lost messages included): the denominator of DeliveryRatio.
	ProducerSent  uint64   `json:"producer_sent,omitempty"`
	DeliveryRatio *float64 `json:"delivery_ratio,omitempty"`
	DelayP50ms    float64  `json:"delay_p50_ms,omitempty"`
	DelayP99ms    float64  `json:"delay_p99_ms,omitempty"`
	// Destinations are the edge's messages per messaging destination
	// (queue, topic), sorted by name.
	Destinations []Destination `json:"destinations,omitempty"`
	Retries      uint64        `json:"retries,omitempty"`
	Unpaired     uint64        `json:"unpaired,omitempty"`
	// Breaker is the live state of the client's breaker towards the server
	// (from a running analyzer).
	Breaker *Breaker `json:"breaker,omitempty"`
	// BreakerRequests counts the range's requests by the client's breaker
	// state, BreakerTransitions its state changes (from the rollups).
	BreakerRequests    *BreakerRequests `json:"breaker_requests,omitempty"`
	BreakerTransitions uint64           `json:"breaker_transitions,omitempty"`
}

// Destination is an edge's messages through one messaging destination.
type Destination struct {
	Name             string `json:"name"`
	MessagesSent     uint64 `json:"messages_sent,omitempty"`
	MessagesReceived uint64 `json:"messages_received,omitempty"`
	// DeliveryRatio of a consumer's edge: received here / everything the
	// producer sent to this destination (ProducerSent).
	ProducerSent  uint64   `json:"producer_sent,omitempty"`
	DeliveryRatio *float64 `json:"delivery_ratio,omitempty"`
}

// Breaker is a circuit breaker's live state.
type Breaker struct {
	Service string `json:"service"`
	Target  string `json:"target"`
	State   string `json:"state"`
	// Since is when the breaker entered State. With SinceFirstSeen no change
	// into State was observed: Since is when the breaker was first seen,
	// already in State, and when it entered State is unknown.
	Since          time.Time         `json:"since"`
	SinceFirstSeen bool              `json:"since_first_seen,omitempty"`
	Transitions    map[string]uint64 `json:"transitions"`
}

// BreakerRequests are requests by breaker state.
type BreakerRequests struct {
	Closed   uint64 `json:"closed"`
	Open     uint64 `json:"open"`
	HalfOpen uint64 `json:"half_open"`
}

// BreakerOf converts a tracker status.
func BreakerOf(s breaker.Status) Breaker {
	b := Breaker{Service: s.Service, Target: s.Target, State: s.State.String(), Since: time.Unix(0, s.SinceNs).UTC(),
		SinceFirstSeen: s.SinceFirstSeen, Transitions: map[string]uint64{}}
	for _, st := range breaker.States {
		b.Transitions[st.String()] = s.Transitions[st]
	}
	return b
}

// foldBreakerRows merges rows that carry only breaker transitions (written
// when a breaker changed state in a bucket already flushed, or with no call)
// into the edge between the same client and server, when there is one.
func foldBreakerRows(aggs []flowmodel.EdgeAggregate) []flowmodel.EdgeAggregate {
	type cs struct{ c, s string }
	out := make([]flowmodel.EdgeAggregate, 0, len(aggs))
	first := map[cs]int{}
	var orphans []flowmodel.EdgeAggregate
	for _, a := range aggs {
		if a.Requests == 0 && a.ConnectionType == flowmodel.ConnectionUnset {
			orphans = append(orphans, a)
			continue
		}
		if _, ok := first[cs{a.Client, a.Server}]; !ok {
			first[cs{a.Client, a.Server}] = len(out)
		}
		out = append(out, a)
	}
	for _, o := range orphans {
		if i, ok := first[cs{o.Client, o.Server}]; ok {
			out[i].Breaker.Transitions += o.Breaker.Transitions
			continue
		}
		out = append(out, o)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func pct(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// BuildGraph turns edge aggregates over [from, to) into nodes and edges.
func BuildGraph(aggs []flowmodel.EdgeAggregate, breakers []breaker.Status, from, to time.Time, source string) Graph {
	g := Graph{From: from.UTC(), To: to.UTC(), Source: source, Nodes: []Node{}, Edges: []Edge{}}
	aggs = foldBreakerRows(aggs)
	var first, last time.Time
	for _, a := range aggs {
		if a.Requests == 0 {
			continue
		}
		if first.IsZero() || a.FirstSeen.Before(first) {
			first = a.FirstSeen
		}
		if a.LastSeen.After(last) {
			last = a.LastSeen
		}
	}
	if !first.IsZero() {
		first, last = first.UTC(), last.UTC()
		g.FirstCall, g.LastCall = &first, &last
		g.RateSeconds = max(last.Sub(first), time.Second).Seconds()
	}
	secs := g.RateSeconds
	rate := func(n uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	brk := map[breaker.Key]breaker.Status{}
	for _, b := range breakers {
		brk[b.Key] = b
		g.Breakers = append(g.Breakers, BreakerOf(b))
	}
	type producerDest struct{ producer, destination string }
	sentBy := map[string]uint64{}
	sentTo := map[producerDest]uint64{}
	for _, a := range aggs {
		sentBy[a.Client] += a.MessagesSent
		for _, d := range a.Destinations {
			sentTo[producerDest{a.Client, d.Destination}] += d.MessagesSent
		}
	}
	nodes := map[string]*Node{}
	node := func(id string) *Node {
		n, ok := nodes[id]
		if !ok {
			n = &Node{ID: id}
			nodes[id] = n
		}
		return n
	}
	real := map[string]bool{}
	for _, a := range aggs {
		if a.ConnectionType != flowmodel.ConnectionVirtual {
			real[a.Client] = true
			if a.ConnectionType != flowmodel.ConnectionDatabase {
				real[a.Server] = true
			}
		}
	}
	kind := map[string]string{}
	for _, a := range aggs {
		switch a.ConnectionType {
		case flowmodel.ConnectionDatabase:
			kind[a.Server] = "database"
		case flowmodel.ConnectionVirtual:
			if real[a.Client] || !real[a.Server] {
				if kind[a.Server] == "" && !real[a.Server] {
					kind[a.Server] = "virtual"
				}
				real[a.Client] = true
			} else if kind[a.Client] == "" {
				kind[a.Client] = "virtual"
			}
		}
	}
	for _, a := range aggs {
		e := Edge{
			ID: a.Client + "->" + a.Server + "|" + a.ConnectionType, Client: a.Client, Server: a.Server,
			ConnectionType: a.ConnectionType, Requests: a.Requests, Failed: a.Failed,
			RequestRate: rate(a.Requests), ErrorPercent: pct(a.Failed, a.Requests),
			MessagesSent: a.MessagesSent, MessagesReceived: a.MessagesReceived,
			Retries: a.Retries, Unpaired: a.Unpaired,
		}
		lat := a.ServerLatency
		if lat.Count() == 0 {
			lat = a.ClientLatency
		}
		e.P50ms, e.P95ms, e.P99ms = ms(lat.Quantile(0.5)), ms(lat.Quantile(0.95)), ms(lat.Quantile(0.99))
		if a.Delay.Count() > 0 {
			e.DelayP50ms, e.DelayP99ms = ms(a.Delay.Quantile(0.5)), ms(a.Delay.Quantile(0.99))
		}
		// the ratio of a real consumer; a virtual edge holds the messages nobody was seen receiving
		if total := sentBy[a.Client]; total > 0 && a.MessagesReceived > 0 && a.ConnectionType != flowmodel.ConnectionVirtual {
			r := float64(a.MessagesReceived) / float64(total)
			e.DeliveryRatio, e.ProducerSent = &r, total
		}
		for _, d := range a.Destinations {
			ed := Destination{Name: d.Destination, MessagesSent: d.MessagesSent, MessagesReceived: d.MessagesReceived}
			if total := sentTo[producerDest{a.Client, d.Destination}]; total > 0 && d.MessagesReceived > 0 && a.ConnectionType != flowmodel.ConnectionVirtual {
				r := float64(d.MessagesReceived) / float64(total)
				ed.DeliveryRatio, ed.ProducerSent = &r, total
			}
			e.Destinations = append(e.Destinations, ed)
		}
		if bc := a.Breaker; bc.Closed+bc.Open+bc.HalfOpen > 0 {
			e.BreakerRequests = &BreakerRequests{Closed: bc.Closed, Open: bc.Open, HalfOpen: bc.HalfOpen}
		}
		e.BreakerTransitions = a.Breaker.Transitions
		if b, ok := brk[breaker.Key{Service: a.Client, Target: a.Server}]; ok {
			bb := BreakerOf(b)
			e.Breaker = &bb
		}
		g.Edges = append(g.Edges, e)

		c, s := node(a.Client), node(a.Server)
		c.RequestsOut += a.Requests
		c.MessagesSent += a.MessagesSent
		s.RequestsIn += a.Requests
		s.FailedIn += a.Failed
		s.MessagesReceived += a.MessagesReceived
	}
	for id, n := range nodes {
		switch {
		case id == "user":
			n.Type = "user"
		case kind[id] != "" && !(kind[id] == "virtual" && real[id]):
			n.Type = kind[id]
		default:
			n.Type = "service"
		}
		n.ErrorPercent = pct(n.FailedIn, n.RequestsIn)
		n.RequestRate = rate(n.RequestsIn)
		g.Nodes = append(g.Nodes, *n)
	}
	sort.Slice(g.Nodes, func(i, j int) bool { return g.Nodes[i].ID < g.Nodes[j].ID })
	sort.Slice(g.Edges, func(i, j int) bool { return g.Edges[i].ID < g.Edges[j].ID })
	return g
}
