// Package kafkain feeds the analyzer from Kafka: the analyzer's own consumer
// group over the spans topic (and the logs topic, for breaker log records).
//
// Spans of a trace arrive on one partition (they are keyed by trace ID, and
// a consumer span with links by its producer's trace: kafkawire.SpanPartitionID),
// so every partition goes to one worker and one analyzer shard, and both
// halves of every pair to one analyzer instance of the group; workers run in
// parallel, a partition's messages in order.
//
// Delivery semantics (at least once, exact across rebalances for messages
// that hold whole traces):
//   - While a generation runs, an offset is committed only when everything its
//     message contributed is stored: its halves were paired or expired (at
//     most the pairing wait plus a tick after it was processed) and the rollup
//     flush that drained them succeeded. The service calls
//     CommitProcessedBefore(drain time - wait - 2 ticks) after each flush.
//   - When a generation ends (a rebalance, or shutdown), each partition is
//     first read to its end as it is then (at most drainTimeout), so that
//     the halves of a pair in two messages already in the partition (a
//     producer's and its consumer's, sent by two agents) meet; then, before
//     the partitions are given up, the Handoff callback ends every wait
//     (unpaired halves become virtual edges) and flushes the rollups, and
//     every processed offset is committed with the old generation. The next
//     owner starts exactly after what was counted. (A half whose partner is
//     not in the partition yet is counted as unpaired at that moment.)
//   - A commit can fail after the rollups were written (the broker is down
//     when the generation ends). The consumer remembers, per partition, the
//     last offset it counted; when the partitions come back to it and the
//     messages are read again, those are skipped (committed, not recounted).
//     That memory is dropped when a handoff could not write its rollups
//     (those messages must be counted again) and for a partition without a
//     committed offset (a recreated topic starts at 0 again).
//   - After a crash of the process, messages processed since the last commit
//     are read again: edges from those already flushed are counted twice
//     (bounded by one flush interval plus the wait); nothing is lost.
package kafkain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/component"
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
	ConsumeProtobuf(key int, b []byte, now time.Time) (int, error)
	ConsumeLogs(key int, ld plog.Logs, now time.Time) int
	ConsumeLogsProtobuf(key int, b []byte, now time.Time) (int, error)
}

// Config of a Consumer.
type Config struct {
	Client     kafkawire.ClientConfig
	SpansTopic string
	LogsTopic  string // empty: spans only
	GroupID    string
	// Workers decode and process in parallel (default 1); partition p goes
	// to worker p % Workers, with shard key p.
	Workers  int
	Instance string
	// Handoff runs when a generation ends, after every fetched message was
	// processed and before the offsets are committed: it must make
	// everything processed durable (end the waits, flush the rollups). An
	// error leaves the offsets uncommitted.
	Handoff func(ctx context.Context) error
	// DeadLetterTopic receives the messages whose processing panicked
	// (empty: they are only logged and counted).
	DeadLetterTopic string
}

// Consumer reads, decodes and hands messages to the Processor.
type Consumer struct {
	cfg    Config
	proc   Processor
	log    *zap.Logger
	dialer *kafka.Dialer
	dec    kafkawire.Decoder
	dlq    *kafka.Writer // nil without a dead-letter topic

	mu        sync.Mutex
	gen       *kafka.Generation
	assigned  int
	processed map[tp]*checkpoints
	counted   map[tp]int64 // last offset counted per partition (see package doc)

	messages, decodeErrors, spans, commits, commitErrors, generations, skipped, panics prometheus.Counter

	// generationEnded, when set (tests), runs once a generation has ended,
	// before its partitions are drained and handed off.
	generationEnded func()
}

type tp struct {
	topic     string
	partition int
}

// checkpoints are (offset, processed-at) marks of one partition, at most
// one per 100 ms of processing, oldest first.
type checkpoints struct {
	marks []mark
}

type mark struct {
	offset  int64
	lastNs  int64
	startNs int64
}

const markWindow = int64(100 * time.Millisecond)

