package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
	kindLedger // the agents' ledger reports
)

func (k kind) String() string {
	switch k {
	case kindLogs:
		return kafkawire.LedgerLogs
	case kindLedger:
		return "ledger"
	}
	return kafkawire.LedgerSpans
}

// feed fetches one partition for its lane and decodes every message into
// its open segment. The lane's storer swaps the segment out under mu, so
// that a cut falls between two messages.
type feed struct {
	l         *lane
	partition int
	partLabel string
	start     int64 // the first offset to read
	log       *zap.Logger

	mu      sync.Mutex
	seg     *segment // open: filled by run, taken by the lane's cut
	spare   *segment // a stored segment, reused as the next open one
	scratch segment  // the rare path: splitting rejected records
}

// segment is consecutive offsets [start, end] of one partition, in a batch.
type segment struct {
	partition  int
	n          int   // messages
	start, end int64 // the range (a rebuilt one: its marker's)
	last       int64 // the last offset read
	firstAt    time.Time
	held       int64 // budget bytes
	bytes      int
	lag        int64

	spans storage.SpanRows
	logs  storage.LogRows
	msgs  []kafka.Message // decoded messages, kept for the per-message fallback
	// msgRows are the rows each of msgs gave (0 once the fallback
	// dead-lettered it), for the ledger
	msgRows []int
	reports []storage.LedgerReport // of a ledger topic segment
	dlq     []kafka.Message
	// dlqRecords holds, for each dead letter, its reason and records (for
	// metrics), beside dlq so that both are undone together.
	dlqRecords []deadLetterCount
}

type deadLetterCount struct {
	reason  string
	records int
}

func (s *segment) rows(k kind) int {
	switch k {
	case kindLogs:
		return s.logs.Len()
	case kindLedger:
		return len(s.reports)
	}
	return s.spans.Len()
}

// reset empties s for reuse, keeping its buffers.
func (s *segment) reset() {
	s.n, s.held, s.bytes = 0, 0, 0
	s.spans.Reset()
	s.logs.Reset()
	clear(s.msgs)
	s.msgs = s.msgs[:0]
	s.msgRows = s.msgRows[:0]
	s.reports = s.reports[:0]
	clear(s.dlq)
	s.dlq = s.dlq[:0]
	s.dlqRecords = s.dlqRecords[:0]
}

func (l *lane) newFeed(partition int) *feed {
	f := &feed{l: l, partition: partition, partLabel: strconv.Itoa(partition)}
	f.log = l.log.With(zap.Int("partition", partition))
	f.seg = f.newSegment()
	f.scratch.spans.Limits, f.scratch.logs.Limits = l.limits, l.limits
	return f
}

func (f *feed) newSegment() *segment {
	s := &segment{partition: f.partition}
	s.spans.Limits, s.logs.Limits = f.l.limits, f.l.limits
	return s
}

// takeSpare returns the spare segment or a new one; under f.mu.
func (f *feed) takeSpare() *segment {
	if s := f.spare; s != nil {
		f.spare = nil
		return s
	}
	return f.newSegment()
}

func (f *feed) putSpare(s *segment) {
	f.mu.Lock()
	f.spare = s
	f.mu.Unlock()
}

// newReader reads one partition outside the group's bookkeeping: offsets
// are committed through the generation, never the reader.
func (c *Collector) newReader(topic string, partition int, log *zap.Logger) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Kafka.Brokers,
		Topic:     topic,
		Partition: partition,
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
}

// run fetches the partition from f.start until the generation ends.
func (f *feed) run(gctx context.Context) {
	c := f.l.c
	r := c.newReader(f.l.topic, f.partition, f.log)
	// Closing a reader waits for its fetch in flight, up to FetchMaxWait when
	// nothing arrives: seconds at shutdown, after the agent stopped sending.
	defer func() { go r.Close() }()
	start := f.start
	if start < 0 {
		start = kafka.FirstOffset
	}
	if err := r.SetOffset(start); err != nil {
		f.log.Error("set offset", zap.Error(err))
		<-gctx.Done()
		return
	}
	for {
		m, err := r.FetchMessage(gctx)
		if err != nil {
			if gctx.Err() != nil {
				return
			}
			f.log.Warn("fetch", zap.Error(err))
			select {
			case <-gctx.Done():
				return
			case <-time.After(c.cfg.Retry.Initial):
			}
			continue
		}
		if !f.add(gctx, m) {
			return
		}
	}
}

