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
// Whole hours are read from the hourly tier (see edgeTiers), so a day costs
// about what an hour does.
func (s *Store) QueryEdges(ctx context.Context, from, to time.Time, service string) (_ []EdgeAggregate, err error) {
	defer func(start time.Time) { s.m.queryDone("edges", start, err) }(time.Now())
	points, err := s.edgeAggregates(ctx, EdgeFilter{Service: service}, from, to, 0)
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
// whole number of buckets (EdgeBucket); steps of whole hours read whole
// hours from the hourly tier.
func (s *Store) QueryEdgeSeries(ctx context.Context, f EdgeFilter, from, to time.Time, step time.Duration) (_ []EdgePoint, err error) {
	defer func(start time.Time) { s.m.queryDone("edge_series", start, err) }(time.Now())
	if step < EdgeBucket {
		step = EdgeBucket
	}
	step = (step + EdgeBucket - 1) / EdgeBucket * EdgeBucket
	if n := to.Sub(from) / step; n > MaxSeriesPoints {
		return nil, fmt.Errorf("query edge series: %w: %d steps of %s (limit %d)", ErrInvalidQuery, n, step, MaxSeriesPoints)
	}
	points, err := s.edgeAggregates(ctx, f, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("query edge series: %w", err)
	}
	return points, nil
}

// edgeTiers splits [from, to) (from truncated to a bucket) between the two
// tables: whole hours [hourFrom, hourTo) from flow_edges_hourly, the rest
// from flow_edges. hourFrom == hourTo when the range holds no whole hour
// (or the steps are not whole hours): then everything is read by minute.
func edgeTiers(from, to time.Time, step time.Duration) (fromB, hourFrom, hourTo time.Time) {
	fromB = from.UTC().Truncate(EdgeBucket)
	hourFrom = fromB.Truncate(time.Hour)
	if hourFrom.Before(fromB) {
		hourFrom = hourFrom.Add(time.Hour)
	}
	hourTo = to.UTC().Truncate(time.Hour)
	if !hourTo.After(hourFrom) || step%time.Hour != 0 {
		hourTo = hourFrom
	}
	return fromB, hourFrom, hourTo
}

// edgeMinuteRange is the condition on flow_edges for the buckets of
// [{from}, {to}) outside the whole hours [{hfrom}, {hto}) read hourly.
func edgeMinuteRange(hourFrom, hourTo time.Time) string {
	if !hourTo.After(hourFrom) {
		return "Bucket >= toDateTime({from:Int64}, 'UTC') AND Bucket < toDateTime({to:Int64}, 'UTC')"
	}
	return `((Bucket >= toDateTime({from:Int64}, 'UTC') AND Bucket < toDateTime({hfrom:Int64}, 'UTC'))
    OR (Bucket >= toDateTime({hto:Int64}, 'UTC') AND Bucket < toDateTime({to:Int64}, 'UTC')))`
}

// edgeAggregates sums the edges f selects over [from, to), per step (0: one
// sum over the whole range, with a zero Time). Rows are partial aggregates
// of both tiers; everything is summed in the engine in one round trip.
func (s *Store) edgeAggregates(ctx context.Context, f EdgeFilter, from, to time.Time, step time.Duration) ([]EdgePoint, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	for name, v := range map[string]string{"client": f.Client, "server": f.Server, "connection type": f.ConnectionType, "service": f.Service} {
		if err := checkFilter(name, v); err != nil {
			return nil, err
		}
	}
	fromB, hourFrom, hourTo := edgeTiers(from, to, step)
	minuteT, hourT := "toDateTime(0, 'UTC')", "toDateTime(0, 'UTC')"
	if step > 0 {
		minuteT = "toStartOfInterval(Bucket, toIntervalSecond({step:UInt32}), 'UTC')"
		hourT = "toStartOfInterval(Hour, toIntervalSecond({step:UInt32}), 'UTC')"
	}
	const filter = `
  AND ({service:String} = '' OR Client = {service:String} OR Server = {service:String})
  AND ({client:String} = '' OR Client = {client:String})
  AND ({server:String} = '' OR Server = {server:String})
  AND ({conn:String} = '' OR ConnectionType = {conn:String})`
	// F and L are the first and last call (noCall and 0 where none);
	// named apart from the columns they are computed from.
	q := `SELECT T, Client, Server, ConnectionType,
    sum(Requests), sum(Failed),
    sumForEach(ServerLatencyBuckets), sum(ServerLatencySum),
    sumForEach(ClientLatencyBuckets), sum(ClientLatencySum),
    sum(MessagesSent), sum(MessagesReceived),
    sumForEach(DelayBuckets), sum(DelaySum),
    sum(Retries), sum(Unpaired),
    sum(BreakerClosed), sum(BreakerOpen), sum(BreakerHalfOpen), sum(BreakerTransitions),
    if(min(F) >= ` + noCall + `, toDateTime64(0, 3, 'UTC'), min(F)), max(L)
FROM (
    SELECT ` + minuteT + ` AS T, Client, Server, ConnectionType, Requests, Failed,
        ServerLatencyBuckets, ServerLatencySum, ClientLatencyBuckets, ClientLatencySum,
        MessagesSent, MessagesReceived, DelayBuckets, DelaySum, Retries, Unpaired,
        BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerTransitions,
        ` + callSeenExprs[0] + ` AS F, ` + callSeenExprs[1] + ` AS L
    FROM ` + s.l.Name(EdgesTable) + `
    WHERE ` + edgeMinuteRange(hourFrom, hourTo) + filter + `
    UNION ALL
    SELECT ` + hourT + ` AS T, Client, Server, ConnectionType,
        sum(Requests) AS Requests, sum(Failed) AS Failed,
        sumForEachMerge(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
        sumForEachMerge(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
        sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
        sumForEachMerge(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
        sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
        sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
        sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions,
        min(FirstSeen) AS F, max(LastSeen) AS L
    FROM ` + s.l.Name(EdgesHourlyTable) + `
    WHERE Hour >= toDateTime({hfrom:Int64}, 'UTC') AND Hour < toDateTime({hto:Int64}, 'UTC')` + filter + `
    GROUP BY T, Client, Server, ConnectionType
)
GROUP BY T, Client, Server, ConnectionType
ORDER BY T, Client, Server, ConnectionType`
	args := namedParams("from", fromB.Unix(), "to", to.Unix(), "hfrom", hourFrom.Unix(), "hto", hourTo.Unix(),
		"service", f.Service, "client", f.Client, "server", f.Server, "conn", f.ConnectionType)
	if step > 0 {
		args = append(args, namedParams("step", uint32(step/time.Second))...)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EdgePoint
	for rows.Next() {
		p := EdgePoint{EdgeAggregate: EdgeAggregate{
			ServerLatency: Histogram{Bounds: LatencyBounds},
			ClientLatency: Histogram{Bounds: LatencyBounds},
			Delay:         Histogram{Bounds: DelayBounds},
		}}
		e := &p.EdgeAggregate
		if err := rows.Scan(&p.Time, &e.Client, &e.Server, &e.ConnectionType, &e.Requests, &e.Failed,
			&e.ServerLatency.Counts, &e.ServerLatency.Sum, &e.ClientLatency.Counts, &e.ClientLatency.Sum,
			&e.MessagesSent, &e.MessagesReceived, &e.Delay.Counts, &e.Delay.Sum,
			&e.Retries, &e.Unpaired,
			&e.Breaker.Closed, &e.Breaker.Open, &e.Breaker.HalfOpen, &e.Breaker.Transitions,
			&e.FirstSeen, &e.LastSeen); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		e.FirstSeen, e.LastSeen = unlessEpoch(e.FirstSeen), unlessEpoch(e.LastSeen)
		if step == 0 {
			p.Time = time.Time{}
		} else {
			p.Time = p.Time.UTC()
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
