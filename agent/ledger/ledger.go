// Package ledger keeps the agent's side of the loss ledger: per interval
// and kind, the records the agent accepted (durable in its buffer), the
// ones Kafka acknowledged and the ones it dropped, published to the ledger
// topic as kafkawire.LedgerReport while they change. The collector counts
// what it stored per host and interval from the headers the forwarder puts
// on every message; `flowlens ledger` sets the two side by side.
//
// Counts of one interval are cumulative and a later report replaces an
// earlier one of the same run, so a report lost or sent twice changes
// nothing. What a crash loses is what the run counted since its last
// report (report_every): the stored side then has more than the agent
// reported.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// Config of the agent's ledger.
type Config struct {
	// Enabled stamps messages and publishes reports (default true).
	Enabled *bool `yaml:"enabled"`
	// Interval is the ledger's unit of time (default 1m, whole seconds).
	Interval time.Duration `yaml:"interval"`
	// ReportEvery is how often changed counts are published (default 10s).
	ReportEvery time.Duration `yaml:"report_every"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.ReportEvery == 0 {
		c.ReportEvery = 10 * time.Second
	}
}

// On reports whether the ledger is on.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Validate reports every bad setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second || c.Interval%time.Second != 0 || c.Interval > 24*time.Hour {
		errs = append(errs, config.Errorf("interval", "%s: want whole seconds from 1s to 24h", c.Interval))
	}
	if c.ReportEvery < 100*time.Millisecond {
		errs = append(errs, config.Errorf("report_every", "must be at least 100ms"))
	}
	return errors.Join(errs...)
}

// quiet is how long a fully accounted, reported interval stays in memory
// after its last change: acks of records a previous run accepted arrive
// in bursts as the buffer is replayed, and an interval forgotten between
// two of them would be reported again from zero, replacing the first part.
const quiet = 5 * time.Minute

type key struct {
	kind     string
	interval int64
}

type entry struct {
	accepted, acked, dropped uint64
	dirty                    bool
	changed                  time.Time
}

// Book counts per interval and kind; safe for concurrent use.
type Book struct {
	host, run string
	interval  int64 // seconds
	now       func() time.Time

	mu      sync.Mutex
	seq     uint64
	entries map[key]*entry
}

// NewBook starts the counts of one agent run on host.
func NewBook(host string, interval time.Duration) *Book {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Book{host: host, run: hex.EncodeToString(id[:]), interval: int64(interval / time.Second),
		now: time.Now, entries: map[key]*entry{}}
}

// Host is the host name the book reports for.
func (b *Book) Host() string { return b.host }

// Interval is the start (Unix seconds) of the interval records accepted
// now belong to.
func (b *Book) Interval() int64 {
	t := b.now().Unix()
	return t - t%b.interval
}

func (b *Book) add(kind string, interval int64, f func(*entry)) {
	if interval <= 0 {
		return // a record buffered before the ledger was on
	}
	b.mu.Lock()
	e := b.entries[key{kind, interval}]
	if e == nil {
		e = &entry{}
		b.entries[key{kind, interval}] = e
	}
	f(e)
	e.dirty, e.changed = true, b.now()
	b.mu.Unlock()
}

// Accepted counts n records of kind made durable in the buffer.
func (b *Book) Accepted(kind string, interval int64, n int) {
	b.add(kind, interval, func(e *entry) { e.accepted += uint64(n) })
}

// Acked counts n records Kafka acknowledged.
func (b *Book) Acked(kind string, interval int64, n int) {
	b.add(kind, interval, func(e *entry) { e.acked += uint64(n) })
}

// Dropped counts n records the agent dropped (Kafka refused them as too large).
func (b *Book) Dropped(kind string, interval int64, n int) {
	b.add(kind, interval, func(e *entry) { e.dropped += uint64(n) })
}

// Changed returns a report of every interval that changed since the last
// call, oldest first, and marks them reported; Unreported marks them
// changed again when publishing failed.
func (b *Book) Changed() []kafkawire.LedgerReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []kafkawire.LedgerReport
	now := b.now()
	for k, e := range b.entries {
		if !e.dirty {
			closed := k.interval+b.interval < now.Unix()
			if closed && e.accepted <= e.acked+e.dropped && now.Sub(e.changed) > quiet {
				delete(b.entries, k)
			}
			continue
		}
		e.dirty = false
		b.seq++
		out = append(out, kafkawire.LedgerReport{Host: b.host, Run: b.run, Kind: k.kind, Interval: k.interval,
			Seconds: b.interval, Accepted: e.accepted, Acked: e.acked, Dropped: e.dropped, Seq: b.seq})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Interval < out[j].Interval })
	return out
}

// Unreported marks the intervals of reports that were not published as
// changed, so the next Changed reports them again.
func (b *Book) Unreported(reports []kafkawire.LedgerReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range reports {
		if e := b.entries[key{r.Kind, r.Interval}]; e != nil {
			e.dirty = true
		}
	}
}

// Publisher sends the book's changes to the ledger topic, keyed by host
// (a host's reports stay in order on one partition).
type Publisher struct {
	book  *Book
	w     *kafka.Writer
	topic string
	every time.Duration
	log   *zap.Logger

	published, failures int64 // read by the agent's metrics under mu
	mu                  sync.Mutex
}

// NewPublisher publishes book through w (whose Topic must be unset) to topic.
func NewPublisher(book *Book, w *kafka.Writer, topic string, every time.Duration, log *zap.Logger) *Publisher {
	return &Publisher{book: book, w: w, topic: topic, every: every, log: log}
}

// Run publishes every ReportEvery until ctx ends. Call Flush after it
// returns for the last counts.
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("ledger: could not publish the counts; they are sent with the next report", zap.Error(err))
			}
		}
	}
}

// Flush publishes what changed since the last report.
func (p *Publisher) Flush(ctx context.Context) error {
	reports := p.book.Changed()
	if len(reports) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(reports))
	for i, r := range reports {
		v, err := kafkawire.MarshalLedgerReport(r)
		if err != nil {
			return fmt.Errorf("encode ledger report: %w", err)
		}
		msgs[i] = kafka.Message{Topic: p.topic, Key: []byte(r.Host), Value: v}
	}
	err := p.w.WriteMessages(ctx, msgs...)
	p.mu.Lock()
	if err != nil {
		p.failures++
	} else {
		p.published += int64(len(msgs))
	}
	p.mu.Unlock()
	if err != nil {
		p.book.Unreported(reports)
		return fmt.Errorf("publish %d ledger reports: %w", len(reports), err)
	}
	return nil
}

// Stats are the reports published and the failed attempts.
func (p *Publisher) Stats() (published, failures int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published, p.failures
}

// Close closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }
