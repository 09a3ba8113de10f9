package storage

import (
	"testing"
	"time"
)

// A lookup by trace ID reads the trace's spans from the projection ordered
// by TraceId: one granule, where otel_traces' own order (service, span
// name, time) puts each of the trace's spans in a granule of its own. This
// is what the projection's insert and merge cost buys (storage/README.md);
// a query the engine no longer serves from it would be several times
// slower at 10M spans without any test failing otherwise.
func TestTraceLookupReadsTheProjection(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	// One part of 40 granules (1,024 rows): 5,000 traces of 8 spans, one
	// per service.
	const nTraces, spansPer = 5000, 8
	var sr SpanRows
	sr.AppendTraces(genTraces(1, nTraces, spansPer, baseTime, time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	id := hexTraceID(traceIDOf(nTraces / 2))
	spans, err := s.traceSpansIndexed(ctx, id)
	if err != nil || len(spans) != spansPer {
		t.Fatalf("spans through the index: %d, %v; want %d", len(spans), err, spansPer)
	}
	// What the engine reads, after every index and projection it uses.
	r, err := s.traceRange(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var db, table string
	var parts, rows, marks uint64
	if err := s.conn.QueryRow(ctx, "EXPLAIN ESTIMATE "+s.traceSpansQuery(),
		namedParams("id", id, "from", r.from, "to", r.to)...).Scan(&db, &table, &parts, &rows, &marks); err != nil {
		t.Fatal(err)
	}
	if marks > 1 {
		t.Errorf("the lookup reads %d granules (%d rows) for a trace of %d spans, want 1: not from the projection ordered by TraceId", marks, rows, spansPer)
	}
}
