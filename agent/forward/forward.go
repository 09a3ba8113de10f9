package forward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"go.uber.org/zap"
)

// Config of the Kafka producer.
type Config struct {
	kafkawire.ClientConfig `yaml:",inline"`
	// Topics: names (spans, logs) and creation at start (create, partitions, ...).
	Topics kafkawire.TopicsConfig `yaml:"topics"`
	// Compression: lz4 (default), zstd, snappy, gzip or none.
	Compression string `yaml:"compression"`
	// MaxRequestBytes bounds one produce call (messages of all partitions,
	// uncompressed); at most one request per partition is in flight, which
	// keeps the order per partition through retries. Default 1MiB.
	MaxRequestBytes bytesize.Size `yaml:"max_request_bytes"`
	// Linger is the shortest time between two produce calls (default
	// 20ms): records written meanwhile wait and go together, while a
	// record after a quiet spell goes at once, and a backlog (a read of
	// half max_request_bytes or more) goes without waiting. kafka-go
	// sends one produce request per partition and call, so the calls'
	// number is what costs: at 50k spans/s + 50k lines/s, pacing them at
	// 20ms (against kafka-go's 5ms batch timeout) took the agent from
	// 0.318 to 0.300 CPU-s per 100k records and the embedded broker from
	// 0.045 to 0.031 (medians of 3, scripts/agent-cpu.sh), for up to 20ms
	// more on the way to Kafka under load (records are acknowledged to
	// their sources once in the disk buffer, not in Kafka).
	Linger time.Duration `yaml:"linger"`
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// Retry is the wait between attempts: initial 50ms, doubled up to max
	// 5s. Records are retried forever: they stay in the disk buffer until
	// Kafka takes them.
	Retry config.Backoff `yaml:"retry"`
}

// RenamedKeys names what replaced the keys of earlier versions.
func (Config) RenamedKeys() map[string]string {
	return map[string]string{"retry_backoff_max": "retry.max"}
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	c.ClientConfig.SetDefaults()
	c.Topics.SetDefaults()
	if c.Compression == "" {
		c.Compression = "lz4"
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 1 << 20
	}
	if c.Linger == 0 {
		c.Linger = 20 * time.Millisecond
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	c.Retry.SetDefaults(50*time.Millisecond, 5*time.Second)
}

// Validate reports every bad setting.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, config.Errorf("brokers", "at least one broker host:port is required"))
	}
	errs = append(errs, c.ClientConfig.Validate(), config.Nest("topics", c.Topics.Validate()))
	if _, err := codec(c.Compression); err != nil {
		errs = append(errs, config.Errorf("compression", "%v", err))
	}
	if c.MaxRequestBytes < 64<<10 || c.MaxRequestBytes > 64<<20 {
		errs = append(errs, config.Errorf("max_request_bytes", "must be between 64KiB and 64MiB"))
	}
	if c.Linger < 0 || c.Linger > time.Second {
		errs = append(errs, config.Errorf("linger", "must be between 0 and 1s"))
	}
	if c.WriteTimeout < 100*time.Millisecond {
		errs = append(errs, config.Errorf("write_timeout", "must be at least 100ms"))
	}
	errs = append(errs, config.Nest("retry", c.Retry.Validate()))
	if c.Retry.Max < 10*time.Millisecond {
		errs = append(errs, config.Errorf("retry.max", "must be at least 10ms"))
	}
	return errors.Join(errs...)
}

func codec(name string) (compress.Compression, error) {
	switch name {
	case "none":
		return 0, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	case "snappy":
		return kafka.Snappy, nil
	case "gzip":
		return kafka.Gzip, nil
	}
	return 0, fmt.Errorf("%q: want lz4, zstd, snappy, gzip or none", name)
}

// stableBalancer is kafka-go's Hash balancer (Sarama-compatible FNV-1a, so
// a trace ID key lands where any other producer puts it) for keyed
// messages. Messages without a key are spread by their buffer position
// (carried in Message.Offset) instead of a round-robin counter: after a
// restart, a replayed message goes to the partition it may already have
// reached, which keeps the order per partition.
type stableBalancer struct{ hash kafka.Hash }

