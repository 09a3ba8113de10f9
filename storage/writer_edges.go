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
func (s *Store) QueryEdges(ctx context.Context, from, to time.Time, service string) (_ []EdgeAggregate, err error) {
	defer func(start time.Time) { s.m.queryDone("edges", start, err) }(time.Now())
	if !to.After(from) {
		return nil, fmt.Errorf("query edges: %w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	q := `SELECT Client, Server, ConnectionType,
    sum(Requests), sum(Failed),
    sumForEach(ServerLatencyBuckets), sum(ServerLatencySum),
    sumForEach(ClientLatencyBuckets), sum(ClientLatencySum),
    sum(MessagesSent), sum(MessagesReceived),
    sumForEach(DelayBuckets), sum(DelaySum),
    sum(Retries), sum(Unpaired),
    sum(BreakerClosed), sum(BreakerOpen), sum(BreakerHalfOpen), sum(BreakerTransitions),
    minIf(if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), Requests > 0),
    maxIf(if(LastSeen > 0, LastSeen, toDateTime64(Bucket + {bucket:Int64}, 3)), Requests > 0)
FROM ` + s.l.Name(EdgesTable) + `
WHERE Bucket >= toDateTime({from:Int64}, 'UTC') AND Bucket < toDateTime({to:Int64}, 'UTC')
  AND ({service:String} = '' OR Client = {service:String} OR Server = {service:String})
GROUP BY Client, Server, ConnectionType
ORDER BY Client, Server, ConnectionType`
	fromSec := from.UTC().Truncate(EdgeBucket).Unix()
	rows, err := s.conn.Query(ctx, q, namedParams("from", fromSec, "to", to.Unix(), "service", service,
		"bucket", int64(EdgeBucket/time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("query edges: %w", err)
	}
	defer rows.Close()
	var out []EdgeAggregate
	for rows.Next() {
		e := EdgeAggregate{
			ServerLatency: Histogram{Bounds: LatencyBounds},
			ClientLatency: Histogram{Bounds: LatencyBounds},
			Delay:         Histogram{Bounds: DelayBounds},
		}
		if err := rows.Scan(&e.Client, &e.Server, &e.ConnectionType, &e.Requests, &e.Failed,
			&e.ServerLatency.Counts, &e.ServerLatency.Sum, &e.ClientLatency.Counts, &e.ClientLatency.Sum,
			&e.MessagesSent, &e.MessagesReceived, &e.Delay.Counts, &e.Delay.Sum,
			&e.Retries, &e.Unpaired,
			&e.Breaker.Closed, &e.Breaker.Open, &e.Breaker.HalfOpen, &e.Breaker.Transitions,
			&e.FirstSeen, &e.LastSeen); err != nil {
			return nil, fmt.Errorf("query edges: scan: %w", err)
		}
		e.FirstSeen, e.LastSeen = unlessEpoch(e.FirstSeen), unlessEpoch(e.LastSeen)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query edges: %w", err)
	}
	return out, nil
}
