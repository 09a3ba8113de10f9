package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/storage"
)

type kind int

const (
	kindSpans kind = iota
	kindLogs
)

func (k kind) String() string {
	if k == kindLogs {
		return "logs"
	}
	return "spans"
}

// worker consumes one partition for one generation.
type worker struct {
	c         *Collector
	gen       *kafka.Generation
	topic     string
	partition int
	start     int64
	kind      kind
	pending   *pendingMarker // a batch to rebuild exactly, from the commit metadata
	partLabel string
	limits    storage.RowLimits

	// Batches are stored in the background so that fetching and decoding
	// go on meanwhile, but one at a time and in offset order: a batch's
	// marker may only be committed once the batch before it is committed.
	b        *batch    // the open batch, filled by run
	inflight *batch    // being stored by its own goroutine, or nil
	stored   chan bool // the in-flight store's result
	spare    *batch    // a stored batch, reused as the next open one
	broken   bool      // a batch was not stored: nothing after it may be
	scratch  batch     // add's rare path: splitting rejected records
}

// batch is consecutive offsets [start, end] of one partition.
type batch struct {
	n          int   // messages
	start, end int64 // the declared range (a rebuilt batch: its marker's)
	last       int64 // the last offset read
	firstAt    time.Time
	held       int64 // budget bytes
	bytes      int
	markerDone bool
	fromMarker bool
	lag        int64

	spans storage.SpanRows
	logs  storage.LogRows
	msgs  []kafka.Message // decoded messages, kept for the per-message fallback
	dlq   []kafka.Message
	// dlqRecords holds, for each dead letter, its reason and records (for
	// metrics), beside dlq so that both are undone together.
	dlqRecords []deadLetterCount
}

type deadLetterCount struct {
	reason  string
	records int
}

func (b *batch) rows(k kind) int {
	if k == kindLogs {
		return b.logs.Len()
	}
	return b.spans.Len()
}

func (w *worker) newBatch() *batch {
	b := &batch{}
	b.spans.Limits, b.logs.Limits = w.limits, w.limits
	return b
}

func (b *batch) reset() {
	b.n, b.held, b.bytes = 0, 0, 0
	b.markerDone, b.fromMarker = false, false
	b.spans.Reset()
	b.logs.Reset()
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	clear(b.dlq)
	b.dlq = b.dlq[:0]
	b.dlqRecords = b.dlqRecords[:0]
}

func (w *worker) run(gctx context.Context) {
	c := w.c
	w.partLabel = strconv.Itoa(w.partition)
	w.limits = c.store.RowLimits()
	w.b = w.newBatch()
	w.stored = make(chan bool, 1)
	w.scratch.spans.Limits, w.scratch.logs.Limits = w.limits, w.limits
	log := c.log.With(zap.String("topic", w.topic), zap.Int("partition", w.partition))

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Kafka.Brokers,
		Topic:     w.topic,
		Partition: w.partition,
		Dialer:    c.dialer,
		MinBytes:  1,
		MaxBytes:  int(c.cfg.FetchMaxBytes),
		// Batch timing does not depend on MaxWait: FetchMessage has its
		// own deadline (see Config.FetchMaxWait).
		MaxWait:        c.cfg.FetchMaxWait,
		QueueCapacity:  64,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafka.LoggerFunc(log.Sugar().Debugf),
	})
	// Closing a reader waits for its fetch in flight, up to FetchMaxWait when
	// nothing arrives: seconds at shutdown, after the agent stopped sending.
	// Offsets are committed through the generation, never the reader, so
	// the worker need not wait for it.
	defer func() { go r.Close() }()
	start := w.start
	if start < 0 {
		start = kafka.FirstOffset
	}
	if err := r.SetOffset(start); err != nil {
		log.Error("set offset", zap.Error(err))
		return
	}
	if w.pending != nil {
		log.Info("rebuilding the batch that was pending when the previous owner stopped",
			zap.Int64("start", w.pending.start), zap.Int64("end", w.pending.end))
	}
	defer func() {
		w.settle(nil, log) // normally done by finish already
		w.release(w.b)
		c.m.lag.DeleteLabelValues(w.topic, w.partLabel)
	}()

	for {
		fctx, cancel := gctx, context.CancelFunc(func() {})
		if w.b.n > 0 && w.pending == nil { // a rebuilt batch waits for its last offset
			fctx, cancel = context.WithDeadline(gctx, w.b.firstAt.Add(c.cfg.Batch.MaxAge))
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if gctx.Err() != nil {
				w.finish(log)
				return
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if !w.flush(gctx, log) {
					w.finish(log)
					return
				}
				continue
			}
			log.Warn("fetch", zap.Error(err))
			select {
			case <-gctx.Done():
			case <-time.After(c.cfg.Retry.Initial):
			}
			continue
		}
		if w.pending != nil && m.Offset > w.pending.end {
			// The pending range is complete (its last offsets may be gone).
			if w.b.n > 0 && !w.flush(gctx, log) {
				w.finish(log)
				return
			}
			w.pending = nil
		}
		if !w.add(gctx, m, log) {
			w.finish(log)
			return
		}
		full := false
		if w.pending != nil {
			full = m.Offset >= w.pending.end
		} else {
			full = w.b.rows(w.kind) >= c.cfg.Batch.MaxRows || w.b.bytes >= int(c.cfg.Batch.MaxBytes)
		}
		if full {
			if !w.flush(gctx, log) {
				w.finish(log)
				return
			}
			if w.pending != nil && m.Offset >= w.pending.end {
				w.pending = nil
			}
		}
	}
}