func (b *stableBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if msg.Key == nil {
		return partitions[uint64(msg.Offset)%uint64(len(partitions))]
	}
	return b.hash.Balance(msg, partitions...)
}

// sendAtOnce is kafka-go's batch timeout: a produce call sends what it was
// given without waiting for more (kafka-go reads 0 as 1s). Run paces the
// calls by Linger, which batches as well under load without delaying a
// record that arrives after a quiet spell.
const sendAtOnce = time.Microsecond

// maxMessagesPerCall bounds the messages of one produce call (kafka-go
// preallocates its batches to the count limit).
const maxMessagesPerCall = 256

// Stats are the forwarder's counters.
type Stats struct {
	Messages     int64 // Kafka messages acknowledged
	Records      int64 // log records and spans in them
	Bytes        int64 // value bytes acknowledged (uncompressed)
	Errors       int64 // failed produce attempts
	DroppedLarge int64 // records in messages Kafka refused as too large
	DroppedBad   int64 // buffer records that could not be decoded
	Connected    bool  // the last produce succeeded
	LastError    string
}

// Forwarder moves buffer records to Kafka.
type Forwarder struct {
	cfg    Config
	wal    *buffer.WAL
	log    *zap.Logger
	writer *kafka.Writer
	client *kafka.Client

	messages, records, bytes, errs, droppedLarge, droppedBad atomic.Int64
	connected                                                atomic.Bool
	lastErr                                                  atomic.Value

	drain     chan struct{} // closed by Drain
	drainOnce sync.Once

	ledger Ledger // nil: messages go without ledger headers
	// ledgerHeaders are the headers of the messages of ledgerInterval,
	// shared by them (kafka-go only reads them): one allocation per
	// interval, not per message.
	ledgerHeaders  []kafka.Header
	ledgerInterval int64
}

// Ledger counts what Kafka acknowledged and what was dropped, per kind and
// the interval the records were accepted in (agent/ledger.Book).
type Ledger interface {
	Host() string
	Acked(kind string, interval int64, n int)
	Dropped(kind string, interval int64, n int)
}

// LedgerKind is the ledger's name of a kind.
func LedgerKind(k Kind) string {
	if k == KindSpans {
		return kafkawire.LedgerSpans
	}
	return kafkawire.LedgerLogs
}

// msgMeta is what the forwarder remembers of a message it sends: the
// records it carries (the whole request's count rides on its first
// message) and where the ledger counts them.
type msgMeta struct {
	records  int
	kind     Kind
	interval int64
}

// New builds the producer; cfg must be defaulted and validated. With a
// ledger, every message stamped in the buffer goes with the ledger headers
// (host, interval) and its acknowledgement is counted.
func New(cfg Config, wal *buffer.WAL, ledger Ledger, log *zap.Logger) (*Forwarder, error) {
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	client, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	comp, err := codec(cfg.Compression)
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &stableBalancer{},
		RequiredAcks: kafka.RequireAll,
		Compression:  comp,
		BatchSize:    maxMessagesPerCall + 1, // never full by count: one batch per partition and call
		BatchBytes:   int64(cfg.MaxRequestBytes),
		BatchTimeout: sendAtOnce, // Run paces the calls instead
		MaxAttempts:  1,          // we retry ourselves, keeping the order
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		Transport:    tr,
	}
	return &Forwarder{cfg: cfg, wal: wal, log: log, writer: w, client: client, drain: make(chan struct{}), ledger: ledger}, nil
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	s := Stats{Messages: f.messages.Load(), Records: f.records.Load(), Bytes: f.bytes.Load(), Errors: f.errs.Load(),
		DroppedLarge: f.droppedLarge.Load(), DroppedBad: f.droppedBad.Load(), Connected: f.connected.Load()}
	if e, ok := f.lastErr.Load().(string); ok {
		s.LastError = e
	}
	return s
}

// errDrainFailed ends a send that failed after Drain.
var errDrainFailed = errors.New("kafka did not take the records while draining")

// Drain makes Run return once it has sent everything the buffer holds
// (the caller stops the sources first), or at the first failed send: the
// records stay in the buffer for the next start. Safe to call more than once.
func (f *Forwarder) Drain() { f.drainOnce.Do(func() { close(f.drain) }) }

