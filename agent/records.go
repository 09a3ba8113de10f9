package agent

import (
	"context"
	"sort"

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
	msg        []byte
	// wait: when the buffer is full, Append blocks (the source is not read
	// further) instead of failing with buffer.ErrFull.
	wait bool
	// sent counts the records appended.
	sent func(n int)
	// ledger stamps the records and counts them accepted (nil: off).
	ledger *ledger.Book
}

func newRecordWriter(buf Appender, b *logrec.Batch, cfg BatchConfig, wait bool, sent func(int)) *recordWriter {
	return &recordWriter{buf: buf, batch: b, maxRecords: cfg.MaxRecords, maxBytes: int(cfg.MaxBytes), wait: wait, sent: sent}
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
	// the buffer record: forward.AppendStampedMessage's header, then the request
	var interval int64
	if w.ledger != nil {
		interval = w.ledger.Interval()
	}
	w.msg = forward.AppendStampedHeader(w.msg[:0], forward.KindLogs, n, interval)
	w.msg = append(w.msg, 0) // no key: logs are spread round robin
	w.msg = w.batch.AppendRequest(w.msg)
	if err := w.buf.Append(ctx, [][]byte{w.msg}, w.wait, onDurable); err != nil {
		return err
	}
	if w.ledger != nil {
		w.ledger.Accepted(kafkawire.LedgerLogs, interval, n)
	}
	if w.sent != nil {
		w.sent(n)
	}
	return nil
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
