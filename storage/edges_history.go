package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// EdgeWindow is one edge (client, server, connection type) summed over
// one window of a long history, with what rules judge on it: the calls,
// the messages, and the 0.99 quantile of the calls' latency on each side.
// The quantiles are computed in the engine, so a week of windows travels
// as a few numbers per edge and window, not three histograms.
type EdgeWindow struct {
	Time                           time.Time // start of the window
	Client, Server, ConnectionType string
	Requests                       uint64
	MessagesSent, MessagesReceived uint64
	// ClientCalls and ServerCalls count the calls of the client-server
	// pair in the window that have a client-side and a server-side
	// duration, ClientP99 and ServerP99 (seconds) their 0.99 quantile as
	// Histogram.Quantile computes it; over every connection type of the
	// pair but messages (edges with messages sent or received, messaging
	// edges) and root requests. Every edge of the pair carries the pair's.
	ClientCalls, ServerCalls uint64
	ClientP99, ServerP99     float64
}

// MaxEdgeWindows bounds the windows of EdgeWindows.
const MaxEdgeWindows = MaxSeriesPoints

// EdgeWindows sums every edge per window over [from, to) from the minute
// rollups (flow_edges); window is whole minutes, at most an hour, and
// windows are aligned to multiples of it since the epoch.
func (s *Store) EdgeWindows(ctx context.Context, from, to time.Time, window time.Duration) (_ []EdgeWindow, err error) {
	defer func(start time.Time) { s.m.queryDone("edge_windows", start, err) }(time.Now())
	if !to.After(from) {
		return nil, fmt.Errorf("edge windows: %w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	if window < flowmodel.BucketWidth || window > time.Hour || window%flowmodel.BucketWidth != 0 {
		return nil, fmt.Errorf("edge windows: %w: window %s: want whole minutes up to an hour", ErrInvalidQuery, window)
	}
	if n := to.Sub(from) / window; n > MaxEdgeWindows {
		return nil, fmt.Errorf("edge windows: %w: %d windows of %s (limit %d)", ErrInvalidQuery, n, window, MaxEdgeWindows)
	}
	const latencyRows = `ConnectionType != 'messaging_system' AND MessagesSent = 0 AND MessagesReceived = 0 AND Client != 'user'`
	q := `SELECT T, Client, Server, ConnectionType, req, sent, recv,
    arraySum(pc), ` + p99SQL("pc") + `, arraySum(ps), ` + p99SQL("ps") + `
FROM (
    SELECT T, Client, Server, ConnectionType, req, sent, recv,
        sumForEach(cb) OVER (PARTITION BY T, Client, Server) AS pc,
        sumForEach(sb) OVER (PARTITION BY T, Client, Server) AS ps
    FROM (
        SELECT toStartOfInterval(Bucket, toIntervalSecond({step:UInt32}), 'UTC') AS T, Client, Server, ConnectionType,
            sum(Requests) AS req, sum(MessagesSent) AS sent, sum(MessagesReceived) AS recv,
            sumForEachIf(ClientLatencyBuckets, ` + latencyRows + `) AS cb,
            sumForEachIf(ServerLatencyBuckets, ` + latencyRows + `) AS sb
        FROM ` + s.l.Name(EdgesTable) + `
        WHERE Bucket >= toDateTime({from:Int64}, 'UTC') AND Bucket < toDateTime({to:Int64}, 'UTC')
        GROUP BY T, Client, Server, ConnectionType
    )
)
ORDER BY T, Client, Server, ConnectionType`
	rows, err := s.conn.Query(ctx, q, namedParams("from", from.UTC().Truncate(flowmodel.BucketWidth).Unix(), "to", to.Unix(),
		"step", uint32(window/time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("edge windows: %w", err)
	}
	defer rows.Close()
	var out []EdgeWindow
	for rows.Next() {
		var w EdgeWindow
		if err := rows.Scan(&w.Time, &w.Client, &w.Server, &w.ConnectionType, &w.Requests, &w.MessagesSent, &w.MessagesReceived,
			&w.ClientCalls, &w.ClientP99, &w.ServerCalls, &w.ServerP99); err != nil {
			return nil, fmt.Errorf("edge windows: %w", err)
		}
		w.Time = w.Time.UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// p99SQL is the 0.99 quantile (seconds) of the LatencyBounds histogram
// counts in the array column c, interpolated within its bucket as
// Quantile does (and Prometheus' histogram_quantile); 0 for no counts.
func p99SQL(c string) string {
	bounds := make([]string, len(flowmodel.LatencyBounds))
	for i, b := range flowmodel.LatencyBounds {
		bounds[i] = strconv.FormatFloat(b.Seconds(), 'g', -1, 64)
	}
	b := "[" + strings.Join(bounds, ", ") + "]"
	last := strconv.Itoa(len(flowmodel.LatencyBounds))
	rank := "(0.99 * arraySum(" + c + "))"
	i := "arrayFirstIndex(v -> v >= " + rank + ", arrayCumSum(" + c + "))"
	lower := "if(" + i + " = 1, 0, " + b + "[" + i + " - 1])"
	below := "if(" + i + " = 1, 0, arrayCumSum(" + c + ")[" + i + " - 1])"
	return "if(arraySum(" + c + ") = 0, 0, if(" + i + " > " + last + ", " + b + "[" + last + "], " +
		lower + " + (" + rank + " - " + below + ") / " + c + "[" + i + "] * (" + b + "[" + i + "] - " + lower + ")))"
}
