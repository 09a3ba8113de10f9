package storage

import (
	"context"
	"fmt"
	"time"
)

// RowKeys name rows by what identifies a span or a log record in its table:
// service, time, trace ID and span ID (empty for a log without a trace).
// Index i of each slice is one row.
type RowKeys struct {
	Service []string
	Time    []time.Time
	TraceID []string
	SpanID  []string
}

// Keys are the keys of the rows, in order.
func (r *SpanRows) Keys() RowKeys {
	return RowKeys{Service: r.ServiceName, Time: r.Timestamp, TraceID: r.TraceID, SpanID: r.SpanID}
}

// Keys are the keys of the rows, in order.
func (r *LogRows) Keys() RowKeys {
	return RowKeys{Service: r.ServiceName, Time: r.Timestamp, TraceID: r.TraceID, SpanID: r.SpanID}
}

// Stored is what a table holds of some rows' keys.
type Stored struct {
	Rows int // rows with one of the keys (a row stored twice counts twice)
	Keys int // keys with at least one row
}

// storedBatch is how many keys one count query carries: they travel in the
// request's URL.
const storedBatch = 1000

// CountStored counts what table (TracesTable or LogsTable) holds of keys.
// Counted before and after an insert whose rows are keys, Rows tells how
// many the insert stored (none when the engine dropped it as a duplicate),
// and Keys beforehand how many of them were stored already. Rows written
// meanwhile by others with the very same keys would be counted too.
func (s *Store) CountStored(ctx context.Context, table string, keys RowKeys) (Stored, error) {
	if table != TracesTable && table != LogsTable {
		return Stored{}, fmt.Errorf("%w: count stored rows of %s", ErrInvalidQuery, table)
	}
	q := `SELECT count(), uniqExact(toUnixTimestamp64Nano(Timestamp), TraceId, SpanId)
FROM ` + s.l.Name(table) + `
WHERE ServiceName IN (SELECT arrayJoin({services:Array(String)}))
  AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({to:Int64})
  AND (toUnixTimestamp64Nano(Timestamp), TraceId, SpanId) IN
      (SELECT arrayJoin(arrayZip({times:Array(Int64)}, {traces:Array(String)}, {spans:Array(String)})))`
	var total Stored
	for start := 0; start < len(keys.Time); start += storedBatch {
		end := min(start+storedBatch, len(keys.Time))
		times := make([]int64, 0, end-start)
		services := map[string]bool{}
		var serviceList []string
		from, to := keys.Time[start].UnixNano(), keys.Time[start].UnixNano()
		for i := start; i < end; i++ {
			ns := keys.Time[i].UnixNano()
			times = append(times, ns)
			from, to = min(from, ns), max(to, ns)
			if !services[keys.Service[i]] {
				services[keys.Service[i]] = true
				serviceList = append(serviceList, keys.Service[i])
			}
		}
		var rows, distinct uint64
		err := s.conn.QueryRow(ctx, q, namedParams("services", serviceList, "from", from, "to", to, "times", times,
			"traces", keys.TraceID[start:end], "spans", keys.SpanID[start:end])...).Scan(&rows, &distinct)
		if err != nil {
			return total, fmt.Errorf("count stored rows of %s: %w", table, err)
		}
		total.Rows += int(rows)
		total.Keys += int(distinct)
	}
	return total, nil
}
