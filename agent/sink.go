package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/otlpin"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// otlpSink turns OTLP requests into Kafka messages (split per trace ID, the
// kafkawire format) and appends them to the buffer. It answers only after
// the fsync; a full buffer is refused at once (the client retries) rather
// than holding the request.
type otlpSink struct {
	buf Appender
	// failed is closed when the buffer can no longer make anything
	// durable (nil: never): a request waiting for its fsync fails then.
	failed      <-chan struct{}
	maxMessage  int
	logsByTrace bool
	encoders    sync.Pool
	ledger      *ledger.Book // nil: records go unstamped
}

type sinkScratch struct {
	enc  kafkawire.Encoder
	msgs []kafka.Message
	recs [][]byte
	data []byte
}

func (s *otlpSink) getScratch() *sinkScratch { return s.encoders.Get().(*sinkScratch) }

// putScratch returns sc to the pool. Its messages point into the request's
// memory, which the receiver reuses: they are dropped on every path, also
// when a message was refused. The records need no care: Appender copies
// them before it returns.
func (s *otlpSink) putScratch(sc *sinkScratch) {
	clear(sc.msgs)
	sc.msgs = sc.msgs[:0]
	s.encoders.Put(sc)
}

func newOTLPSink(buf Appender, maxMessage int, logsByTrace bool) *otlpSink {
	s := &otlpSink{buf: buf, maxMessage: maxMessage, logsByTrace: logsByTrace}
	if f, ok := buf.(interface{ Failed() <-chan struct{} }); ok {
		s.failed = f.Failed()
	}
	s.encoders.New = func() any { return &sinkScratch{} }
	return s
}

func (s *otlpSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.enc.PartitionByTraceID = true
	var err error
	sc.msgs, err = sc.enc.AppendTraceMessages(sc.msgs[:0], td)
	if err != nil {
		return fmt.Errorf("%w: %w", otlpin.ErrInvalid, err)
	}
	return s.append(ctx, sc, forward.KindSpans, n)
}

func (s *otlpSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.enc.PartitionByTraceID = s.logsByTrace
	var err error
	sc.msgs, err = sc.enc.AppendLogMessages(sc.msgs[:0], ld)
	if err != nil {
		return fmt.Errorf("%w: %w", otlpin.ErrInvalid, err)
	}
	return s.append(ctx, sc, forward.KindLogs, n)
}

// ConsumeTracesProto takes a validated otlp_proto request as it came:
// split in place, no pdata.
func (s *otlpSink) ConsumeTracesProto(ctx context.Context, b []byte, spans int) error {
	if spans == 0 {
		return nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.enc.PartitionByTraceID = true
	var err error
	sc.msgs, err = sc.enc.AppendTraceMessagesProto(sc.msgs[:0], b)
	if err != nil {
		return fmt.Errorf("%w: %w", otlpin.ErrInvalid, err)
	}
	return s.append(ctx, sc, forward.KindSpans, spans)
}

// ConsumeLogsProto is ConsumeTracesProto for logs.
func (s *otlpSink) ConsumeLogsProto(ctx context.Context, b []byte, records int) error {
	if records == 0 {
		return nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.enc.PartitionByTraceID = s.logsByTrace
	var err error
	sc.msgs, err = sc.enc.AppendLogMessagesProto(sc.msgs[:0], b)
	if err != nil {
		return fmt.Errorf("%w: %w", otlpin.ErrInvalid, err)
	}
	return s.append(ctx, sc, forward.KindLogs, records)
}

func (s *otlpSink) append(ctx context.Context, sc *sinkScratch, kind forward.Kind, records int) error {
	var interval int64
	if s.ledger != nil {
		interval = s.ledger.Interval()
	}
	size := 0
	for i := range sc.msgs {
		m := &sc.msgs[i]
		if len(m.Key)+len(m.Value) > s.maxMessage {
			return fmt.Errorf("%w: one trace of %d bytes exceeds kafka.max_request_bytes (%d)", otlpin.ErrInvalid, len(m.Value), s.maxMessage)
		}
		size += forward.StampedMessageSize(records, interval, m.Key, m.Value)
	}
	// one contiguous buffer for all records of the request
	if cap(sc.data) < size {
		sc.data = make([]byte, 0, size)
	}
	data := sc.data[:0]
	sc.recs = sc.recs[:0]
	for i := range sc.msgs {
		m := &sc.msgs[i]
		// the whole request's count rides on its first message, so the
		// forwarder's record counter adds up exactly
		c := 0
		if i == 0 {
			c = records
		}
		start := len(data)
		data = forward.AppendStampedMessage(data, kind, c, interval, m.Key, m.Value)
		sc.recs = append(sc.recs, data[start:len(data):len(data)])
	}
	sc.data = data
	done := make(chan struct{})
	if err := s.buf.Append(ctx, sc.recs, false, func() { close(done) }); err != nil {
		if errors.Is(err, buffer.ErrFull) {
			return fmt.Errorf("%w: %w", otlpin.ErrRetryLater, err)
		}
		return fmt.Errorf("buffer: %w", err)
	}
	// in the buffer: from here it is sent unless the buffer is lost
	if s.ledger != nil {
		s.ledger.Accepted(forward.LedgerKind(kind), interval, records)
	}
	select {
	case <-done:
		return nil
	case <-s.failed:
		return errors.New("buffer: the disk buffer failed; the agent is stopping")
	case <-ctx.Done():
		// it was written and will be sent; the client will likely retry
		// (a duplicate), which is the safe side
		return ctx.Err()
	}
}
