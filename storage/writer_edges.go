package storage

import (
	"context"
	"fmt"
	"time"
)

// Connection types of an edge, as in the OTel servicegraph connector.
const (
	ConnectionUnset     = ""
	ConnectionVirtual   = "virtual_node"
	ConnectionMessaging = "messaging_system"
	ConnectionDatabase  = "database"
)

// EdgeRollup is one partial aggregate for one edge in one time bucket, as an
// analyzer instance flushes it. Several instances may insert rows for the
// same (Bucket, Client, Server, ConnectionType): readers sum them.
type EdgeRollup struct {
	Bucket         time.Time // start of the bucket (truncated to EdgeBucket, UTC)
	Client         string
	Server         string
	ConnectionType string
	Requests       uint64
	Failed         uint64
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

// BreakerCounts are circuit-breaker observations on an edge.
type BreakerCounts struct {
	Closed      uint64 `json:"closed"`
	Open        uint64 `json:"open"`
	HalfOpen    uint64 `json:"half_open"`
	Transitions uint64 `json:"transitions"`
}

var edgeColumns = []string{
	"Bucket", "FirstSeen", "LastSeen", "Client", "Server", "ConnectionType", "Requests", "Failed",
	"ServerLatencyBuckets", "ServerLatencySum", "ClientLatencyBuckets", "ClientLatencySum",
	"MessagesSent", "MessagesReceived", "DelayBuckets", "DelaySum", "Retries", "Unpaired",
	"BreakerClosed", "BreakerOpen", "BreakerHalfOpen", "BreakerTransitions",
}

// fixedCounts returns counts padded/validated to n buckets.
func fixedCounts(c []uint64, n int) ([]uint64, error) {
	switch {
	case len(c) == n:
		return c, nil
	case len(c) == 0:
		return make([]uint64, n), nil
	default:
		return nil, fmt.Errorf("%w: histogram has %d buckets, want %d", ErrInvalidQuery, len(c), n)
	}
}

// InsertEdgeRollups stores rows in one INSERT. A non-empty dedupToken makes a
// re-sent flush be stored once; without one, rows are never deduplicated
// (two instances may legitimately send identical partial aggregates).
func (s *Store) InsertEdgeRollups(ctx context.Context, rows []EdgeRollup, dedupToken string) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		bucket               = make([]time.Time, n)
		first, last          = make([]time.Time, n), make([]time.Time, n)
		client, server, conn = make([]string, n), make([]string, n), make([]string, n)
		requests, failed     = make([]uint64, n), make([]uint64, n)
		srvB, cliB, delB     = make([][]uint64, n), make([][]uint64, n), make([][]uint64, n)
		srvS, cliS, delS     = make([]float64, n), make([]float64, n), make([]float64, n)
		sent, received       = make([]uint64, n), make([]uint64, n)
		retries, unpaired    = make([]uint64, n), make([]uint64, n)
		bClosed, bOpen       = make([]uint64, n), make([]uint64, n)
		bHalf, bTrans        = make([]uint64, n), make([]uint64, n)
		nLat, nDel           = len(LatencyBounds) + 1, len(DelayBounds) + 1
		err                  error
	)
	for i, r := range rows {
		bucket[i] = r.Bucket.UTC().Truncate(EdgeBucket)
		first[i], last[i] = orEpoch(r.FirstSeen), orEpoch(r.LastSeen)
		client[i], server[i], conn[i] = r.Client, r.Server, r.ConnectionType
		requests[i], failed[i] = r.Requests, r.Failed
		if srvB[i], err = fixedCounts(r.ServerLatency.Counts, nLat); err != nil {
			return fmt.Errorf("insert edge rollups: row %d server latency: %w", i, err)
		}
		if cliB[i], err = fixedCounts(r.ClientLatency.Counts, nLat); err != nil {
			return fmt.Errorf("insert edge rollups: row %d client latency: %w", i, err)
		}
		if delB[i], err = fixedCounts(r.Delay.Counts, nDel); err != nil {
			return fmt.Errorf("insert edge rollups: row %d delay: %w", i, err)
		}
		srvS[i], cliS[i], delS[i] = r.ServerLatency.Sum, r.ClientLatency.Sum, r.Delay.Sum
		sent[i], received[i] = r.MessagesSent, r.MessagesReceived
		retries[i], unpaired[i] = r.Retries, r.Unpaired
		bClosed[i], bOpen[i], bHalf[i], bTrans[i] = r.Breaker.Closed, r.Breaker.Open, r.Breaker.HalfOpen, r.Breaker.Transitions
	}
	cols := []any{bucket, first, last, client, server, conn, requests, failed, srvB, srvS, cliB, cliS,
		sent, received, delB, delS, retries, unpaired, bClosed, bOpen, bHalf, bTrans}
	if err := s.insertColumns(ctx, EdgesTable, edgeColumns, cols, dedupToken, false); err != nil {
		return fmt.Errorf("insert %d edge rollups: %w", n, err)
	}
	return nil
}

