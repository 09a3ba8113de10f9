// Package kafkain feeds the analyzer from Kafka: the analyzer's own consumer
// group over the spans topic (and the logs topic, for breaker log records).
//
// Spans of a trace arrive on one partition (they are keyed by trace ID), so
// every partition goes to one worker and one analyzer shard; workers run in
// parallel, a partition's messages in order.
//
// Delivery is at least once. An offset is committed only when everything its
// message contributed is stored: its halves were paired or expired (at most
// the pairing wait plus one tick after it was processed) and the rollup flush
// that drained those aggregates succeeded. The service calls
// CommitProcessedBefore(drain time - wait - tick) after each flush. After a
// crash or a rebalance the next owner re-reads from the last commit: edges
// from messages processed since then but already flushed are counted again
// (over-count bounded by one flush interval plus the wait); nothing is lost.
// kafka-go's Reader does not report revoked partitions, so an old owner may
// still commit a revoked partition's offset once; that can only move the
// offset backwards (more re-reading), never skip data.
package kafkain

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// Processor is the analyzer.
type Processor interface {
	ConsumeTraces(key int, td ptrace.Traces, now time.Time) int
	ConsumeLogs(key int, ld plog.Logs, now time.Time) int
}

// Config of a Consumer.
type Config struct {
	Client     kafkawire.ClientConfig
	SpansTopic string
	LogsTopic  string // empty: spans only
	GroupID    string
	// Workers decode and process in parallel (default 1); partition p goes
	// to worker p % Workers, whose shard key is p.
	Workers  int
	Instance string
}

// Consumer reads, decodes and hands messages to the Processor.
type Consumer struct {
	cfg    Config
	proc   Processor
	log    *zap.Logger
	reader *kafka.Reader
	dec    kafkawire.Decoder

	mu        sync.Mutex
	processed map[tp]*checkpoints

	messages, decodeErrors, spans, commits, commitErrors prometheus.Counter
}

type tp struct {
	topic     string
	partition int
}

// checkpoints are (offset, processed-at) marks of one partition, one per
// 100 ms of processing, oldest first.
type checkpoints struct {
	marks []mark
}

type mark struct {
	offset  int64
	lastNs  int64
	startNs int64
}

const markWindow = int64(100 * time.Millisecond)

// New builds the Consumer; it connects when Run starts.
func New(cfg Config, proc Processor, log *zap.Logger, reg prometheus.Registerer) (*Consumer, error) {
	if len(cfg.Client.Brokers) == 0 {
		return nil, errors.New("kafka consumer: no brokers")
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	dialer, err := cfg.Client.Dialer()
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	topics := []string{cfg.SpansTopic}
	if cfg.LogsTopic != "" {
		topics = append(topics, cfg.LogsTopic)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Client.Brokers,
		GroupID:           cfg.GroupID,
		GroupTopics:       topics,
		Dialer:            dialer,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           250 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		CommitInterval:    0, // synchronous: CommitProcessedBefore returns once stored
	})
	cl := prometheus.Labels{"instance": cfg.Instance}
	c := &Consumer{cfg: cfg, proc: proc, log: log, reader: r, dec: kafkawire.Decoder{Encoding: kafkawire.EncodingAuto},
		processed:    map[tp]*checkpoints{},
		messages:     prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_messages_total", Help: "Kafka messages consumed.", ConstLabels: cl}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_decode_errors_total", Help: "Kafka messages that could not be decoded (skipped; the collector dead-letters them).", ConstLabels: cl}),
		spans:        prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_consumed_spans_total", Help: "Spans decoded from Kafka.", ConstLabels: cl}),
		commits:      prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_commits_total", Help: "Offset commits.", ConstLabels: cl}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_flowgraph_commit_errors_total", Help: "Offset commits that failed (retried at the next flush).", ConstLabels: cl}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.messages, c.decodeErrors, c.spans, c.commits, c.commitErrors} {
			if err := reg.Register(m); err != nil {
				log.Warn("register consumer metric", zap.Error(err))
			}
		}
	}
	return c, nil
}

