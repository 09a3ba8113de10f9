package rollup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"go.uber.org/zap"
)

func TestTicksAlignToInterval(t *testing.T) {
	f, _ := New(Config{Instance: "x", Interval: time.Minute, Offset: 12 * time.Second}, nil, nil, zap.NewNop(), nil)
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ now, next string }{
		{"10:00:00", "10:00:12"},
		{"10:00:11", "10:00:12"},
		{"10:00:12", "10:01:12"},
		{"10:00:59", "10:01:12"},
	} {
		now, _ := time.Parse("15:04:05", tc.now)
		want, _ := time.Parse("15:04:05", tc.next)
		now = base.Add(now.Sub(now.Truncate(24 * time.Hour)))
		want = base.Add(want.Sub(want.Truncate(24 * time.Hour)))
		if got := now.Add(f.untilNextTick(now)); !got.Equal(want) {
			t.Errorf("at %s: next tick %s, want %s", tc.now, got.Format("15:04:05"), tc.next)
		}
	}
}

type failingWriter struct {
	fail  bool
	calls int
	rows  int
}

func (w *failingWriter) InsertEdgeRollups(_ context.Context, rows []flowmodel.EdgeRollup, _ string) error {
	w.calls++
	if w.fail {
		return errors.New("clickhouse down")
	}
	w.rows += len(rows)
	return nil
}

func TestStorageDownKeepsBoundedPendingAndCatchesUp(t *testing.T) {
	w := &failingWriter{fail: true}
	n := 0
	drain := func() []edges.BucketEdge {
		n++
		return []edges.BucketEdge{{BucketNs: int64(n) * 60e9, Edge: edges.Edge{Client: "a", Server: "b", Counters: edges.Counters{Requests: 1}}}}
	}
	f, _ := New(Config{Instance: "x", MaxPending: 3}, drain, w, zap.NewNop(), nil)
	flushed := 0
	f.OnFlushed = func(time.Time) { flushed++ }
	for i := 0; i < 5; i++ {
		if err := f.Flush(context.Background()); err == nil {
			t.Fatal("want an error while storage is down")
		}
	}
	if f.Pending() != 3 || flushed != 0 {
		t.Fatalf("pending %d (want the bound 3), OnFlushed %d", f.Pending(), flushed)
	}
	w.fail = false
	if err := f.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// the recovery flush drains a 6th batch: the bound keeps the newest 3
	if f.Pending() != 0 || w.rows != 3 || flushed != 1 {
		t.Fatalf("after recovery: pending %d, rows %d (want the 3 newest), OnFlushed %d", f.Pending(), w.rows, flushed)
	}
}
