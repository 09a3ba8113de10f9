package storage

import (
	"testing"
	"time"
)

// CountStored tells what an insert stored: everything the first time,
// nothing when the engine drops a re-sent batch, and how many of a batch's
// rows were there before.
func TestCountStored(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	var sr SpanRows
	sr.AppendTraces(genTraces(1, 600, 4, start, time.Second), nil) // 2400 spans: three count queries
	var lr LogRows
	lr.AppendLogs(genLogs(1, 50, start, time.Second), nil)
	count := func(table string, keys RowKeys) Stored {
		t.Helper()
		st, err := s.CountStored(ctx, table, keys)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if got := count(TracesTable, sr.Keys()); got != (Stored{}) {
		t.Fatalf("before any insert: %+v", got)
	}
	for i, want := range []Stored{{2400, 2400}, {2400, 2400}} { // the second insert is a re-sent batch
		if err := s.InsertSpans(ctx, &sr, "count-stored-spans"); err != nil {
			t.Fatal(err)
		}
		if got := count(TracesTable, sr.Keys()); got != want {
			t.Errorf("spans after insert %d: %+v, want %+v", i+1, got, want)
		}
	}
	if err := s.InsertLogs(ctx, &lr, "count-stored-logs"); err != nil {
		t.Fatal(err)
	}
	if got, want := count(LogsTable, lr.Keys()), (Stored{50, 50}); got != want {
		t.Errorf("logs: %+v, want %+v", got, want)
	}
	// Another token stores the rows again: twice the rows, the same keys.
	if err := s.InsertLogs(ctx, &lr, "count-stored-logs-again"); err != nil {
		t.Fatal(err)
	}
	if got, want := count(LogsTable, lr.Keys()), (Stored{100, 50}); got != want {
		t.Errorf("logs stored twice: %+v, want %+v", got, want)
	}
	if _, err := s.CountStored(ctx, "flow_edges", sr.Keys()); err == nil {
		t.Error("a table without such keys was counted")
	}
}
