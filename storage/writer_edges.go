package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

var edgeColumns = []string{
	"Bucket", "FirstSeen", "LastSeen", "Client", "Server", "ConnectionType", "Destination", "Requests", "Failed",
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
func (s *Store) InsertEdgeRollups(ctx context.Context, rows []flowmodel.EdgeRollup, dedupToken string) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		bucket               = make([]time.Time, n)
		first, last          = make([]time.Time, n), make([]time.Time, n)
		client, server, conn = make([]string, n), make([]string, n), make([]string, n)
		destination          = make([]string, n)
		requests, failed     = make([]uint64, n), make([]uint64, n)
		srvB, cliB, delB     = make([][]uint64, n), make([][]uint64, n), make([][]uint64, n)
		srvS, cliS, delS     = make([]float64, n), make([]float64, n), make([]float64, n)
		sent, received       = make([]uint64, n), make([]uint64, n)
		retries, unpaired    = make([]uint64, n), make([]uint64, n)
		bClosed, bOpen       = make([]uint64, n), make([]uint64, n)
		bHalf, bTrans        = make([]uint64, n), make([]uint64, n)
		nLat, nDel           = len(flowmodel.LatencyBounds) + 1, len(flowmodel.DelayBounds) + 1
		err                  error
	)
	for i, r := range rows {
		bucket[i] = r.Bucket.UTC().Truncate(flowmodel.BucketWidth)
		first[i], last[i] = orEpoch(r.FirstSeen), orEpoch(r.LastSeen)
		client[i], server[i], conn[i], destination[i] = r.Client, r.Server, r.ConnectionType, r.Destination
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
	cols := []any{bucket, first, last, client, server, conn, destination, requests, failed, srvB, srvS, cliB, cliS,
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

// QueryEdges sums every edge over the buckets in [from, to) in one aggregate
// query. A non-empty service keeps the edges it is client or server of.
// Whole days, hours and 10 minutes are read from the tiers (see
// splitTiers), so a week costs about what an hour does.
func (s *Store) QueryEdges(ctx context.Context, from, to time.Time, service string) ([]flowmodel.EdgeAggregate, error) {
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
func (s *Store) QueryEdgeSums(ctx context.Context, from, to time.Time, service string, h Histograms) (_ []flowmodel.EdgeAggregate, err error) {
	defer func(start time.Time) { s.m.queryDone("edges", start, err) }(time.Now())
	points, err := s.edgeAggregates(ctx, EdgeFilter{Service: service}, from, to, 0, h)
	if err != nil {
		return nil, fmt.Errorf("query edges: %w", err)
	}
	out := make([]flowmodel.EdgeAggregate, len(points))
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
	flowmodel.EdgeAggregate
}

// MaxSeriesPoints bounds the steps of QueryEdgeSeries.
const MaxSeriesPoints = 11000

// QueryEdgeSeries sums the edges f selects per step over [from, to), ordered
// by time, then client, server and connection type. step is rounded up to a
// whole number of buckets (flowmodel.BucketWidth); the tiers whose unit divides the
// step are read for the units they hold whole.
func (s *Store) QueryEdgeSeries(ctx context.Context, f EdgeFilter, from, to time.Time, step time.Duration) (_ []EdgePoint, err error) {
	defer func(start time.Time) { s.m.queryDone("edge_series", start, err) }(time.Now())
	if step < flowmodel.BucketWidth {
		step = flowmodel.BucketWidth
	}
	step = (step + flowmodel.BucketWidth - 1) / flowmodel.BucketWidth * flowmodel.BucketWidth
	if n := to.Sub(from) / step; n > MaxSeriesPoints {
		return nil, fmt.Errorf("query edge series: %w: %d steps of %s (limit %d)", ErrInvalidQuery, n, step, MaxSeriesPoints)
	}
	points, err := s.edgeAggregates(ctx, f, from, to, step, AllHistograms)
	if err != nil {
		return nil, fmt.Errorf("query edge series: %w", err)
	}
	return points, nil
}