// finish stores what is open when the generation ends: on Shutdown within
// its deadline, on a rebalance within RebalanceFlushTimeout. The in-flight
// batch comes first (and is stored again if the generation's end cut it
// short): the open one may not be committed past it.
func (w *worker) finish(log *zap.Logger) {
	ctx := w.c.flushCtx
	if !w.c.stopping.Load() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), w.c.cfg.RebalanceFlushTimeout)
		defer cancel()
	}
	if !w.settle(ctx, log) || w.broken || w.b.n == 0 {
		return
	}
	if w.pending != nil && w.b.last < w.pending.end {
		// Storing part of a pending range under its token would lose the
		// rest: leave it to the next owner, marker and all.
		log.Info("stopping while rebuilding a pending batch; the next owner rebuilds it",
			zap.Int64("start", w.pending.start), zap.Int64("end", w.pending.end), zap.Int64("read_up_to", w.b.last))
		return
	}
	b := w.b
	if !w.flush(ctx, log) || !w.settle(ctx, log) {
		log.Warn("batch not stored before stopping; it is not committed and will be redone exactly",
			zap.Int64("start", b.start), zap.Int64("end", b.end))
	}
}

// flush hands the open batch to a background store and opens a new one,
// after waiting for the previous store. false means stop: that store
// failed (ctx ended or the partition was lost), so nothing after it may be
// stored.
func (w *worker) flush(ctx context.Context, log *zap.Logger) bool {
	if w.b.n == 0 {
		return true
	}
	if !w.settle(nil, log) {
		return false
	}
	b := w.b
	w.inflight = b
	if w.b = w.spare; w.b == nil {
		w.b = w.newBatch()
	}
	w.spare = nil
	go func() { w.stored <- w.store(ctx, log, b) }()
	return true
}

// settle waits for the in-flight store. If it failed and retry is a live
// context, the batch is stored again under retry (same marker, same token:
// stored once). A batch that stays unstored is dropped, uncommitted, and
// the worker is broken: the next owner redoes it exactly.
func (w *worker) settle(retry context.Context, log *zap.Logger) bool {
	b := w.inflight
	if b == nil {
		return !w.broken
	}
	ok := <-w.stored
	if !ok && retry != nil && retry.Err() == nil {
		ok = w.store(retry, log, b)
	}
	w.inflight = nil
	if ok {
		w.spare = b
		return !w.broken
	}
	w.release(b)
	b.reset()
	w.broken = true
	return false
}

