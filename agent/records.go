package agent

import (
	"context"
	"fmt"
	"sort"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// recordWriter batches the records of one reader of a non-file source
// (journald, a syslog connection, a container log) and appends each full
// batch to the disk buffer as one record, as the file handler does. Not
// safe for concurrent use: each reader has its own.
type recordWriter struct {
	buf        Appender
	batch      *logrec.Batch
	maxRecords int
	maxBytes   int
	out        batchRecords
	// wait: when the buffer is full, Append blocks (the source is not read
	// further) instead of failing with buffer.ErrFull.
	wait bool
	// sent counts the records appended.
	sent func(n int)
	// ledger stamps the records and counts them accepted (nil: off).
	ledger *ledger.Book
}

// newRecordWriter writes b's records to buf; byTrace keys those with a
// trace ID by it (partition_logs_by_trace_id).
func newRecordWriter(buf Appender, b *logrec.Batch, cfg BatchConfig, byTrace, wait bool, sent func(int)) *recordWriter {
	return &recordWriter{buf: buf, batch: b, maxRecords: cfg.MaxRecords, maxBytes: int(cfg.MaxBytes), wait: wait, sent: sent,
		out: batchRecords{byTrace: byTrace}}
}

// add encodes r into the batch and reports whether the batch is full
// (the caller flushes it).
func (w *recordWriter) add(r *logrec.Record) bool {
	w.batch.Add(r)
	return w.batch.Len() >= w.maxRecords || w.batch.Size() >= w.maxBytes
}

// pending is the number of records not yet flushed.
func (w *recordWriter) pending() int { return w.batch.Len() }

// flush appends the batch to the buffer; onDurable runs once it is fsynced.
func (w *recordWriter) flush(ctx context.Context, onDurable func()) error {
	n := w.batch.Len()
	if n == 0 {
		if onDurable != nil {
			onDurable()
		}
		return nil
	}
	if err := w.out.appendTo(ctx, w.buf, w.batch, w.ledger, w.wait, onDurable); err != nil {
		return err
	}
	if w.sent != nil {
		w.sent(n)
	}
	return nil
}

// batchRecords turns a batch of log records into disk-buffer records (what
// forward sends as Kafka messages): one without a key, spread round robin;
// or, with byTrace and records that carry a trace ID, one per trace ID keyed
// by it and one without a key for the records without one (kafkawire's
// splitter, as for OTLP logs), so a trace's logs land on its spans'
// partition. The records are valid until the next call.
type batchRecords struct {
	byTrace bool
	enc     kafkawire.Encoder
	req     []byte
	msgs    []kafka.Message
	data    []byte
	recs    [][]byte
}

// appendTo empties b into buf as buffer records stamped with the ledger
// interval they are accepted in (book nil: unstamped), and counts them
// accepted once the buffer took them. wait and onDurable are Append's.
func (o *batchRecords) appendTo(ctx context.Context, buf Appender, b *logrec.Batch, book *ledger.Book, wait bool, onDurable func()) error {
	n := b.Len()
	var interval int64
	if book != nil {
		interval = book.Interval()
	}
	recs, err := o.records(b, interval)
	if err != nil {
		return err
	}
	if err := buf.Append(ctx, recs, wait, onDurable); err != nil {
		return err
	}
	if book != nil {
		book.Accepted(kafkawire.LedgerLogs, interval, n)
	}
	return nil
}

// records empties b into buffer records, stamped with the ledger interval
// they were accepted in (0: none). The batch's record count rides on the
// first, so the forwarder's record counter and the ledger add up exactly.
func (o *batchRecords) records(b *logrec.Batch, interval int64) ([][]byte, error) {
	n := b.Len()
	clear(o.recs) // the previous call's, copied by the buffer
	if !o.byTrace || b.Traced() == 0 {
		// forward.AppendStampedMessage's header, then the request
		o.data = forward.AppendStampedHeader(o.data[:0], forward.KindLogs, n, interval)
		o.data = append(o.data, 0) // no key
		o.data = b.AppendRequest(o.data)
		o.recs = append(o.recs[:0], o.data)
		return o.recs, nil
	}
	o.req = b.AppendRequest(o.req[:0])
	o.enc.PartitionByTraceID = true
	msgs, err := o.enc.AppendLogMessagesProto(o.msgs[:0], o.req)
	if err != nil {
		return nil, fmt.Errorf("split logs by trace ID: %w", err)
	}
	size := 0
	for i := range msgs {
		size += forward.StampedMessageSize(n, interval, msgs[i].Key, msgs[i].Value)
	}
	if cap(o.data) < size {
		o.data = make([]byte, 0, size)
	}
	data, recs := o.data[:0], o.recs[:0]
	for i := range msgs {
		c := 0
		if i == 0 {
			c = n
		}
		start := len(data)
		data = forward.AppendStampedMessage(data, forward.KindLogs, c, interval, msgs[i].Key, msgs[i].Value)
		recs = append(recs, data[start:len(data):len(data)])
	}
	clear(msgs) // they point into o.req
	o.msgs, o.data, o.recs = msgs[:0], data, recs
	return recs, nil
}

// shrink lets go of buffers larger than max bytes and of the splitter's
// scratch (a host may follow thousands of idle sources).
func (o *batchRecords) shrink(max int) {
	if cap(o.data) > max {
		o.data = nil
	}
	if cap(o.req) > max {
		o.req = nil
	}
	clear(o.recs)
	o.enc = kafkawire.Encoder{}
}

// sourceResource is the resource of a source's records: the agent's
// resource_attributes, the source's own attributes and host.name.
func sourceResource(global *Config, own map[string]string) []logrec.Attr {
	attrs := map[string]string{}
	for k, v := range global.ResourceAttributes {
		attrs[k] = v
	}
	for k, v := range own {
		attrs[k] = v
	}
	attrs["host.name"] = global.hostName()
	res := make([]logrec.Attr, 0, len(attrs))
	for k, v := range attrs {
		res = append(res, logrec.Attr{Key: k, Value: v})
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Key < res[j].Key })
	return res
}
