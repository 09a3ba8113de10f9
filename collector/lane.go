package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/storage"
)

// lane stores one topic's partitions of one generation, in batches that
// span them: each assigned partition has a feed that fetches and decodes
// into a segment of its own, and the lane's storer cuts every open segment
// into one batch, which it stores (marker, insert, dead letters, commit)
// while the feeds fill the next. Batches are stored one at a time, in
// order: a partition's marker may only be committed once the batch before
// it has committed that partition.
type lane struct {
	c      *Collector
	gen    *kafka.Generation
	topic  string
	kind   kind
	limits storage.RowLimits
	log    *zap.Logger
	feeds  []*feed // by ascending partition
	byPart map[int]*feed

	// The open batch, over all feeds. rows and bytes change under the
	// feed's lock that the segment belongs to, so they always sum the open
	// segments.
	rows, bytes atomic.Int64
	oldest      atomic.Int64  // unix ns of the open batch's first message; 0: nothing open
	cutNow      atomic.Bool   // the budget ran out: store what is open
	wake        chan struct{} // cap 1: the storer has something to look at
	mu          sync.Mutex
	cutDone     chan struct{} // closed at every cut, for feeds waiting for room

	broken bool          // a batch was not stored: nothing after it may be
	insert insertBuffers // several segments' rows, concatenated for one insert
	dlq    []kafka.Message
}

type insertBuffers struct {
	spans storage.SpanRows
	logs  storage.LogRows
}

// batch is the segments cut together, by ascending partition.
type batch struct {
	segs       []*segment
	fromMarker bool // rebuilt from a pending marker: the marker is committed
	// mine: of a rebuilt batch, the partitions whose marker names it, the
	// only ones committed here. The others are owned elsewhere, or here but
	// already committed past it (and maybe pending on a later batch).
	mine map[int]bool
}

// committed says whether storing b commits partition p.
func (b *batch) commits(p int) bool { return !b.fromMarker || b.mine[p] }

func (b *batch) ranges() batchRanges {
	r := make(batchRanges, len(b.segs))
	for i, s := range b.segs {
		r[i] = segRange{s.partition, s.start, s.end}
	}
	return r
}

func (b *batch) rows(k kind) int {
	n := 0
	for _, s := range b.segs {
		n += s.rows(k)
	}
	return n
}

func (b *batch) firstAt() time.Time {
	var t time.Time
	for _, s := range b.segs {
		if t.IsZero() || s.firstAt.Before(t) {
			t = s.firstAt
		}
	}
	return t
}

func newLane(c *Collector, gen *kafka.Generation, topic string, parts []kafka.PartitionAssignment) *lane {
	l := &lane{c: c, gen: gen, topic: topic, kind: c.kindOf(topic), limits: c.store.RowLimits(),
		byPart: map[int]*feed{}, wake: make(chan struct{}, 1), cutDone: make(chan struct{})}
	l.log = c.log.With(zap.String("topic", topic))
	l.insert.spans.Limits, l.insert.logs.Limits = l.limits, l.limits
	for _, p := range parts {
		f := l.newFeed(p.ID)
		f.start = p.Offset
		l.byPart[p.ID] = f
		l.feeds = append(l.feeds, f)
	}
	sortFeeds(l.feeds)
	return l
}