// release gives back the budget b holds.
func (w *worker) release(b *batch) {
	w.c.budget.Release(b.held)
	w.c.m.bufferedBytes.Sub(float64(b.held))
	b.held = 0
}

// add takes m into the batch, waiting for buffer budget (and storing the
// open batch first when the budget is exhausted).
func (w *worker) add(ctx context.Context, m kafka.Message, log *zap.Logger) bool {
	c := w.c
	size := min(rowsMemory*int64(len(m.Value))+int64(len(m.Key))+64, int64(c.cfg.MaxBufferedBytes))
	switch {
	case c.budget.TryAcquire(size):
	case w.pending != nil:
		// A pending batch must be rebuilt whole before it is stored; it
		// was within the budget of its first owner, so let it overdraw.
		size = 0
	default:
		if w.b.n > 0 && !w.flush(ctx, log) {
			return false
		}
		if err := c.budget.Acquire(ctx, size); err != nil {
			return false
		}
	}
	c.m.bufferedBytes.Add(float64(size))
	c.m.messages.WithLabelValues(w.topic).Inc()
	b := w.b
	b.held += size
	if b.n == 0 {
		b.firstAt = time.Now()
		b.start = m.Offset
		if w.pending != nil {
			b.start, b.fromMarker, b.markerDone = w.pending.start, true, true
		}
	}
	b.n++
	b.bytes += len(m.Value)
	b.end, b.last = m.Offset, m.Offset
	if w.pending != nil {
		b.end = w.pending.end
	}
	b.lag = m.HighWaterMark - m.Offset - 1

	w.read(b, m, log)
	return true
}

// read decodes m into b's rows, dead-lettering what cannot be stored. A
// panic while reading m (a decoder bug a message can trigger) fails m alone:
// what it had appended is undone, m goes to the dead-letter topic with the
// panic as its reason, and the partition goes on.
func (w *worker) read(b *batch, m kafka.Message, log *zap.Logger) {
	rowsBefore, dlqBefore := b.rows(w.kind), len(b.dlq)
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if w.kind == kindSpans {
			b.spans.Truncate(rowsBefore)
		} else {
			b.logs.Truncate(rowsBefore)
		}
		clear(b.dlq[dlqBefore:])
		b.dlq, b.dlqRecords = b.dlq[:dlqBefore], b.dlqRecords[:dlqBefore]
		log.Error("reading a message panicked; it goes to the dead-letter topic, the partition goes on",
			zap.Int64("offset", m.Offset), zap.Any("panic", p), zap.Stack("stack"))
		w.deadLetter(b, m, kafkawire.ReasonReaderPanic, fmt.Sprintf("panic while reading the message: %v", p), 0)
	}()
	rejected, ok := w.decode(b, m)
	if !ok {
		return // dead-lettered whole
	}
	if w.c.readHook != nil {
		w.c.readHook(m)
	}
	w.consumed(b, m, rowsBefore, rejected)
}

// decode appends m's records to b's rows and dead-letters the ones storage
// rejects; false means m could not be decoded and was dead-lettered whole.
func (w *worker) decode(b *batch, m kafka.Message) (rejected int, ok bool) {
	c := w.c
	onReject := func(error) { rejected++ }
	// The usual message (otlp_proto, all records storable) is read straight
	// from its bytes into the rows; pdata decodes only what that path
	// refuses (malformed or empty requests get their dead-letter reason
	// from it) and the messages with rejected records, to split them.
	proto := c.dec.IsProto(m.Value, m.Headers)
	if w.kind == kindSpans {
		if proto {
			if n, err := b.spans.AppendTracesProto(m.Value, onReject); err == nil && n > 0 {
				if rejected > 0 {
					if td, err := c.dec.DecodeTraces(m.Value, m.Headers); err == nil {
						w.deadLetterRejectedSpans(b, m, td)
					}
				}
				return rejected, true
			}
			rejected = 0 // nothing appended: the pdata path below decides
		}
		td, err := c.dec.DecodeTraces(m.Value, m.Headers)
		if err != nil {
			w.deadLetterUndecodable(b, m, err)
			return 0, false
		}
		b.spans.AppendTraces(td, onReject)
		if rejected > 0 {
			w.deadLetterRejectedSpans(b, m, td)
		}
		return rejected, true
	}
	if proto {
		if n, err := b.logs.AppendLogsProto(m.Value, onReject); err == nil && n > 0 {
			if rejected > 0 {
				if ld, err := c.dec.DecodeLogs(m.Value, m.Headers); err == nil {
					w.deadLetterRejectedLogs(b, m, ld)
				}
			}
			return rejected, true
		}
		rejected = 0
	}
	ld, err := c.dec.DecodeLogs(m.Value, m.Headers)
	if err != nil {
		w.deadLetterUndecodable(b, m, err)
		return 0, false
	}
	b.logs.AppendLogs(ld, onReject)
	if rejected > 0 {
		w.deadLetterRejectedLogs(b, m, ld)
	}
	return rejected, true
}