// New builds the Consumer; it joins the group when Run starts.
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
	cl := prometheus.Labels{"instance": cfg.Instance}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl})
	}
	c := &Consumer{cfg: cfg, proc: proc, log: log, dialer: dialer, dec: kafkawire.Decoder{Encoding: kafkawire.EncodingAuto},
		processed:    map[tp]*checkpoints{},
		counted:      map[tp]int64{},
		skipped:      counter("flowlens_flowgraph_redelivered_skipped_total", "Messages read again after a failed commit and skipped: they were already counted."),
		messages:     counter("flowlens_flowgraph_messages_total", "Kafka messages consumed."),
		decodeErrors: counter("flowlens_flowgraph_decode_errors_total", "Kafka messages that could not be decoded (skipped; the collector dead-letters them)."),
		spans:        counter("flowlens_flowgraph_consumed_spans_total", "Spans decoded from Kafka."),
		commits:      counter("flowlens_flowgraph_commits_total", "Offset commits."),
		commitErrors: counter("flowlens_flowgraph_commit_errors_total", "Offset commits that failed (retried later)."),
		generations:  counter("flowlens_flowgraph_generations_total", "Consumer group generations joined (rebalances)."),
		panics: counter("flowlens_flowgraph_message_panics_total",
			"Kafka messages whose processing panicked (sent to the dead-letter topic, the stream goes on)."),
	}
	if cfg.DeadLetterTopic != "" {
		tr, err := cfg.Client.Transport()
		if err != nil {
			return nil, fmt.Errorf("kafka consumer: %w", err)
		}
		c.dlq = &kafka.Writer{Addr: kafka.TCP(cfg.Client.Brokers...), Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	}
	if reg != nil {
		if err := component.Register(reg, "flow analyzer's consumer", c.messages, c.decodeErrors, c.spans, c.commits, c.commitErrors, c.generations, c.skipped, c.panics); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run joins the group and consumes until ctx ends; each generation's end
// (rebalance or shutdown) runs the handoff and commits. It returns nil after
// a clean shutdown.
func (c *Consumer) Run(ctx context.Context) error {
	topics, err := c.topics(ctx)
	if err != nil {
		return err
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                c.cfg.GroupID,
		Brokers:           c.cfg.Client.Brokers,
		Dialer:            c.dialer,
		Topics:            topics,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", c.cfg.GroupID, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cg.Close() })
	defer stop()
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			c.log.Warn("consumer group: next generation", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		c.generations.Inc()
		c.runGeneration(gen)
	}
}

// topics are the topics to join with: the spans topic must exist; a missing
// logs topic is left out (breaker states then come from spans only).
func (c *Consumer) topics(ctx context.Context) ([]string, error) {
	client, err := c.cfg.Client.Client()
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	want := []string{c.cfg.SpansTopic}
	if c.cfg.LogsTopic != "" {
		want = append(want, c.cfg.LogsTopic)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: want})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata for %v: %w", want, err)
	}
	have := map[string]bool{}
	for _, t := range meta.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			have[t.Name] = true
		}
	}
	if !have[c.cfg.SpansTopic] {
		return nil, fmt.Errorf("kafka topic %q does not exist (yet): the collector or flowlens up creates it", c.cfg.SpansTopic)
	}
	topics := []string{c.cfg.SpansTopic}
	if c.cfg.LogsTopic != "" {
		if have[c.cfg.LogsTopic] {
			topics = append(topics, c.cfg.LogsTopic)
		} else {
			c.log.Warn("logs topic missing: breaker states come from spans only", zap.String("topic", c.cfg.LogsTopic))
		}
	}
	return topics, nil
}

// runGeneration consumes the generation's partitions until it ends, then
// hands off and commits. It returns when the generation is over.
func (c *Consumer) runGeneration(gen *kafka.Generation) {
	c.mu.Lock()
	c.gen = gen
	c.mu.Unlock()

	chans := make([]chan kafka.Message, c.cfg.Workers)
	var workers, readers sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan kafka.Message, 64)
		workers.Add(1)
		go func(ch <-chan kafka.Message) {
			defer workers.Done()
			for m := range ch {
				c.process(m)
			}
		}(chans[i])
	}
	var parts int
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			parts++
			readers.Add(1)
			topic, pa := topic, pa
			gen.Start(func(ctx context.Context) {
				defer readers.Done()
				c.readPartition(ctx, topic, pa, chans[pa.ID%len(chans)])
			})
		}
	}
	c.mu.Lock()
	c.assigned = parts
	c.mu.Unlock()
	c.log.Info("consumer group generation", zap.Int32("generation", gen.ID), zap.Int("partitions", parts))
	done := make(chan struct{})
	gen.Start(func(ctx context.Context) {
		defer close(done)
		<-ctx.Done()
		if c.generationEnded != nil {
			c.generationEnded()
		}
		readers.Wait()
		for _, ch := range chans {
			close(ch)
		}
		workers.Wait()
		c.handoff(gen)
	})
	<-done
	c.mu.Lock()
	c.gen, c.assigned = nil, 0
	c.mu.Unlock()
}