// orEpoch is t, or the column's zero (1970) for the zero time.
func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// unlessEpoch is t, or the zero time for the column's zero (no call).
func unlessEpoch(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
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
}

// AddRow adds a rollup row of the same edge into a, as QueryEdges sums
// stored rows (for rows not stored yet).
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
	a.Breaker.Closed += r.Breaker.Closed
	a.Breaker.Open += r.Breaker.Open
	a.Breaker.HalfOpen += r.Breaker.HalfOpen
	a.Breaker.Transitions += r.Breaker.Transitions
}

// QueryEdges sums every edge over the buckets in [from, to) in one aggregate
// query. A non-empty service keeps the edges it is client or server of.
// Whole days, hours and 10 minutes are read from the tiers (see
// splitTiers), so a week costs about what an hour does.
func (s *Store) QueryEdges(ctx context.Context, from, to time.Time, service string) ([]EdgeAggregate, error) {
	return s.QueryEdgeSums(ctx, from, to, service, AllHistograms)
}

// Histograms names the histograms of an edge (a bit set) that an edge
// query sums: summing them is most of what such a query costs.
type Histograms uint8

const (
	ServerLatencyHistogram Histograms = 1 << iota
	ClientLatencyHistogram
	DelayHistogram

	AllHistograms = ServerLatencyHistogram | ClientLatencyHistogram | DelayHistogram
)

// QueryEdgeSums is QueryEdges summing only the histograms h; the others
// are empty (no counts, sum 0).
func (s *Store) QueryEdgeSums(ctx context.Context, from, to time.Time, service string, h Histograms) (_ []EdgeAggregate, err error) {
	defer func(start time.Time) { s.m.queryDone("edges", start, err) }(time.Now())
	points, err := s.edgeAggregates(ctx, EdgeFilter{Service: service}, from, to, 0, h)
	if err != nil {
		return nil, fmt.Errorf("query edges: %w", err)
	}
	out := make([]EdgeAggregate, len(points))
	for i := range points {
		out[i] = points[i].EdgeAggregate
	}
	return out, nil
}

// EdgeFilter selects edges. Empty fields match any edge.
type EdgeFilter struct {
	Client, Server, ConnectionType string
	// Service keeps the edges it is client or server of.
	Service string
}

// EdgePoint is one edge summed over one step of a series.
type EdgePoint struct {
	Time time.Time `json:"time"` // start of the step
	EdgeAggregate
}

// MaxSeriesPoints bounds the steps of QueryEdgeSeries.
const MaxSeriesPoints = 11000

// QueryEdgeSeries sums the edges f selects per step over [from, to), ordered
// by time, then client, server and connection type. step is rounded up to a
// whole number of buckets (EdgeBucket); the tiers whose unit divides the
// step are read for the units they hold whole.
func (s *Store) QueryEdgeSeries(ctx context.Context, f EdgeFilter, from, to time.Time, step time.Duration) (_ []EdgePoint, err error) {
	defer func(start time.Time) { s.m.queryDone("edge_series", start, err) }(time.Now())
	if step < EdgeBucket {
		step = EdgeBucket
	}
	step = (step + EdgeBucket - 1) / EdgeBucket * EdgeBucket
	if n := to.Sub(from) / step; n > MaxSeriesPoints {
		return nil, fmt.Errorf("query edge series: %w: %d steps of %s (limit %d)", ErrInvalidQuery, n, step, MaxSeriesPoints)
	}
	points, err := s.edgeAggregates(ctx, f, from, to, step, AllHistograms)
	if err != nil {
		return nil, fmt.Errorf("query edge series: %w", err)
	}
	return points, nil
}