// consumed counts the rows m gave (stored or rejected) and keeps m for the
// per-message fallback.
func (w *worker) consumed(b *batch, m kafka.Message, before, rejected int) {
	w.c.m.rowsConsumed.WithLabelValues(w.kind.String()).Add(float64(b.rows(w.kind) - before + rejected))
	b.msgs = append(b.msgs, m)
}

func (w *worker) token(start, end int64) string {
	return "flowlens:" + w.topic + ":" + w.partLabel + ":" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
}

// store stores batch b and commits past it (see the package comment for
// the order); it runs on its own goroutine, one per worker at a time.
// false means ctx ended or the partition was lost: b is then left
// uncommitted, as it was.
func (w *worker) store(ctx context.Context, log *zap.Logger, b *batch) bool {
	c := w.c
	lost := func(err error) bool { return errors.Is(err, errLostPartition) }
	if !b.markerDone {
		marker := pendingMarker{b.start, b.end}.String()
		if err := c.retry(ctx, "commit", func(ctx context.Context) error {
			return c.commit(ctx, w.gen, w.topic, w.partition, b.start, marker)
		}, lost); err != nil {
			if lost(err) {
				log.Info("partition moved to another collector; dropping the unsaved batch (the new owner reads it again)", zap.Error(err))
			}
			return false
		}
		b.markerDone = true
	}

	t0 := time.Now()
	rows := b.rows(w.kind)
	if err := w.insert(ctx, log, b); err != nil {
		return false
	}
	if len(b.dlq) > 0 {
		if err := c.retry(ctx, "dead_letter", func(ctx context.Context) error {
			err := c.dlq.WriteMessages(ctx, b.dlq...)
			if isTooLarge(err) {
				// The dead-letter topic takes smaller messages than the
				// source: keep the headers (the reason), drop the value.
				for i := range b.dlq {
					if len(b.dlq[i].Value) > maxDeadLetterValue {
						b.dlq[i].Headers = append(b.dlq[i].Headers, kafka.Header{Key: "flowlens.dead_letter.value_dropped",
							Value: []byte(strconv.Itoa(len(b.dlq[i].Value)))})
						b.dlq[i].Value = nil
					}
				}
			}
			return err
		}, func(error) bool { return false }); err != nil {
			return false
		}
	}
	kindLabel := w.kind.String()
	c.m.batchLatency.WithLabelValues(kindLabel).Observe(time.Since(t0).Seconds())
	c.m.batchRows.WithLabelValues(kindLabel).Observe(float64(rows))
	c.m.rowsStored.WithLabelValues(kindLabel).Add(float64(rows))
	for _, d := range b.dlqRecords {
		c.m.rowsDLQ.WithLabelValues(kindLabel, d.reason).Add(float64(d.records))
	}

	if err := c.retry(ctx, "commit", func(ctx context.Context) error {
		return c.commit(ctx, w.gen, w.topic, w.partition, b.end+1, "")
	}, lost); err != nil {
		// Stored but not committed: the next owner rebuilds the same batch
		// from the pending marker and the engine drops it as a duplicate.
		return false
	}
	c.m.batchAge.WithLabelValues(kindLabel).Observe(time.Since(b.firstAt).Seconds())
	c.m.lag.WithLabelValues(w.topic, w.partLabel).Set(float64(max(b.lag, 0)))
	w.release(b)
	b.reset()
	return true
}

