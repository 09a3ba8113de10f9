package collector

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/storage"
)

// The collector's side of the loss ledger. A data batch's counts (what it
// stored and dead-lettered per host and interval, from the agents' ledger
// headers) are inserted after its rows under a token derived from the
// batch's own: a batch rebuilt after a crash counts once, as its rows are
// stored once. The agents' reports, on the ledger topic, are batches of
// their own, stored the same way.

type ledgerKey struct {
	host     string
	interval int64
}

// ledgerCounts sums what b stored and dead-lettered per host and interval.
// Messages without the ledger's headers (other producers) are not counted.
func (l *lane) ledgerCounts(b *batch) []storage.LedgerCount {
	if l.c.ledger == nil || l.kind == kindLedger {
		return nil
	}
	var sums map[ledgerKey]*storage.LedgerCount
	get := func(h []kafka.Header) *storage.LedgerCount {
		host, iv, ok := kafkawire.LedgerStamp(h)
		if !ok {
			return nil
		}
		if sums == nil {
			sums = map[ledgerKey]*storage.LedgerCount{}
		}
		k := ledgerKey{host, iv}
		c := sums[k]
		if c == nil {
			c = &storage.LedgerCount{Interval: time.Unix(iv, 0).UTC(), Host: host, Kind: l.kind.String()}
			sums[k] = c
		}
		return c
	}
	for _, s := range b.segs {
		for i := range s.msgs {
			if c := get(s.msgs[i].Headers); c != nil {
				c.Stored += uint64(s.msgRows[i])
			}
		}
		for i := range s.dlq {
			// a dead letter keeps the original's headers after its own
			if c := get(s.dlq[i].Headers); c != nil {
				c.DeadLettered += uint64(s.dlqRecords[i].records)
			}
		}
	}
	out := make([]storage.LedgerCount, 0, len(sums))
	for _, c := range sums {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Interval.Equal(out[j].Interval) {
			return out[i].Interval.Before(out[j].Interval)
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// decodeReport reads a ledger topic message into s.
func (f *feed) decodeReport(s *segment, m kafka.Message) bool {
	r, err := kafkawire.UnmarshalLedgerReport(m.Value)
	if err != nil {
		f.deadLetter(s, m, "undecodable", err.Error(), 0)
		return false
	}
	s.reports = append(s.reports, storage.LedgerReport{Interval: r.IntervalStart(), Seconds: uint32(r.Seconds),
		Host: r.Host, Kind: r.Kind, Run: r.Run, Accepted: r.Accepted, Acked: r.Acked, Dropped: r.Dropped, Seq: r.Seq})
	return true
}

// insertLedger stores what the ledger keeps of b: its reports (a batch of
// the ledger topic) or its counts (a data batch). A permanent error is
// logged and counted, and the batch goes on: the rows matter more than
// their accounting, and the ledger then shows the batch as missing.
func (l *lane) insertLedger(ctx context.Context, b *batch, rngs batchRanges) error {
	c := l.c
	if c.ledger == nil {
		return nil
	}
	token := rngs.token(l.topic) + ":ledger"
	var insert func(ctx context.Context) error
	if l.kind == kindLedger {
		var reports []storage.LedgerReport
		for _, s := range b.segs {
			reports = append(reports, s.reports...)
		}
		if len(reports) == 0 {
			return nil
		}
		insert = func(ctx context.Context) error { return c.ledger.InsertLedgerReports(ctx, reports, token) }
	} else {
		counts := l.ledgerCounts(b)
		if len(counts) == 0 {
			return nil
		}
		insert = func(ctx context.Context) error { return c.ledger.InsertLedgerCounts(ctx, counts, token) }
	}
	err := c.retry(ctx, "insert", insert, func(err error) bool { return !c.isRetryable(err) })
	if err != nil && ctx.Err() == nil {
		c.m.ledgerErrors.Inc()
		l.log.Error("storing the batch's ledger counts failed; the ledger will show its records as missing",
			zap.String("batch", rngs.list()), zap.Error(err))
		return nil
	}
	return err
}

// checkLedger reconciles the ledger every CheckEvery into the metrics.
func (c *Collector) checkLedger(ctx context.Context) {
	defer close(c.checkDone)
	t := time.NewTicker(c.cfg.Ledger.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.reconcile(ctx, time.Now()); err != nil && !errors.Is(err, context.Canceled) {
			c.m.ledgerChecks.WithLabelValues("error").Inc()
			c.log.Warn("ledger: reconciling failed", zap.Error(err))
			continue
		}
		c.m.ledgerChecks.WithLabelValues("ok").Inc()
	}
}

// reconcile sets the ledger's gauges from the closed intervals of the window.
func (c *Collector) reconcile(ctx context.Context, now time.Time) error {
	rep, err := ledger.Read(ctx, c.ledger, now.Add(-c.cfg.Ledger.Window), now, now, "", c.cfg.Ledger.Grace)
	if err != nil {
		return err
	}
	c.m.ledgerMissing.Reset()
	c.m.ledgerExtra.Reset()
	for _, h := range rep.Hosts {
		c.m.ledgerMissing.WithLabelValues(h.Name).Set(float64(h.Closed.Missing))
		c.m.ledgerExtra.WithLabelValues(h.Name).Set(float64(h.Closed.Extra))
	}
	c.m.ledgerChecked.Set(float64(now.Unix()) + float64(now.Nanosecond())/1e9)
	return nil
}
