package storage

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// getTraceSubqueries is how GetTrace ran its queries before traceRange:
// spans and logs in parallel, each reading the trace's range from the
// index in a scalar subquery of its own, the links beside them. Timed
// beside GetTrace by BenchmarkLookupUnderIngest (FLOWLENS_BENCH_PLANS=1),
// under the same load. (Running the three queries one after the other
// was slower in every run: p50 52-133 ms against 42-91.)
func (s *Store) getTraceSubqueries(ctx context.Context, hexID string) (tr Trace, err error) {
	tr.TraceID = hexID
	var (
		wg               sync.WaitGroup
		spanErr, linkErr error
	)
	rangeOf := func(lo, hi int) string {
		return `WITH (SELECT (min(Start) - ` + strconv.Itoa(lo) + `, max(End) + ` + strconv.Itoa(hi) + `) FROM ` +
			s.l.Name(TraceIndexTable) + ` WHERE TraceId = {id:String}) AS range
`
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		tr.Spans, spanErr = s.querySpans(ctx, rangeOf(0, 1)+spanSelect+`
FROM `+s.l.Name(TracesTable)+`
WHERE TraceId = {id:String} AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2, 9)
ORDER BY Timestamp
`+lookupSettings, namedParams("id", hexID))
	}()
	go func() {
		defer wg.Done()
		tr.LinkedFrom, linkErr = s.linkingSpans(ctx, hexID)
	}()
	margin := int(logMargin / time.Second)
	tr.Logs, err = s.queryLogs(ctx, rangeOf(margin, 1+margin)+logSelect+`
FROM `+s.l.Name(LogsTable)+`
WHERE TraceId = {id:String} AND TimestampTime >= range.1 AND TimestampTime < range.2
  AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2, 9)
ORDER BY Timestamp
`+lookupSettings, namedParams("id", hexID))
	wg.Wait()
	return tr, errors.Join(spanErr, linkErr, err)
}