func sortFeeds(fs []*feed) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].partition < fs[j-1].partition; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// run stores the lane's partitions until the generation ends, then stores
// what is open: on Shutdown within its deadline, on a rebalance within
// RebalanceFlushTimeout. What is not stored by then is not committed and
// is redone exactly by the next owner.
func (l *lane) run(gctx context.Context, pending map[int]batchRanges) {
	c := l.c
	// Storing outlives the generation by the flush deadline: the batch in
	// flight and the open one are finished rather than redone.
	storeCtx, cancelStore := context.WithCancel(context.Background())
	defer cancelStore()
	stopWatch := context.AfterFunc(gctx, func() {
		if c.stopping.Load() {
			context.AfterFunc(c.flushCtx, cancelStore)
		} else {
			time.AfterFunc(c.cfg.RebalanceFlushTimeout, cancelStore)
		}
	})
	defer stopWatch()
	defer func() {
		for _, f := range l.feeds {
			l.release(f.seg)
			c.m.lag.DeleteLabelValues(l.topic, f.partLabel)
		}
	}()

	if !l.rebuild(storeCtx, pending) {
		l.broken = true
		<-gctx.Done() // returning would end the generation for everyone
		return
	}
	var wg sync.WaitGroup
	for _, f := range l.feeds {
		wg.Add(1)
		go func() { defer wg.Done(); f.run(gctx) }()
	}
	l.storeLoop(gctx, storeCtx)
	wg.Wait()
	if l.broken {
		return
	}
	for l.oldest.Load() != 0 || l.rows.Load() > 0 {
		b := l.cut()
		if b == nil {
			break
		}
		if !l.store(storeCtx, b) {
			l.log.Warn("batch not stored before stopping; it is not committed and will be redone exactly",
				zap.String("batch", b.ranges().list()))
			l.drop(b)
			return
		}
	}
}