// add takes m into the open segment, waiting for buffer budget (asking the
// lane to store what is open when the budget is exhausted) and for room in
// the open batch.
func (f *feed) add(ctx context.Context, m kafka.Message) bool {
	l := f.l
	c := l.c
	size := min(rowsMemory*int64(len(m.Value))+int64(len(m.Key))+64, int64(c.cfg.MaxBufferedBytes))
	if !c.budget.TryAcquire(size) {
		l.cutNow.Store(true)
		l.signal()
		if err := c.budget.Acquire(ctx, size); err != nil {
			return false
		}
	}
	if !l.waitRoom(ctx) {
		c.budget.Release(size)
		return false
	}
	c.m.bufferedBytes.Add(float64(size))
	c.m.messages.WithLabelValues(l.topic).Inc()

	f.mu.Lock()
	s := f.seg
	if s.n == 0 {
		s.firstAt = time.Now()
		s.start = m.Offset
		l.oldest.CompareAndSwap(0, s.firstAt.UnixNano())
		l.signal()
	}
	s.n++
	s.held += size
	s.bytes += len(m.Value)
	s.end, s.last = m.Offset, m.Offset
	s.lag = m.HighWaterMark - m.Offset - 1
	before := s.rows(l.kind)
	f.read(s, m)
	l.rows.Add(int64(s.rows(l.kind) - before))
	l.bytes.Add(int64(len(m.Value)))
	f.mu.Unlock()
	if l.full() {
		l.signal()
	}
	return true
}

// read decodes m into s's rows, dead-lettering what cannot be stored. A
// panic while reading m (a decoder bug a message can trigger) fails m alone:
// what it had appended is undone, m goes to the dead-letter topic with the
// panic as its reason, and the partition goes on.
func (f *feed) read(s *segment, m kafka.Message) {
	k := f.l.kind
	rowsBefore, dlqBefore := s.rows(k), len(s.dlq)
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		switch k {
		case kindSpans:
			s.spans.Truncate(rowsBefore)
		case kindLogs:
			s.logs.Truncate(rowsBefore)
		case kindLedger:
			s.reports = s.reports[:rowsBefore]
		}
		clear(s.dlq[dlqBefore:])
		s.dlq, s.dlqRecords = s.dlq[:dlqBefore], s.dlqRecords[:dlqBefore]
		f.log.Error("reading a message panicked; it goes to the dead-letter topic, the partition goes on",
			zap.Int64("offset", m.Offset), zap.Any("panic", p), zap.Stack("stack"))
		f.deadLetter(s, m, kafkawire.ReasonReaderPanic, fmt.Sprintf("panic while reading the message: %v", p), 0)
	}()
	rejected, ok := f.decode(s, m)
	if !ok {
		return // dead-lettered whole
	}
	if f.l.c.readHook != nil {
		f.l.c.readHook(m)
	}
	f.l.c.m.rowsConsumed.WithLabelValues(k.String()).Add(float64(s.rows(k) - rowsBefore + rejected))
	s.msgs = append(s.msgs, m)
	s.msgRows = append(s.msgRows, s.rows(k)-rowsBefore)
}

// decode appends m's records to s's rows and dead-letters the ones storage
// rejects; false means m could not be decoded and was dead-lettered whole.
func (f *feed) decode(s *segment, m kafka.Message) (rejected int, ok bool) {
	c := f.l.c
	if f.l.kind == kindLedger {
		return 0, f.decodeReport(s, m)
	}
	onReject := func(error) { rejected++ }
	// The usual message (otlp_proto, all records storable) is read straight
	// from its bytes into the rows; pdata decodes only what that path
	// refuses (malformed or empty requests get their dead-letter reason
	// from it) and the messages with rejected records, to split them.
	// The rows copy their strings out of m.Value: left in the message
	// they cost the encoder more than the copy costs here (see README, CPU
	// per span).
	proto := c.dec.IsProto(m.Value, m.Headers)
	if f.l.kind == kindSpans {
		if proto {
			if n, err := s.spans.AppendTracesProto(m.Value, onReject); err == nil && n > 0 {
				if rejected > 0 {
					if td, err := c.dec.DecodeTraces(m.Value, m.Headers); err == nil {
						f.deadLetterRejectedSpans(s, m, td)
					}
				}
				return rejected, true
			}
			rejected = 0 // nothing appended: the pdata path below decides
		}
		td, err := c.dec.DecodeTraces(m.Value, m.Headers)
		if err != nil {
			f.deadLetterUndecodable(s, m, err)
			return 0, false
		}
		s.spans.AppendTraces(td, onReject)
		if rejected > 0 {
			f.deadLetterRejectedSpans(s, m, td)
		}
		return rejected, true
	}
	if proto {
		if n, err := s.logs.AppendLogsProto(m.Value, onReject); err == nil && n > 0 {
			if rejected > 0 {
				if ld, err := c.dec.DecodeLogs(m.Value, m.Headers); err == nil {
					f.deadLetterRejectedLogs(s, m, ld)
				}
			}
			return rejected, true
		}
		rejected = 0
	}
	ld, err := c.dec.DecodeLogs(m.Value, m.Headers)
	if err != nil {
		f.deadLetterUndecodable(s, m, err)
		return 0, false
	}
	s.logs.AppendLogs(ld, onReject)
	if rejected > 0 {
		f.deadLetterRejectedLogs(s, m, ld)
	}
	return rejected, true
}