// Assigned is the number of partitions (all topics) of the current
// generation; 0 between generations.
func (c *Consumer) Assigned() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assigned
}

func (c *Consumer) readPartition(ctx context.Context, topic string, pa kafka.PartitionAssignment, out chan<- kafka.Message) {
	if pa.Offset < 0 { // no committed offset: whatever was counted before is not this log
		c.mu.Lock()
		delete(c.counted, tp{topic, pa.ID})
		c.mu.Unlock()
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Client.Brokers,
		Topic:     topic,
		Partition: pa.ID,
		Dialer:    c.dialer,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		c.log.Error("set partition offset", zap.String("topic", topic), zap.Int("partition", pa.ID), zap.Int64("offset", pa.Offset), zap.Error(err))
		return
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("fetch", zap.String("topic", topic), zap.Int("partition", pa.ID), zap.Error(err))
				return
			}
			c.drain(r, topic, pa.ID, out)
			return
		}
		select {
		case out <- m:
		case <-ctx.Done():
			out <- m // fetched: counted here, its offset committed at the handoff
			c.drain(r, topic, pa.ID, out)
			return
		}
	}
}

// drainTimeout bounds the reading to the end of a partition when a
// generation ends (the group waits for it, up to its rebalance timeout).
const drainTimeout = 5 * time.Second

// drain hands out the partition's messages up to its end as it is when the
// generation ends, before the handoff commits them. Pairs whose halves came
// in two messages (a producer's and its consumer's, written by two agents)
// and are both in the partition then meet here, instead of being cut by the
// rebalance into two unpaired halves; a half whose partner is not written
// yet is still counted as unpaired. The group waits: the next owner starts
// after what was read here.
func (c *Consumer) drain(r *kafka.Reader, topic string, partition int, out chan<- kafka.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	lag, err := r.ReadLag(ctx)
	if err != nil {
		c.log.Warn("read to the partition's end at the handoff", zap.String("topic", topic), zap.Int("partition", partition), zap.Error(err))
		return
	}
	// a reader that has returned nothing yet is at no offset: the lag
	// then counts from the partition's first one
	var done func(n int64) bool
	if start := r.Offset(); start >= 0 {
		end := start + lag
		done = func(int64) bool { return r.Offset() >= end }
	} else {
		done = func(n int64) bool { return n >= lag }
	}
	for n := int64(0); !done(n); n++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			c.log.Warn("read to the partition's end at the handoff", zap.String("topic", topic), zap.Int("partition", partition),
				zap.Int64("offset", r.Offset()), zap.Int64("lag", lag), zap.Error(err))
			return
		}
		out <- m
	}
}

// handoff makes everything processed durable and commits it before the
// partitions go to their next owner.
func (c *Consumer) handoff(gen *kafka.Generation) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.cfg.Handoff != nil {
		if err := c.cfg.Handoff(ctx); err != nil {
			c.log.Error("handoff failed; offsets stay uncommitted (the next owner re-reads them)", zap.Error(err))
			c.dropMarks()
			c.mu.Lock()
			clear(c.counted) // what was not stored must be counted again
			c.mu.Unlock()
			return
		}
	}
	if err := c.commitWith(gen, 1<<63-1); err != nil {
		c.log.Error("commit at handoff (messages read again will be skipped, not recounted)", zap.Error(err))
	} else {
		c.log.Info("handoff: rollups written, offsets committed", zap.Int32("generation", gen.ID))
	}
	c.dropMarks()
}

func (c *Consumer) dropMarks() {
	c.mu.Lock()
	clear(c.processed)
	c.mu.Unlock()
}

// Close releases the dead-letter writer, once Run has returned.
func (c *Consumer) Close() error {
	if c.dlq == nil {
		return nil
	}
	return c.dlq.Close()
}