// Run sends until ctx is done, or, after Drain, until the buffer has
// nothing left to send. Records stay in the buffer until Kafka acknowledged
// them, so stopping at any point loses nothing.
func (f *Forwarder) Run(ctx context.Context) error {
	defer f.writer.Close()
	f.ensureTopics(ctx)
	// readCtx also ends at Drain: a read then returns what is left and,
	// when nothing is, returns at once instead of waiting for more.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		select {
		case <-f.drain:
			stopReading()
		case <-readCtx.Done():
		}
	}()
	var ents []buffer.Entry
	var msgs []kafka.Message
	var counts []msgMeta
	var lastCall time.Time
	backlog := false
	for ctx.Err() == nil {
		if !backlog {
			f.pace(readCtx, lastCall)
		}
		var err error
		ents, err = f.wal.Read(readCtx, int(f.cfg.MaxRequestBytes), ents)
		if err != nil {
			if readCtx.Err() != nil || errors.Is(err, buffer.ErrClosed) {
				return nil // stopped, or drained
			}
			return fmt.Errorf("read buffer: %w", err)
		}
		// a produce call holds at most MaxRequestBytes; a record larger than
		// that goes alone (and is refused by kafka-go if too large)
		for start := 0; start < len(ents); {
			msgs, counts = msgs[:0], counts[:0]
			size := 0
			end := start
			for end < len(ents) {
				kind, n, interval, key, value, err := DecodeStampedMessage(ents[end].Data)
				if err != nil {
					f.droppedBad.Add(1)
					f.log.Error("dropping a malformed buffer record", zap.Error(err))
					end++
					continue
				}
				// Offset is not sent: it carries the buffer position to the
				// balancer, so a message without a key lands on the same
				// partition when it is replayed after a restart
				pos := ents[end].Pos
				m := kafka.Message{Topic: f.topic(kind), Key: key, Value: value, Offset: int64(pos.Seg<<32 | uint64(pos.Index)&(1<<32-1))}
				if f.ledger != nil && interval > 0 {
					if interval != f.ledgerInterval {
						f.ledgerHeaders = kafkawire.LedgerHeaders(nil, f.ledger.Host(), interval)
						f.ledgerInterval = interval
					}
					m.Headers = f.ledgerHeaders[:2:2]
				}
				ms := len(key) + len(value) + 64
				if len(msgs) > 0 && (size+ms > int(f.cfg.MaxRequestBytes) || len(msgs) == maxMessagesPerCall) {
					break
				}
				msgs, counts = append(msgs, m), append(counts, msgMeta{n, kind, interval})
				size += ms
				end++
			}
			lastCall = time.Now()
			if err := f.send(ctx, msgs, counts); err != nil {
				return nil // stopped: the rest stays in the buffer
			}
			if err := f.wal.Ack(ents[end-1].Pos); err != nil {
				return fmt.Errorf("acknowledge buffer: %w", err)
			}
			start = end
		}
		read := 0
		for i := range ents {
			read += len(ents[i].Data)
		}
		backlog = read >= int(f.cfg.MaxRequestBytes)/2
	}
	return nil
}