// storeLoop cuts and stores a batch whenever the open one is full, old
// enough, or the budget ran out, until the generation ends.
func (l *lane) storeLoop(gctx, storeCtx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if oldest := l.oldest.Load(); oldest != 0 && !l.broken {
			due := time.Unix(0, oldest).Add(l.c.cfg.Batch.MaxAge)
			if l.full() || l.cutNow.Load() || !time.Now().Before(due) {
				l.cutNow.Store(false)
				if b := l.cut(); b != nil && !l.store(storeCtx, b) {
					l.drop(b)
					l.broken = true
				}
				if gctx.Err() != nil {
					return
				}
				continue
			}
			timer.Reset(time.Until(due))
		}
		select {
		case <-gctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) full() bool {
	return l.rows.Load() >= int64(l.c.cfg.Batch.MaxRows) || l.bytes.Load() >= int64(l.c.cfg.Batch.MaxBytes)
}

// waitRoom blocks a feed while the open batch is full, until the storer
// cuts it.
func (l *lane) waitRoom(ctx context.Context) bool {
	for l.full() {
		l.mu.Lock()
		ch := l.cutDone
		l.mu.Unlock()
		if !l.full() {
			break
		}
		l.signal()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// cut takes every feed's open segment (as many as one marker names) into
// a batch and gives the feeds fresh ones; nil when nothing was open.
func (l *lane) cut() *batch {
	l.oldest.Store(0)
	b := &batch{}
	markerLen := len(markerPrefixV2)
	for _, f := range l.feeds {
		f.mu.Lock()
		s := f.seg
		if s.n == 0 {
			f.mu.Unlock()
			continue
		}
		size := segRange{s.partition, s.start, s.end}.markerBytes()
		if len(b.segs) > 0 && markerLen+size > maxMarkerBytes {
			l.oldest.CompareAndSwap(0, s.firstAt.UnixNano()) // the next batch's
			f.mu.Unlock()
			continue
		}
		markerLen += size
		f.seg = f.takeSpare()
		l.rows.Add(-int64(s.rows(l.kind)))
		l.bytes.Add(-int64(s.bytes))
		f.mu.Unlock()
		b.segs = append(b.segs, s)
	}
	l.mu.Lock()
	close(l.cutDone)
	l.cutDone = make(chan struct{})
	l.mu.Unlock()
	if len(b.segs) == 0 {
		return nil
	}
	return b
}

// drop gives back what an unstored batch holds; it stays uncommitted.
func (l *lane) drop(b *batch) {
	for _, s := range b.segs {
		l.release(s)
		s.reset()
	}
}

// release gives back the budget s holds.
func (l *lane) release(s *segment) {
	if s == nil {
		return
	}
	l.c.budget.Release(s.held)
	l.c.m.bufferedBytes.Sub(float64(s.held))
	s.held = 0
}

// rebuild stores, before anything else is read, the batches that were
// pending on the lane's partitions when their previous owner stopped:
// each exactly as it was cut (every partition it spans, owned here or
// not), under its token, so the engine stores it once however many owners
// of its partitions rebuild it. A batch one of whose partitions has been
// committed past it was stored: it is only committed here. false means
// storing failed (the generation ended).
func (l *lane) rebuild(ctx context.Context, pending map[int]batchRanges) bool {
	c := l.c
	done := map[string]bool{}
	for _, f := range l.feeds {
		rngs := pending[f.partition]
		if rngs == nil || done[rngs.marker()] {
			continue
		}
		done[rngs.marker()] = true
		log := l.log.With(zap.String("batch", rngs.list()))
		mine := map[int]bool{}
		for _, g := range l.feeds {
			if m := pending[g.partition]; m != nil && m.marker() == rngs.marker() {
				mine[g.partition] = true
			}
		}
		stored, err := l.storedAlready(ctx, rngs)
		if err != nil {
			log.Warn("read the commits of a pending batch's partitions; rebuilding it", zap.Error(err))
		}
		if stored {
			log.Info("a pending batch was stored and committed on another of its partitions; committing it here")
			var offs []kafka.OffsetCommit
			for _, r := range rngs {
				if mine[r.partition] {
					offs = append(offs, kafka.OffsetCommit{Partition: r.partition, Offset: r.end + 1})
				}
			}
			if err := c.retry(ctx, "commit", func(ctx context.Context) error {
				return c.commit(ctx, l.gen, l.topic, offs)
			}, isLost); err != nil {
				return false
			}
			c.m.pending.WithLabelValues("already_stored").Inc()
		} else {
			log.Info("rebuilding the batch that was pending when the previous owner stopped")
			b, err := l.readRanges(ctx, rngs)
			b.mine = mine
			if err != nil {
				log.Warn("rebuild a pending batch", zap.Error(err))
				return false
			}
			if !l.store(ctx, b) {
				l.drop(b)
				return false
			}
			c.m.pending.WithLabelValues("rebuilt").Inc()
		}
		for _, r := range rngs {
			if mine[r.partition] {
				l.byPart[r.partition].start = r.end + 1
			}
		}
	}
	return true
}

// storedAlready says whether a partition of the batch is committed past it.
func (l *lane) storedAlready(ctx context.Context, rngs batchRanges) (bool, error) {
	req := &kafka.OffsetFetchRequest{GroupID: l.c.cfg.GroupID, Topics: map[string][]int{}}
	for _, r := range rngs {
		req.Topics[l.topic] = append(req.Topics[l.topic], r.partition)
	}
	resp, err := l.c.client.OffsetFetch(ctx, req)
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return false, err
	}
	end := map[int]int64{}
	for _, r := range rngs {
		end[r.partition] = r.end
	}
	for _, p := range resp.Topics[l.topic] {
		if p.Error == nil && p.CommittedOffset > end[p.Partition] {
			return true, nil
		}
	}
	return false, nil
}

// readRanges reads a pending batch's offsets again, partition by
// partition, into segments decoded as they were the first time.
func (l *lane) readRanges(ctx context.Context, rngs batchRanges) (*batch, error) {
	c := l.c
	b := &batch{fromMarker: true}
	for _, rng := range rngs {
		f := l.byPart[rng.partition]
		if f == nil {
			f = l.newFeed(rng.partition) // read here, owned elsewhere
		}
		s := f.takeSpare()
		s.partition, s.start, s.end = rng.partition, rng.start, rng.end
		b.segs = append(b.segs, s)
		r := c.newReader(l.topic, rng.partition, l.log)
		if err := r.SetOffset(rng.start); err != nil {
			go r.Close()
			return b, fmt.Errorf("set offset %d of %s/%d: %w", rng.start, l.topic, rng.partition, err)
		}
		for {
			// The range's last offsets may be gone (retention); a fetch
			// that finds nothing more within a generous wait ends it.
			fctx, cancel := context.WithTimeout(ctx, 2*c.cfg.FetchMaxWait+5*time.Second)
			m, err := r.FetchMessage(fctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					go r.Close()
					return b, ctx.Err()
				}
				if errors.Is(err, context.DeadlineExceeded) {
					l.log.Warn("a pending batch's last offsets are gone; rebuilding it from what is left",
						zap.Int("partition", rng.partition), zap.Int64("end", rng.end), zap.Int64("read_up_to", s.last))
					break
				}
				continue
			}
			if m.Offset > rng.end {
				break
			}
			if s.n == 0 {
				s.firstAt = time.Now()
			}
			s.n++
			s.bytes += len(m.Value)
			s.last = m.Offset
			s.lag = m.HighWaterMark - m.Offset - 1
			f.read(s, m)
			if m.Offset >= rng.end {
				break
			}
		}
		go r.Close()
	}
	return b, nil
}

func isLost(err error) bool { return errors.Is(err, errLostPartition) }

// store stores batch b and commits past it (see the package comment for
// the order). false means ctx ended or a partition was lost: b is then
// left uncommitted, as it was.
func (l *lane) store(ctx context.Context, b *batch) bool {
	c := l.c
	rngs := b.ranges()
	if !b.fromMarker {
		marker := rngs.marker()
		offs := make([]kafka.OffsetCommit, len(rngs))
		for i, r := range rngs {
			offs[i] = kafka.OffsetCommit{Partition: r.partition, Offset: r.start, Metadata: marker}
		}
		if err := c.retry(ctx, "commit", func(ctx context.Context) error {
			return c.commit(ctx, l.gen, l.topic, offs)
		}, isLost); err != nil {
			if isLost(err) {
				l.log.Info("partitions moved to another collector; dropping the unsaved batch (the new owners read it again)", zap.Error(err))
			}
			return false
		}
	}

	t0 := time.Now()
	rows := b.rows(l.kind)
	if err := l.insertBatch(ctx, b, rngs); err != nil {
		return false
	}
	if err := l.insertLedger(ctx, b, rngs); err != nil {
		return false
	}
	l.dlq = l.dlq[:0]
	for _, s := range b.segs {
		l.dlq = append(l.dlq, s.dlq...)
	}
	if len(l.dlq) > 0 {
		if err := c.retry(ctx, "dead_letter", func(ctx context.Context) error {
			err := c.dlq.WriteMessages(ctx, l.dlq...)
			if isTooLarge(err) {
				// The dead-letter topic takes smaller messages than the
				// source: keep the headers (the reason), drop the value.
				for i := range l.dlq {
					if len(l.dlq[i].Value) > maxDeadLetterValue {
						l.dlq[i].Headers = append(l.dlq[i].Headers, kafka.Header{Key: "flowlens.dead_letter.value_dropped",
							Value: []byte(strconv.Itoa(len(l.dlq[i].Value)))})
						l.dlq[i].Value = nil
					}
				}
			}
			return err
		}, func(error) bool { return false }); err != nil {
			return false
		}
		clear(l.dlq)
	}
	kindLabel := l.kind.String()
	c.m.batchLatency.WithLabelValues(kindLabel).Observe(time.Since(t0).Seconds())
	c.m.batchRows.WithLabelValues(kindLabel).Observe(float64(rows))
	c.m.batchParts.Observe(float64(len(b.segs)))
	c.m.rowsStored.WithLabelValues(kindLabel).Add(float64(rows))
	for _, s := range b.segs {
		for _, d := range s.dlqRecords {
			c.m.rowsDLQ.WithLabelValues(kindLabel, d.reason).Add(float64(d.records))
		}
	}

	// A rebuilt batch may span partitions owned elsewhere, or committed
	// past it already: they are not committed here.
	offs := make([]kafka.OffsetCommit, 0, len(rngs))
	for _, r := range rngs {
		if b.commits(r.partition) {
			offs = append(offs, kafka.OffsetCommit{Partition: r.partition, Offset: r.end + 1})
		}
	}
	if err := c.retry(ctx, "commit", func(ctx context.Context) error {
		return c.commit(ctx, l.gen, l.topic, offs)
	}, isLost); err != nil {
		// Stored but not committed: the next owners rebuild the same batch
		// from the pending markers and the engine drops it as a duplicate.
		return false
	}
	c.m.batchAge.WithLabelValues(kindLabel).Observe(time.Since(b.firstAt()).Seconds())
	for _, s := range b.segs {
		f := l.byPart[s.partition]
		if f != nil && b.commits(s.partition) {
			c.m.lag.WithLabelValues(l.topic, f.partLabel).Set(float64(max(s.lag, 0)))
		}
		l.release(s)
		s.reset()
		if f != nil {
			f.putSpare(s)
		}
	}
	return true
}

// insertBatch stores the batch's rows under its token, retrying while
// storage is unavailable. A permanent error falls back to one insert per
// message, dead-lettering the messages that still fail.
func (l *lane) insertBatch(ctx context.Context, b *batch, rngs batchRanges) error {
	if b.rows(l.kind) == 0 || l.kind == kindLedger { // reports: insertLedger
		return nil
	}
	spans, logs := &b.segs[0].spans, &b.segs[0].logs
	if len(b.segs) > 1 {
		spans, logs = &l.insert.spans, &l.insert.logs
		for _, s := range b.segs {
			if l.kind == kindSpans {
				spans.AppendRows(&s.spans)
			} else {
				logs.AppendRows(&s.logs)
			}
		}
		defer func() { l.insert.spans.Release(); l.insert.logs.Release() }()
	}
	err := l.insertRows(ctx, spans, logs, rngs.token(l.topic))
	if err == nil || ctx.Err() != nil {
		return err
	}
	l.log.Error("storage refused the batch; storing its messages one by one", zap.String("batch", rngs.list()), zap.Error(err))
	for _, s := range b.segs {
		f := l.byPart[s.partition]
		if f == nil {
			f = l.newFeed(s.partition)
		}
		one := f.newSegment() // rare path: not worth keeping
		for i, m := range s.msgs {
			one.spans.Reset()
			one.logs.Reset()
			if err := f.decodeAlone(one, m); err != nil {
				if !errors.Is(err, errUndecodable) {
					f.deadLetter(s, m, kafkawire.ReasonReaderPanic, err.Error(), 0)
				}
				s.msgRows[i] = 0
				continue
			}
			token := batchRanges{{s.partition, m.Offset, m.Offset}}.token(l.topic)
			if err := l.insertRows(ctx, &one.spans, &one.logs, token); err != nil {
				if ctx.Err() != nil {
					return err
				}
				f.deadLetter(s, m, "insert_failed", err.Error(), one.rows(l.kind))
				s.msgRows[i] = 0
			}
		}
	}
	return nil
}

func (l *lane) insertRows(ctx context.Context, spans *storage.SpanRows, logs *storage.LogRows, token string) error {
	c := l.c
	return c.retry(ctx, "insert", func(ctx context.Context) error {
		select {
		case c.inserts <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		if l.kind == kindSpans {
			err = c.store.InsertSpans(ctx, spans, token)
		} else {
			err = c.store.InsertLogs(ctx, logs, token)
		}
		<-c.inserts
		if err != nil && ctx.Err() == nil && c.isRetryable(err) {
			c.setStorageErr(err)
		} else if err == nil {
			c.setStorageErr(nil)
		}
		return err
	}, func(err error) bool { return !c.isRetryable(err) })
}