// errUndecodable: a message the fallback cannot decode (it was
// dead-lettered when it was first read).
var errUndecodable = errors.New("undecodable")

// decodeAlone decodes m through pdata into s, for the per-message fallback;
// a panic doing so is returned as an error.
func (f *feed) decodeAlone(s *segment, m kafka.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.spans.Reset()
			s.logs.Reset()
			err = fmt.Errorf("panic while reading the message: %v", p)
		}
	}()
	if f.l.kind == kindSpans {
		td, derr := f.l.c.dec.DecodeTraces(m.Value, m.Headers)
		if derr != nil {
			return errUndecodable
		}
		s.spans.AppendTraces(td, nil)
		return nil
	}
	ld, derr := f.l.c.dec.DecodeLogs(m.Value, m.Headers)
	if derr != nil {
		return errUndecodable
	}
	s.logs.AppendLogs(ld, nil)
	return nil
}

// deadLetter queues a copy of m (or of the records of it that failed) for
// the dead-letter topic; it is written before the batch is committed.
func (f *feed) deadLetter(s *segment, m kafka.Message, reason, detail string, records int) {
	s.dlq = append(s.dlq, kafkawire.DeadLetterMessage(f.l.c.cfg.Topics.DeadLetter, m, reason, detail))
	s.dlqRecords = append(s.dlqRecords, deadLetterCount{reason, records})
	f.l.c.m.messagesDLQ.WithLabelValues(f.l.topic, reason).Inc()
}

func (f *feed) deadLetterUndecodable(s *segment, m kafka.Message, err error) {
	reason := "undecodable"
	var de *kafkawire.DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	f.deadLetter(s, m, reason, err.Error(), 0)
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
func (f *feed) deadLetterRejectedSpans(s *segment, m kafka.Message, td ptrace.Traces) {
	type part struct {
		td    ptrace.Traces
		n     int
		first error
	}
	var parts []*part
	byReason := map[string]*part{}
	one := ptrace.NewTraces()
	rows := &f.scratch.spans
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
				rows.Reset()
				rows.AppendTraces(one, func(err error) { rejectErr = err })
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
	rows.Reset()
	for _, p := range parts {
		v, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, p.td)
		if err != nil {
			v = m.Value // cannot happen with valid pdata; keep the original then
		}
		f.deadLetter(s, rejectedCopy(m, v), rejectReason(p.first), fmt.Sprintf("%d span(s) rejected by storage; first: %v", p.n, p.first), p.n)
	}
}

// deadLetterRejectedLogs is deadLetterRejectedSpans for log records.
func (f *feed) deadLetterRejectedLogs(s *segment, m kafka.Message, ld plog.Logs) {
	type part struct {
		ld    plog.Logs
		n     int
		first error
	}
	var parts []*part
	byReason := map[string]*part{}
	one := plog.NewLogs()
	rows := &f.scratch.logs
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
				rows.Reset()
				rows.AppendLogs(one, func(err error) { rejectErr = err })
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
	rows.Reset()
	for _, p := range parts {
		v, err := kafkawire.MarshalLogs(kafkawire.EncodingProto, p.ld)
		if err != nil {
			v = m.Value
		}
		f.deadLetter(s, rejectedCopy(m, v), rejectReason(p.first), fmt.Sprintf("%d log record(s) rejected by storage; first: %v", p.n, p.first), p.n)
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