// insert stores the batch's rows under its token, retrying while storage
// is unavailable. A permanent error falls back to one insert per message,
// dead-lettering the messages that still fail.
func (w *worker) insert(ctx context.Context, log *zap.Logger, b *batch) error {
	if b.rows(w.kind) == 0 {
		return nil
	}
	err := w.insertRows(ctx, b, w.token(b.start, b.end))
	if err == nil || ctx.Err() != nil {
		return err
	}
	log.Error("storage refused the batch; storing its messages one by one", zap.Int64("start", b.start), zap.Int64("end", b.end), zap.Error(err))
	s := w.newBatch() // rare path: not worth keeping
	for _, m := range b.msgs {
		s.spans.Reset()
		s.logs.Reset()
		if err := w.decodeAlone(s, m); err != nil {
			if !errors.Is(err, errUndecodable) {
				w.deadLetter(b, m, kafkawire.ReasonReaderPanic, err.Error(), 0)
			}
			continue
		}
		if err := w.insertRows(ctx, s, w.token(m.Offset, m.Offset)); err != nil {
			if ctx.Err() != nil {
				return err
			}
			w.deadLetter(b, m, "insert_failed", err.Error(), s.rows(w.kind))
		}
	}
	return nil
}

// errUndecodable: a message the fallback cannot decode (it was
// dead-lettered when it was first read).
var errUndecodable = errors.New("undecodable")

// decodeAlone decodes m through pdata into s, for the per-message fallback;
// a panic doing so is returned as an error.
func (w *worker) decodeAlone(s *batch, m kafka.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.spans.Reset()
			s.logs.Reset()
			err = fmt.Errorf("panic while reading the message: %v", p)
		}
	}()
	if w.kind == kindSpans {
		td, derr := w.c.dec.DecodeTraces(m.Value, m.Headers)
		if derr != nil {
			return errUndecodable
		}
		s.spans.AppendTraces(td, nil)
		return nil
	}
	ld, derr := w.c.dec.DecodeLogs(m.Value, m.Headers)
	if derr != nil {
		return errUndecodable
	}
	s.logs.AppendLogs(ld, nil)
	return nil
}

func (w *worker) insertRows(ctx context.Context, b *batch, token string) error {
	c := w.c
	return c.retry(ctx, "insert", func(ctx context.Context) error {
		select {
		case c.inserts <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		if w.kind == kindSpans {
			err = c.store.InsertSpans(ctx, &b.spans, token)
		} else {
			err = c.store.InsertLogs(ctx, &b.logs, token)
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

// deadLetter queues a copy of m (or of the records of it that failed) for
// the dead-letter topic; it is written before the batch is committed.
func (w *worker) deadLetter(b *batch, m kafka.Message, reason, detail string, records int) {
	b.dlq = append(b.dlq, kafkawire.DeadLetterMessage(w.c.cfg.Topics.DeadLetter, m, reason, detail))
	b.dlqRecords = append(b.dlqRecords, deadLetterCount{reason, records})
	w.c.m.messagesDLQ.WithLabelValues(w.topic, reason).Inc()
}

func (w *worker) deadLetterUndecodable(b *batch, m kafka.Message, err error) {
	reason := "undecodable"
	var de *kafkawire.DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	w.deadLetter(b, m, reason, err.Error(), 0)
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, storage.ErrBadTimestamp):
		return "bad_timestamp"
	case errors.Is(err, storage.ErrAttributeTooLarge):
		return "attribute_too_large"
	}
	return "rejected"
}

// deadLetterRejectedSpans sends the spans of td that storage rejected (and
// only those, so replaying the dead letters duplicates nothing) as otlp_proto
// messages, one per rejection reason. The message's other spans are in the
// batch.
func (w *worker) deadLetterRejectedSpans(b *batch, m kafka.Message, td ptrace.Traces) {
	type part struct {
		td    ptrace.Traces
		n     int
		first error
	}
	var parts []*part
	byReason := map[string]*part{}
	one := ptrace.NewTraces()
	s := &w.scratch.spans
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				one.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				ors.SetSchemaUrl(rs.SchemaUrl())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				oss.SetSchemaUrl(ss.SchemaUrl())
				ss.Spans().At(k).CopyTo(oss.Spans().AppendEmpty())
				var rejectErr error
				s.Reset()
				s.AppendTraces(one, func(err error) { rejectErr = err })
				if rejectErr == nil {
					continue
				}
				reason := rejectReason(rejectErr)
				p := byReason[reason]
				if p == nil {
					p = &part{td: ptrace.NewTraces(), first: rejectErr}
					byReason[reason] = p
					parts = append(parts, p)
				}
				p.n++
				one.ResourceSpans().MoveAndAppendTo(p.td.ResourceSpans())
			}
		}
	}
	s.Reset()
	for _, p := range parts {
		v, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, p.td)
		if err != nil {
			v = m.Value // cannot happen with valid pdata; keep the original then
		}
		w.deadLetter(b, rejectedCopy(m, v), rejectReason(p.first), fmt.Sprintf("%d span(s) rejected by storage; first: %v", p.n, p.first), p.n)
	}
}

