package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// A trace stored in a part of its own (a small insert: the part's time range
// is narrow) is found through the trace-ID index whatever fraction of a
// second it starts at. The index holds whole seconds; compared with the
// DateTime64 column as DateTime, the engine pruned such parts when their
// times rounded up past the range's end, and GetTrace fell back to the bloom
// filter for the spans and lost the logs.
func TestIndexedLookupNarrowParts(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	second := time.Date(2026, 11, 26, 4, 59, 33, 0, time.UTC)
	for i, frac := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 700 * time.Millisecond, 999 * time.Millisecond} {
		t.Run(fmt.Sprintf("at+%v", frac), func(t *testing.T) {
			n := uint64(7000 + i)
			start := second.Add(time.Duration(i)*time.Minute + frac)
			storeTraceWithLog(ctx, t, s, n, start)
			id := hexTraceID(traceIDOf(n))
			if sp, err := s.traceSpansIndexed(ctx, id); err != nil || len(sp) != 5 {
				t.Errorf("spans through the index: %d, %v; want 5", len(sp), err)
			}
			if lg, err := s.traceLogsIndexed(ctx, id); err != nil || len(lg) != 1 {
				t.Errorf("logs through the index: %d, %v; want 1", len(lg), err)
			}
		})
	}
}

// A trace's logs are read from the partitions of its time range only, not
// the bloom filter of every granule of otel_logs (which grows with the
// table: a lookup got slower the more logs were stored).
func TestTraceLogsReadOnlyTheTracesPartitions(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for day := 0; day < 3; day++ {
		n := uint64(8000 + day)
		start := baseTime.Add(time.Duration(day) * 24 * time.Hour)
		storeTraceWithLog(ctx, t, s, n, start)
	}
	id := hexTraceID(traceIDOf(8001))
	if lg, err := s.traceLogsIndexed(ctx, id); err != nil || len(lg) != 1 {
		t.Fatalf("logs through the index: %d, %v; want 1", len(lg), err)
	}
	// What the engine plans to read before the bloom filter.
	var db, table string
	var parts, rows, marks uint64
	noSkip := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"use_skip_indexes": 0}))
	r, err := s.traceRange(ctx, id)
	if err != nil || !r.known {
		t.Fatalf("the index does not know the trace: %+v, %v", r, err)
	}
	if err := s.conn.QueryRow(noSkip, "EXPLAIN ESTIMATE "+s.traceLogsQuery(),
		s.traceLogsParams(id, r)...).Scan(&db, &table, &parts, &rows, &marks); err != nil {
		t.Fatal(err)
	}
	if table != LogsTable || parts != 1 {
		t.Errorf("the lookup reads %d parts of %s, want 1 of otel_logs' 3 (one per day)", parts, table)
	}
}

// A log written long after its trace's last span started (at the end of a
// long span, or by a host whose clock is off) is part of the trace: the
// index spans the logs' times too.
func TestTraceLogsLongAfterTheSpans(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const n = 9000
	var sr SpanRows
	sr.AppendTraces(genTraces(n, 1, 5, baseTime, time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	var lr LogRows
	for _, after := range []time.Duration{0, 2 * time.Hour, 30 * time.Hour} {
		lr.AppendLogs(genLogs(n, 1, baseTime.Add(after), time.Millisecond), nil)
	}
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}
	tr, err := s.GetTrace(ctx, hexTraceID(traceIDOf(n)))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Spans) != 5 || len(tr.Logs) != 3 {
		t.Errorf("trace: %d spans and %d logs, want 5 and 3 (one log 2 h and one 30 h after the spans)", len(tr.Spans), len(tr.Logs))
	}
}

// storeTraceWithLog stores trace n of genTraces (5 spans from start) and
// one log of it at start, each in an insert of its own.
func storeTraceWithLog(ctx context.Context, t *testing.T, s *Store, n uint64, start time.Time) {
	t.Helper()
	var sr SpanRows
	sr.AppendTraces(genTraces(n, 1, 5, start, time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	var lr LogRows
	lr.AppendLogs(genLogs(n, 1, start, time.Millisecond), nil)
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}
}

// traceSpansIndexed is GetTrace's spans query alone, through the trace-ID
// index (traceRange, then traceSpansIn).
func (s *Store) traceSpansIndexed(ctx context.Context, hexID string) ([]Span, error) {
	r, err := s.traceRange(ctx, hexID)
	if err != nil || !r.known {
		return nil, err
	}
	return s.traceSpansIn(ctx, hexID, r)
}

// traceLogsIndexed is GetTrace's logs query alone, through the trace-ID
// index (traceRange, then traceLogsIn).
func (s *Store) traceLogsIndexed(ctx context.Context, hexID string) ([]LogRecord, error) {
	r, err := s.traceRange(ctx, hexID)
	if err != nil || !r.known {
		return nil, err
	}
	return s.traceLogsIn(ctx, hexID, r)
}