// pace waits until Linger has passed since the last produce call began, or
// until reading stops (ctx done, Drain).
func (f *Forwarder) pace(ctx context.Context, lastCall time.Time) {
	wait := time.Until(lastCall.Add(f.cfg.Linger))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (f *Forwarder) topic(k Kind) string {
	if k == KindSpans {
		return f.cfg.Topics.Spans
	}
	return f.cfg.Topics.Logs
}

// send writes msgs, retrying the failed ones until they are acknowledged or
// ctx is done. Messages refused as too large are dropped and counted.
func (f *Forwarder) send(ctx context.Context, msgs []kafka.Message, counts []msgMeta) error {
	backoff := f.cfg.Retry.Next(0)
	for len(msgs) > 0 {
		err := f.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			f.delivered(msgs, counts)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.errs.Add(1)
		f.connected.Store(false)
		f.lastErr.Store(err.Error())
		var failed []kafka.Message
		var failedCounts []msgMeta
		var werrs kafka.WriteErrors
		var tooLarge kafka.MessageTooLargeError
		switch {
		case errors.As(err, &werrs) && len(werrs) == len(msgs):
			var ok []kafka.Message
			var okCounts []msgMeta
			for i, e := range werrs {
				switch {
				case e == nil:
					ok, okCounts = append(ok, msgs[i]), append(okCounts, counts[i])
				case errors.Is(e, kafka.MessageSizeTooLarge):
					f.dropLarge(msgs[i], counts[i], e)
				default:
					failed, failedCounts = append(failed, msgs[i]), append(failedCounts, counts[i])
				}
			}
			f.delivered(ok, okCounts)
		case errors.As(err, &tooLarge):
			// kafka-go refuses the whole call before sending anything
			for i := range msgs {
				if len(msgs[i].Key)+len(msgs[i].Value) > int(f.cfg.MaxRequestBytes) {
					f.dropLarge(msgs[i], counts[i], err)
					continue
				}
				failed, failedCounts = append(failed, msgs[i]), append(failedCounts, counts[i])
			}
			if len(failed) == len(msgs) {
				// not ours to judge: wait and retry as a whole
				break
			}
			msgs, counts = failed, failedCounts
			continue
		default:
			failed, failedCounts = msgs, counts
		}
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			f.ensureTopics(ctx) // the broker came up without them
		}
		if f.errs.Load()%20 == 1 {
			f.log.Warn("kafka produce failed; records stay in the disk buffer and are retried", zap.Error(err), zap.Int("messages", len(failed)))
		}
		msgs, counts = failed, failedCounts
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.drain:
			// stopping: what Kafka does not take now waits in the buffer
			// for the next start, rather than hold the shutdown
			return errDrainFailed
		case <-time.After(backoff):
		}
		backoff = f.cfg.Retry.Next(backoff)
	}
	return nil
}

func (f *Forwarder) dropLarge(m kafka.Message, meta msgMeta, err error) {
	f.droppedLarge.Add(int64(meta.records))
	if f.ledger != nil {
		f.ledger.Dropped(LedgerKind(meta.kind), meta.interval, meta.records)
	}
	f.log.Error("kafka refused a message as too large; dropped", zap.String("topic", m.Topic), zap.Int("bytes", len(m.Value)), zap.Int("records", meta.records), zap.Error(err))
}

func (f *Forwarder) delivered(msgs []kafka.Message, counts []msgMeta) {
	if len(msgs) == 0 {
		return
	}
	var b int64
	var n int
	for i := range msgs {
		b += int64(len(msgs[i].Value))
		n += counts[i].records
		if f.ledger != nil && counts[i].records > 0 {
			f.ledger.Acked(LedgerKind(counts[i].kind), counts[i].interval, counts[i].records)
		}
	}
	f.messages.Add(int64(len(msgs)))
	f.records.Add(int64(n))
	f.bytes.Add(b)
	f.connected.Store(true)
}

// ensureTopics creates missing topics when topics.create is on. A failure
// (Kafka down, no permission) is logged and not fatal: produce errors are
// retried, and an unknown topic triggers another attempt.
func (f *Forwarder) ensureTopics(ctx context.Context) {
	if !f.cfg.Topics.CreateEnabled() {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, f.cfg.WriteTimeout)
	defer cancel()
	specs := f.cfg.Topics.Specs()
	topics := specs[:2:2] // spans and logs
	if f.ledger != nil {
		topics = append(topics, specs[3])
	}
	if err := kafkawire.EnsureTopics(tctx, f.client, topics); err != nil {
		f.errs.Add(1)
		f.lastErr.Store(err.Error())
		f.log.Warn("kafka: could not make sure the topics exist; producing anyway", zap.Error(err))
	}
}

// Ping asks a broker for its API versions: whether Kafka is reachable
// now, also while nothing is being sent. (A metadata request would be
// answered from the transport's cache.)
func (f *Forwarder) Ping(ctx context.Context) error {
	resp, err := f.client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		return fmt.Errorf("kafka api versions: %w", err)
	}
	return nil
}
