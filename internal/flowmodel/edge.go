// Package flowmodel is the flow model the analyzer, storage and every
// reader share: the histogram bounds and bucket width of the service graph's
// edges, their connection types, and the edge row (one edge in one bucket,
// as the analyzer writes it and storage keeps it) with its sum over a range.
// It depends on nothing but the standard library, so the analyzer can speak
// of rows without linking a ClickHouse client.
package flowmodel

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// BucketWidth is the width of a flow_edges time bucket. The analyzer's
// rollup bucket is a whole number of them; storage truncates each row's
// bucket to it.
const BucketWidth = time.Minute

// LatencyBounds are the upper bounds (inclusive) of the request latency
// histogram buckets of an edge (server and client side), the OTel
// servicegraph connector's defaults. A histogram has len(LatencyBounds)+1
// counts; the last counts everything above 15s. Never change them in place:
// stored rows are counts against these bounds.
var LatencyBounds = []time.Duration{
	2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	400 * time.Millisecond, 800 * time.Millisecond, 1 * time.Second, 1400 * time.Millisecond,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
}

// DelayBounds are the upper bounds of the producer->consumer delay
// histogram (messaging edges): queues wait far longer than RPCs.
var DelayBounds = []time.Duration{
	1 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 500 * time.Millisecond, 1 * time.Second, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour,
}

// ErrInvalidQuery marks a query that cannot be run (the message says
// which): storage's readers return it, and the analyzer's API answers it as
// the caller's mistake without knowing storage.
var ErrInvalidQuery = errors.New("invalid query")

// EdgeRollup is one partial aggregate for one edge in one time bucket, as an
// analyzer instance flushes it. Several instances may insert rows for the
// same (Bucket, Client, Server, ConnectionType, Destination): readers sum them.
type EdgeRollup struct {
	Bucket         time.Time // start of the bucket (truncated to BucketWidth, UTC)
	Client         string
	Server         string
	ConnectionType string
	// Destination is the messaging destination (queue, topic) of the
	// messages counted; empty for other edges. An edge that carried
	// messages through several destinations has a row for each.
	Destination string
	Requests    uint64
	Failed      uint64
	// ServerLatency and ClientLatency have LatencyBounds; Delay (producer
	// to consumer, messaging edges) has DelayBounds. An empty Counts slice
	// stores an all-zero histogram.
	ServerLatency    Histogram
	ClientLatency    Histogram
	MessagesSent     uint64
	MessagesReceived uint64
	Delay            Histogram
	Retries          uint64
	// Unpaired counts spans of this edge whose other side never arrived.
	Unpaired uint64
	// Breaker counts requests by the state of the client's circuit breaker
	// toward the server, and the state changes seen in the bucket.
	Breaker BreakerCounts
	// FirstSeen and LastSeen are the start times of the first and the last
	// call the row counts (zero: none, as in a row of breaker transitions).
	FirstSeen, LastSeen time.Time
}

// NewEdgeRollup is the empty row of an edge in the bucket that starts at
// bucket, its histograms over their bounds.
func NewEdgeRollup(bucket time.Time, client, server, connectionType string) EdgeRollup {
	return EdgeRollup{Bucket: bucket, Client: client, Server: server, ConnectionType: connectionType,
		ServerLatency: NewHistogram(LatencyBounds), ClientLatency: NewHistogram(LatencyBounds), Delay: NewHistogram(DelayBounds)}
}

// BreakerCounts are circuit-breaker observations on an edge.
type BreakerCounts struct {
	Closed      uint64 `json:"closed"`
	Open        uint64 `json:"open"`
	HalfOpen    uint64 `json:"half_open"`
	Transitions uint64 `json:"transitions"`
}

// Add adds o into b.
func (b *BreakerCounts) Add(o BreakerCounts) {
	b.Closed += o.Closed
	b.Open += o.Open
	b.HalfOpen += o.HalfOpen
	b.Transitions += o.Transitions
}

// EdgeAggregate is one edge summed over a time range.
type EdgeAggregate struct {
	Client           string        `json:"client"`
	Server           string        `json:"server"`
	ConnectionType   string        `json:"connection_type"`
	Requests         uint64        `json:"requests"`
	Failed           uint64        `json:"failed"`
	ServerLatency    Histogram     `json:"server_latency"`
	ClientLatency    Histogram     `json:"client_latency"`
	MessagesSent     uint64        `json:"messages_sent"`
	MessagesReceived uint64        `json:"messages_received"`
	Delay            Histogram     `json:"delay"`
	Retries          uint64        `json:"retries"`
	Unpaired         uint64        `json:"unpaired"`
	Breaker          BreakerCounts `json:"breaker"`
	// FirstSeen and LastSeen are the start times of the first and the last
	// call counted (for rows stored before they were recorded: their
	// bucket's bounds); zero when there was no call.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Destinations are the edge's messages per messaging destination,
	// sorted by name: the named destinations its messages went through
	// (rows stored before destinations were recorded name none).
	Destinations []DestinationCounts `json:"destinations,omitempty"`
}

// DestinationCounts are the messages of an edge through one messaging
// destination (queue, topic).
type DestinationCounts struct {
	Destination      string `json:"destination"`
	MessagesSent     uint64 `json:"messages_sent"`
	MessagesReceived uint64 `json:"messages_received"`
}

// AddDestination adds messages through destination d to a's list (none
// for "").
func (a *EdgeAggregate) AddDestination(d string, sent, received uint64) {
	if d == "" {
		return
	}
	i, found := slices.BinarySearchFunc(a.Destinations, d, func(c DestinationCounts, d string) int { return strings.Compare(c.Destination, d) })
	if !found {
		a.Destinations = slices.Insert(a.Destinations, i, DestinationCounts{Destination: d})
	}
	a.Destinations[i].MessagesSent += sent
	a.Destinations[i].MessagesReceived += received
}

// Add sums b, an aggregate of the same edge, into a.
func (a *EdgeAggregate) Add(b *EdgeAggregate) {
	if !b.FirstSeen.IsZero() && (a.FirstSeen.IsZero() || b.FirstSeen.Before(a.FirstSeen)) {
		a.FirstSeen = b.FirstSeen
	}
	if b.LastSeen.After(a.LastSeen) {
		a.LastSeen = b.LastSeen
	}
	a.Requests += b.Requests
	a.Failed += b.Failed
	a.ServerLatency.Merge(b.ServerLatency)
	a.ClientLatency.Merge(b.ClientLatency)
	a.MessagesSent += b.MessagesSent
	a.MessagesReceived += b.MessagesReceived
	a.Delay.Merge(b.Delay)
	a.Retries += b.Retries
	a.Unpaired += b.Unpaired
	a.Breaker.Add(b.Breaker)
	for _, d := range b.Destinations {
		a.AddDestination(d.Destination, d.MessagesSent, d.MessagesReceived)
	}
}

// AddRow adds a rollup row of the same edge into a, as storage sums stored
// rows (for rows not stored yet).
func (a *EdgeAggregate) AddRow(r *EdgeRollup) {
	if r.Requests > 0 {
		if a.Requests == 0 || r.FirstSeen.Before(a.FirstSeen) {
			a.FirstSeen = r.FirstSeen
		}
		if a.Requests == 0 || r.LastSeen.After(a.LastSeen) {
			a.LastSeen = r.LastSeen
		}
	}
	a.Requests += r.Requests
	a.Failed += r.Failed
	a.ServerLatency.Merge(r.ServerLatency)
	a.ClientLatency.Merge(r.ClientLatency)
	a.MessagesSent += r.MessagesSent
	a.MessagesReceived += r.MessagesReceived
	a.Delay.Merge(r.Delay)
	a.Retries += r.Retries
	a.Unpaired += r.Unpaired
	a.Breaker.Add(r.Breaker)
	a.AddDestination(r.Destination, r.MessagesSent, r.MessagesReceived)
}

// RowsIn keeps the rows a sum over [from, to) reads: those of the buckets
// from the one holding from on, starting before to.
func RowsIn(rows []EdgeRollup, from, to time.Time) []EdgeRollup {
	start := from.Truncate(BucketWidth)
	out := rows[:0:0]
	for _, r := range rows {
		if !r.Bucket.Before(start) && r.Bucket.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// SumRows sums rows into the aggregates of their edges (adding an aggregate
// for an edge aggs lacks), as storage sums the stored ones, keeping the
// edges service takes part in when it is not empty.
func SumRows(aggs []EdgeAggregate, rows []EdgeRollup, service string) []EdgeAggregate {
	idx := make(map[[3]string]int, len(aggs))
	for i, a := range aggs {
		idx[[3]string{a.Client, a.Server, a.ConnectionType}] = i
	}
	for i := range rows {
		r := &rows[i]
		if service != "" && r.Client != service && r.Server != service {
			continue
		}
		k := [3]string{r.Client, r.Server, r.ConnectionType}
		j, ok := idx[k]
		if !ok {
			j = len(aggs)
			idx[k] = j
			aggs = append(aggs, EdgeAggregate{Client: r.Client, Server: r.Server, ConnectionType: r.ConnectionType,
				ServerLatency: NewHistogram(LatencyBounds), ClientLatency: NewHistogram(LatencyBounds), Delay: NewHistogram(DelayBounds)})
		}
		aggs[j].AddRow(r)
	}
	return aggs
}
