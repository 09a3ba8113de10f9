// Package rollup writes the analyzer's per-bucket edge aggregates to the
// flow_edges table periodically, so the graph of any time range is one
// aggregate query over the rows every instance wrote.
//
// Each flush drains every bucket, open ones included: rows are partial
// aggregates that readers sum (storage.Store.QueryEdges), so a bucket written in
// several flushes, or by several instances, adds up. A failed insert is
// retried at the next tick with the same deduplication token, so a batch the
// server stored before the connection broke is not stored twice. Tokens are
// deterministic per batch: instance, process start, flush sequence and a hash
// of the rows.
package rollup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Writer stores rollup rows; *storage.Store implements it.
type Writer interface {
	InsertEdgeRollups(ctx context.Context, rows []flowmodel.EdgeRollup, dedupToken string) error
}

// DrainFunc removes and returns the per-bucket deltas accumulated so far.
type DrainFunc func() []edges.BucketEdge

// Config of a Flusher.
type Config struct {
	Instance string
	// Interval between flushes; ticks are aligned to multiples of it (plus
	// Offset), so with Interval equal to the rollup bucket each flush writes
	// the bucket that just closed and a few seconds of the next: about one
	// row per edge and bucket, which keeps range queries small.
	Interval time.Duration
	// Offset delays each aligned tick, so halves that closed the previous
	// bucket (the pairing wait) are in before it is written.
	Offset time.Duration
	// MaxPending bounds the failed batches kept for retry; beyond it the
	// oldest is dropped and counted (default 60).
	MaxPending int
}

// Flusher drains and writes periodically.
type Flusher struct {
	cfg     Config
	drain   DrainFunc
	w       Writer
	log     *zap.Logger
	startNs int64

	mu      sync.Mutex // serialises flushes
	seq     uint64
	pending []batch
	// OnFlushed, when set, is called after every flush that left nothing
	// pending, with the time the aggregates were drained: every observation
	// made before it is stored.
	OnFlushed func(drainedAt time.Time)

	flushes, failures, rows, dropped prometheus.Counter
}

type batch struct {
	token string
	rows  []flowmodel.EdgeRollup
}

// New returns a Flusher; reg may be nil.
func New(cfg Config, drain DrainFunc, w Writer, log *zap.Logger, reg prometheus.Registerer) (*Flusher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 60
	}
	cl := prometheus.Labels{"instance": cfg.Instance}
	f := &Flusher{
		cfg: cfg, drain: drain, w: w, log: log, startNs: time.Now().UnixNano(),
		flushes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_rollup_flushes_total", Help: "Rollup batches written.", ConstLabels: cl}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_rollup_failures_total", Help: "Rollup inserts that failed (retried at the next tick).", ConstLabels: cl}),
		rows:     prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_rollup_rows_total", Help: "Rollup rows written.", ConstLabels: cl}),
		dropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_rollup_dropped_batches_total", Help: "Rollup batches dropped after max_pending failed flushes.", ConstLabels: cl}),
	}
	if reg != nil {
		if err := component.Register(reg, "rollup", f.flushes, f.failures, f.rows, f.dropped); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Run flushes every Interval until ctx ends. It does not flush at the end:
// call Flush after the last spans were processed.
func (f *Flusher) Run(ctx context.Context) {
	t := time.NewTimer(f.untilNextTick(time.Now()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.Flush(ctx); err != nil {
				f.log.Warn("rollup flush failed; retrying at the next tick", zap.Error(err))
			}
			t.Reset(f.untilNextTick(time.Now()))
		}
	}
}

// untilNextTick is the time to the next multiple of Interval plus Offset.
func (f *Flusher) untilNextTick(now time.Time) time.Duration {
	next := now.Truncate(f.cfg.Interval).Add(f.cfg.Offset)
	for !next.After(now) {
		next = next.Add(f.cfg.Interval)
	}
	return next.Sub(now)
}

// Flush drains the aggregates and writes them with whatever is pending.
func (f *Flusher) Flush(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	drainedAt := time.Now()
	if rows := edges.Rows(f.drain()); len(rows) > 0 {
		f.seq++
		f.pending = append(f.pending, batch{token: f.token(rows), rows: rows})
		if len(f.pending) > f.cfg.MaxPending {
			f.dropped.Inc()
			f.log.Error("rollup batch dropped: storage failing for too long", zap.Int("rows", len(f.pending[0].rows)))
			f.pending = f.pending[1:]
		}
	}
	for len(f.pending) > 0 {
		b := f.pending[0]
		if err := f.w.InsertEdgeRollups(ctx, b.rows, b.token); err != nil {
			f.failures.Inc()
			return fmt.Errorf("write %d rollup rows: %w", len(b.rows), err)
		}
		f.flushes.Inc()
		f.rows.Add(float64(len(b.rows)))
		f.pending = f.pending[1:]
	}
	if f.OnFlushed != nil {
		f.OnFlushed(drainedAt)
	}
	return nil
}

// Hold calls fn while no flush runs, with the rows drained but not written
// (those of failed flushes, kept for retry): what fn reads from the store and
// the analyzer then neither overlaps what it is given nor misses a batch on
// its way to storage.
func (f *Flusher) Hold(fn func(pending []flowmodel.EdgeRollup)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []flowmodel.EdgeRollup
	for _, b := range f.pending {
		rows = append(rows, b.rows...)
	}
	fn(rows)
}

// DiscardPending drops the batches waiting to be retried and returns how
// many rows they held. Used when their offsets will not be committed: the
// next owner of the partitions reads and counts those messages again.
func (f *Flusher) DiscardPending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.pending {
		n += len(b.rows)
	}
	f.pending = nil
	return n
}

// Pending is the number of batches waiting to be retried.
func (f *Flusher) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

func (f *Flusher) token(rows []flowmodel.EdgeRollup) string {
	h := sha256.New()
	var b [8]byte
	for _, r := range rows {
		binary.LittleEndian.PutUint64(b[:], uint64(r.Bucket.Unix()))
		h.Write(b[:])
		h.Write([]byte(r.Client))
		h.Write([]byte{0})
		h.Write([]byte(r.Server))
		h.Write([]byte{0})
		h.Write([]byte(r.ConnectionType))
		h.Write([]byte{0})
		h.Write([]byte(r.Destination))
		for _, v := range []uint64{r.Requests, r.Failed, r.MessagesSent, r.MessagesReceived, r.Retries, r.Unpaired,
			math.Float64bits(r.ServerLatency.Sum), math.Float64bits(r.ClientLatency.Sum), math.Float64bits(r.Delay.Sum),
			r.Breaker.Closed, r.Breaker.Open, r.Breaker.HalfOpen, r.Breaker.Transitions} {
			binary.LittleEndian.PutUint64(b[:], v)
			h.Write(b[:])
		}
	}
	return fmt.Sprintf("flowgraph/%s/%d/%d/%s", f.cfg.Instance, f.startNs, f.seq, hex.EncodeToString(h.Sum(nil)[:12]))
}