// deadLetterRejectedLogs is deadLetterRejectedSpans for log records.
func (w *worker) deadLetterRejectedLogs(b *batch, m kafka.Message, ld plog.Logs) {
	type part struct {
		ld    plog.Logs
		n     int
		first error
	}
	var parts []*part
	byReason := map[string]*part{}
	one := plog.NewLogs()
	s := &w.scratch.logs
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				one.ResourceLogs().RemoveIf(func(plog.ResourceLogs) bool { return true })
				orl := one.ResourceLogs().AppendEmpty()
				rl.Resource().CopyTo(orl.Resource())
				orl.SetSchemaUrl(rl.SchemaUrl())
				osl := orl.ScopeLogs().AppendEmpty()
				sl.Scope().CopyTo(osl.Scope())
				osl.SetSchemaUrl(sl.SchemaUrl())
				sl.LogRecords().At(k).CopyTo(osl.LogRecords().AppendEmpty())
				var rejectErr error
				s.Reset()
				s.AppendLogs(one, func(err error) { rejectErr = err })
				if rejectErr == nil {
					continue
				}
				reason := rejectReason(rejectErr)
				p := byReason[reason]
				if p == nil {
					p = &part{ld: plog.NewLogs(), first: rejectErr}
					byReason[reason] = p
					parts = append(parts, p)
				}
				p.n++
				one.ResourceLogs().MoveAndAppendTo(p.ld.ResourceLogs())
			}
		}
	}
	s.Reset()
	for _, p := range parts {
		v, err := kafkawire.MarshalLogs(kafkawire.EncodingProto, p.ld)
		if err != nil {
			v = m.Value
		}
		w.deadLetter(b, rejectedCopy(m, v), rejectReason(p.first), fmt.Sprintf("%d log record(s) rejected by storage; first: %v", p.n, p.first), p.n)
	}
}

// rejectedCopy is m with value v (the rejected records only), marked otlp_proto.
func rejectedCopy(m kafka.Message, v []byte) kafka.Message {
	dm := m
	dm.Value = v
	dm.Headers = append(append([]kafka.Header(nil), m.Headers...), kafka.Header{Key: kafkawire.HeaderContentType, Value: []byte(kafkawire.EncodingProto)})
	return dm
}

// rowsMemory estimates the memory of a message held in a batch (its value,
// the rows' copy of its strings and their slices, GC headroom) as a
// multiple of its size. BenchmarkRSSWhileStorageDown measures it.
const rowsMemory = 4

// maxDeadLetterValue is the largest value kept when the dead-letter topic
// refuses a message as too large (Kafka's default limit is about 1 MB).
const maxDeadLetterValue = 900 << 10

func isTooLarge(err error) bool {
	if err == nil {
		return false
	}
	var tooLarge kafka.MessageTooLargeError
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.As(err, &tooLarge)
}