func (c *Consumer) process(m kafka.Message) {
	c.messages.Inc()
	now := time.Now()
	defer c.markProcessed(m.Topic, m.Partition, m.Offset, now.UnixNano())
	defer c.recoverMessage(m)
	if c.alreadyCounted(m) {
		c.skipped.Inc()
		return
	}
	if c.cfg.LogsTopic != "" && m.Topic == c.cfg.LogsTopic {
		if isProtobuf(m) {
			// every log record is read for the few with a breaker state:
			// in place, no pdata
			if _, err := c.proc.ConsumeLogsProtobuf(m.Partition, m.Value, now); err != nil {
				c.decodeErrors.Inc()
			}
		} else if ld, err := c.dec.DecodeLogs(m.Value, m.Headers); err != nil {
			c.decodeErrors.Inc()
		} else {
			c.proc.ConsumeLogs(m.Partition, ld, now)
		}
	} else if isProtobuf(m) {
		// the hot path: read the spans in place, no pdata
		n, err := c.proc.ConsumeProtobuf(m.Partition, m.Value, now)
		if err != nil || n == 0 {
			c.decodeErrors.Inc()
		}
		c.spans.Add(float64(n))
	} else {
		if td, err := c.dec.DecodeTraces(m.Value, m.Headers); err != nil {
			c.decodeErrors.Inc()
		} else {
			c.spans.Add(float64(c.proc.ConsumeTraces(m.Partition, td, now)))
		}
	}
}

// recoverMessage turns a panic while processing m (a bug that this message
// triggers in a decoder or the analyzer) into a dead letter: m is counted
// as processed and the partition goes on. What the message added to the
// graph before the panic stays.
func (c *Consumer) recoverMessage(m kafka.Message) {
	p := recover()
	if p == nil {
		return
	}
	c.panics.Inc()
	c.log.Error("processing a message panicked; it goes to the dead-letter topic, the partition goes on",
		zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset),
		zap.Any("panic", p), zap.Stack("stack"))
	if c.dlq == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dl := kafkawire.DeadLetterMessage(c.cfg.DeadLetterTopic, m, kafkawire.ReasonReaderPanic,
		fmt.Sprintf("flow analyzer (group %s): panic while processing the message: %v", c.cfg.GroupID, p))
	if err := c.dlq.WriteMessages(ctx, dl); err != nil {
		c.log.Error("dead letter not written", zap.Int64("offset", m.Offset), zap.Error(err))
	}
}

// isProtobuf reports whether a spans message is otlp_proto: its
// content-type header says so or, without one, it does not start like JSON.
func isProtobuf(m kafka.Message) bool {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, kafkawire.HeaderContentType) {
			switch strings.ToLower(strings.TrimSpace(string(h.Value))) {
			case string(kafkawire.EncodingProto), "application/x-protobuf", "application/protobuf":
				return true
			}
			return false
		}
	}
	for _, b := range m.Value {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return false
		}
		return true
	}
	return false
}

// alreadyCounted reports whether m was counted before (a re-read after a
// failed commit) and otherwise records it as counted.
func (c *Consumer) alreadyCounted(m kafka.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tp{m.Topic, m.Partition}
	if last, ok := c.counted[k]; ok && m.Offset <= last {
		return true
	}
	c.counted[k] = m.Offset
	return false
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
// at or before cutoff, with the current generation (none: nothing to do).
func (c *Consumer) CommitProcessedBefore(cutoff time.Time) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	if gen == nil {
		return nil
	}
	return c.commitWith(gen, cutoff.UnixNano())
}

func (c *Consumer) commitWith(gen *kafka.Generation, cutoffNs int64) error {
	c.mu.Lock()
	offsets := map[string]map[int]int64{}
	taken := map[tp][]mark{}
	for k, cp := range c.processed {
		i := 0
		for i < len(cp.marks) && cp.marks[i].lastNs <= cutoffNs {
			i++
		}
		if i == 0 {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int]int64{}
		}
		offsets[k.topic][k.partition] = cp.marks[i-1].offset + 1 // the next offset to read
		taken[k] = append([]mark(nil), cp.marks[:i]...)
		cp.marks = append(cp.marks[:0], cp.marks[i:]...)
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		c.commitErrors.Inc()
		c.mu.Lock() // put the marks back: the next commit retries them
		for k, ms := range taken {
			if cp := c.processed[k]; cp != nil {
				cp.marks = append(ms, cp.marks...)
			}
		}
		c.mu.Unlock()
		return fmt.Errorf("commit offsets: %w", err)
	}
	c.commits.Inc()
	return nil
}