// Run fetches until ctx ends, then lets the workers finish what was fetched
// and returns. It does not commit or close: see CommitAll and Close.
func (c *Consumer) Run(ctx context.Context) error {
	chans := make([]chan kafka.Message, c.cfg.Workers)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan kafka.Message, 256)
		wg.Add(1)
		go func(ch <-chan kafka.Message) {
			defer wg.Done()
			for m := range ch {
				c.process(m)
			}
		}(chans[i])
	}
	var err error
	for {
		m, ferr := c.reader.FetchMessage(ctx)
		if ferr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("fetch from kafka: %w", ferr)
			}
			break
		}
		chans[m.Partition%c.cfg.Workers] <- m
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	return err
}

func (c *Consumer) process(m kafka.Message) {
	c.messages.Inc()
	now := time.Now()
	if m.Topic == c.cfg.LogsTopic && c.cfg.LogsTopic != "" {
		ld, err := c.dec.DecodeLogs(m.Value, m.Headers)
		if err != nil {
			c.decodeErrors.Inc()
		} else {
			c.proc.ConsumeLogs(m.Partition, ld, now)
		}
	} else {
		td, err := c.dec.DecodeTraces(m.Value, m.Headers)
		if err != nil {
			c.decodeErrors.Inc()
		} else {
			c.spans.Add(float64(c.proc.ConsumeTraces(m.Partition, td, now)))
		}
	}
	c.markProcessed(m.Topic, m.Partition, m.Offset, now.UnixNano())
}

func (c *Consumer) markProcessed(topic string, partition int, offset, nowNs int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tp{topic, partition}
	cp := c.processed[k]
	if cp == nil {
		cp = &checkpoints{}
		c.processed[k] = cp
	}
	if n := len(cp.marks); n > 0 && nowNs-cp.marks[n-1].startNs < markWindow {
		cp.marks[n-1].offset, cp.marks[n-1].lastNs = offset, nowNs
		return
	}
	cp.marks = append(cp.marks, mark{offset: offset, lastNs: nowNs, startNs: nowNs})
}

// CommitProcessedBefore commits, per partition, the last message processed
// at or before cutoff.
func (c *Consumer) CommitProcessedBefore(ctx context.Context, cutoff time.Time) error {
	return c.commit(ctx, cutoff.UnixNano())
}

// CommitAll commits every processed message (shutdown, after the store was
// flushed and the rollups written).
func (c *Consumer) CommitAll(ctx context.Context) error {
	return c.commit(ctx, 1<<63-1)
}

func (c *Consumer) commit(ctx context.Context, cutoffNs int64) error {
	c.mu.Lock()
	var msgs []kafka.Message
	for k, cp := range c.processed {
		i := 0
		for i < len(cp.marks) && cp.marks[i].lastNs <= cutoffNs {
			i++
		}
		if i == 0 {
			continue
		}
		msgs = append(msgs, kafka.Message{Topic: k.topic, Partition: k.partition, Offset: cp.marks[i-1].offset})
		cp.marks = append(cp.marks[:0], cp.marks[i:]...)
	}
	c.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.reader.CommitMessages(ctx, msgs...); err != nil {
		c.commitErrors.Inc()
		// put the marks back so the next attempt commits them
		c.mu.Lock()
		for _, m := range msgs {
			cp := c.processed[tp{m.Topic, m.Partition}]
			cp.marks = append([]mark{{offset: m.Offset, lastNs: 0, startNs: 0}}, cp.marks...)
		}
		c.mu.Unlock()
		return fmt.Errorf("commit %d partition offsets: %w", len(msgs), err)
	}
	c.commits.Inc()
	return nil
}

// Close leaves the group.
func (c *Consumer) Close() error {
	if err := c.reader.Close(); err != nil {
		return fmt.Errorf("close kafka reader: %w", err)
	}
	return nil
}
