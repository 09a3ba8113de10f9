// Package collector moves spans and logs from Kafka into storage with
// at-least-once delivery and exactly-once rows.
//
// # How nothing is lost and nothing is stored twice
//
// Each assigned partition is fetched and decoded by its own feed into a
// segment of consecutive offsets [start, end]; per topic, a lane cuts the
// open segments of all its partitions into one batch (up to batch.max_rows,
// whatever the partition count: the engine's cost per row falls steeply
// with the insert's size). A batch goes through these steps, in order:
//
//  1. on every partition of the batch, its start offset is committed again
//     with metadata naming the whole batch (the "pending marker"):
//     "flowlens/v2 pending 0:start-end,3:start-end,...", or for a batch of
//     one partition the first version's "flowlens/v1 pending start-end";
//     one request, so the group's generation check passes for all or none;
//  2. its rows are inserted with insert_deduplication_token
//     "flowlens:<topic>:0:start-end,3:start-end,..." (with one partition:
//     "flowlens:<topic>:<partition>:<start>-<end>", as before), retried
//     with backoff while storage is unavailable;
//  3. the loss ledger's counts of the batch (what it stored and
//     dead-lettered per agent host and interval) are inserted with the
//     token "<that token>:ledger" (see collector/ledger.go);
//  4. records that cannot be stored go to the dead-letter topic;
//  5. end+1 is committed on every partition of the batch.
//
// Offsets are therefore committed only after the rows are stored, and only
// as a contiguous prefix of each partition. After a crash (or a rebalance)
// the next owner of a partition reads its committed offset and metadata:
// if a batch was pending, it reads exactly the ranges the marker names, on
// every partition (owned here or not), and inserts them under the same
// token, which the engine stores once, however many owners of the batch's
// partitions do so. A batch one of whose partitions is already committed
// past it was stored: it is only committed. Each owner commits only the
// partitions whose marker still names the batch. Batch cuts may thus
// depend on time, size or memory pressure without breaking deduplication:
// the marker records the cut before anything is stored. (A record may reach
// the dead-letter topic twice after a crash: that topic is at-least-once.)
// The engine remembers the last 1000 tokens per table
// (non_replicated_deduplication_window), far more than the batches in
// flight.
//
// A lane that cannot commit its markers (it lost the partitions) does not
// insert at all. One whose markers went through but whose insert is late
// only repeats what the new owners store under the same token.
package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/storage"
)

// RowStore is the storage the collector writes into (storage.Store).
// Inserts with the same dedupToken must be stored once.
type RowStore interface {
	InsertSpans(ctx context.Context, rows *storage.SpanRows, dedupToken string) error
	InsertLogs(ctx context.Context, rows *storage.LogRows, dedupToken string) error
	RowLimits() storage.RowLimits
}

// LedgerStore is where the loss ledger goes (storage.Store): the agents'
// reports and the counts of every batch, each insert stored once per
// token; and the ledger read back for the metrics.
type LedgerStore interface {
	InsertLedgerReports(ctx context.Context, rows []storage.LedgerReport, dedupToken string) error
	InsertLedgerCounts(ctx context.Context, rows []storage.LedgerCount, dedupToken string) error
	ledger.Reader
}

// Settings are the collector's dependencies.
type Settings struct {
	component.Settings
	// Store is where the rows go; required. With ledger on (the default)
	// it must be a LedgerStore too.
	Store RowStore
}

// Collector consumes the spans and logs topics into a RowStore.
type Collector struct {
	cfg      Config
	store    RowStore
	ledger   LedgerStore // nil: ledger off
	log      *zap.Logger
	m        *metrics
	gather   prometheus.Gatherer
	endpoint *listener.Endpoint
	dec      kafkawire.Decoder
	dialer   *kafka.Dialer
	client   *kafka.Client
	dlq      *kafka.Writer
	budget   *semaphore.Weighted
	inserts  chan struct{}

	// IsRetryable classifies storage errors; storage.IsRetryable by default.
	isRetryable func(error) bool
	// readHook, when set (by tests), is called with every message once it
	// has been decoded into a batch, before it counts as read.
	readHook func(kafka.Message)

	mu        sync.Mutex
	group     *kafka.ConsumerGroup
	httpSrv   *listener.Server
	started   bool
	stopping  atomic.Bool
	stopCheck context.CancelFunc // ends checkLedger
	checkDone chan struct{}
	// flushCtx bounds the final flush on Shutdown.
	flushCtx    context.Context
	flushCancel context.CancelFunc
	done        chan struct{}

	healthMu      sync.Mutex
	storageErr    error
	storageErrAt  time.Time
	assigned      int
	lastGenerated time.Time
}

// New applies the config's defaults, checks it and builds a collector;
// Start runs it. Its metrics are registered on set.Registerer and served
// on /metrics (set.Gatherer).
func New(cfg Config, set Settings) (*Collector, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collector config: %w", err)
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, errors.New("collector: no kafka brokers (start the embedded broker and set kafka.brokers)")
	}
	if set.Store == nil {
		return nil, errors.New("collector: no storage")
	}
	var ls LedgerStore
	if cfg.Ledger.On() {
		var ok bool
		if ls, ok = set.Store.(LedgerStore); !ok {
			return nil, errors.New("collector: ledger.enabled needs a storage that keeps the ledger (storage.Store)")
		}
	}
	set.Settings = set.Settings.WithDefaults()
	endpoint, err := listener.Load(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("collector config: %w", err)
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	enc, _ := kafkawire.ParseEncoding(cfg.Encoding, true)
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	client, err := cfg.Kafka.Client()
	if err != nil {
		return nil, err
	}
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, err
	}
	c := &Collector{
		cfg:      cfg,
		store:    set.Store,
		ledger:   ls,
		log:      set.Logger,
		m:        m,
		gather:   set.Gatherer,
		endpoint: endpoint,
		dec:      kafkawire.Decoder{Encoding: enc},
		dialer:   dialer,
		client:   client,
		dlq: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Kafka.Brokers...),
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
			BatchBytes:   64 << 20,
			Transport:    tr,
		},
		budget:      semaphore.NewWeighted(int64(cfg.MaxBufferedBytes)),
		inserts:     make(chan struct{}, cfg.InsertConcurrency),
		isRetryable: storage.IsRetryable,
		done:        make(chan struct{}),
	}
	return c, nil
}

// Start creates missing topics (if configured), joins the consumer group and
// serves /metrics and /healthz; consumption runs in the background until
// Shutdown.
func (c *Collector) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("collector already started")
	}
	if c.cfg.Topics.CreateEnabled() {
		if err := kafkawire.EnsureTopics(ctx, c.client, c.cfg.Topics.Specs()); err != nil {
			return err
		}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    c.cfg.GroupID,
		Brokers:               c.cfg.Kafka.Brokers,
		Dialer:                c.dialer,
		Topics:                c.topics(),
		WatchPartitionChanges: true,
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     max(c.cfg.SessionTimeout/10, 100*time.Millisecond),
		SessionTimeout:        c.cfg.SessionTimeout,
		RebalanceTimeout:      30 * time.Second,
		JoinGroupBackoff:      time.Second,
		ErrorLogger:           kafka.LoggerFunc(c.log.Sugar().Named("kafka").Debugf),
	})
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", c.cfg.GroupID, err)
	}
	if c.endpoint.On() {
		srv, err := c.endpoint.Serve(ctx, "collector's metrics", &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}, c.log)
		if err != nil {
			_ = group.Close()
			return err
		}
		c.httpSrv = srv
	}
	c.group = group
	c.started = true
	c.flushCtx, c.flushCancel = context.WithCancel(context.Background())
	go c.run(group)
	if c.ledger != nil {
		checkCtx, stopCheck := context.WithCancel(context.WithoutCancel(ctx))
		c.stopCheck, c.checkDone = stopCheck, make(chan struct{})
		go c.checkLedger(checkCtx)
	}
	httpAddr := listener.Off
	if c.httpSrv != nil {
		httpAddr = c.httpSrv.URL()
	}
	c.log.Info("collector started", zap.String("group", c.cfg.GroupID), zap.String("http", httpAddr),
		zap.Strings("topics", c.topics()), zap.Strings("brokers", c.cfg.Kafka.Brokers))
	return nil
}

// topics are the topics consumed.
func (c *Collector) topics() []string {
	t := []string{c.cfg.Topics.Spans, c.cfg.Topics.Logs}
	if c.ledger != nil {
		t = append(t, c.cfg.Topics.Ledger)
	}
	return t
}

// HTTPAddr is the address /metrics and /healthz are served on, as bound
// (listen may ask for port 0): "" before Start or when off.
func (c *Collector) HTTPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.httpSrv == nil {
		return ""
	}
	return c.httpSrv.Addr()
}

// Shutdown stops fetching, stores and commits every open batch, then leaves
// the group. It gives up flushing when ctx ends: what was not stored is not
// committed and the next owner redoes it. Safe without Start and twice.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if !c.started || c.stopping.Load() {
		c.mu.Unlock()
		return nil
	}
	c.stopping.Store(true)
	group, srv := c.group, c.httpSrv
	c.mu.Unlock()
	if c.stopCheck != nil {
		c.stopCheck()
		<-c.checkDone
	}

	stop := context.AfterFunc(ctx, c.flushCancel)
	defer stop()
	if ctx.Err() != nil {
		c.flushCancel()
	}
	closed := make(chan struct{})
	go func() { _ = group.Close(); close(closed) }()
	var err error
	select {
	case <-closed:
	case <-ctx.Done():
		err = fmt.Errorf("collector shutdown: %w", ctx.Err())
		<-closed // workers return promptly once flushCtx is cancelled
	}
	<-c.done
	if derr := c.dlq.Close(); derr != nil {
		err = errors.Join(err, fmt.Errorf("close dead-letter writer: %w", derr))
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	c.flushCancel()
	c.log.Info("collector stopped")
	return err
}

// run follows the group's generations until the group is closed.
func (c *Collector) run(group *kafka.ConsumerGroup) {
	defer close(c.done)
	for {
		gen, err := group.Next(context.Background())
		if err != nil {
			if errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			c.log.Warn("consumer group", zap.Error(err))
			continue
		}
		c.m.rebalances.Inc()
		c.startGeneration(gen)
	}
}

type partitionKey struct {
	topic     string
	partition int
}

// startGeneration launches one lane per assigned topic; each lane first
// rebuilds the batches its partitions' previous owners left pending.
func (c *Collector) startGeneration(gen *kafka.Generation) {
	markers := c.fetchMarkers(gen)
	n := 0
	for topic, parts := range gen.Assignments {
		if len(parts) == 0 {
			continue
		}
		n += len(parts)
		l := newLane(c, gen, topic, parts)
		pending := map[int]batchRanges{}
		for _, p := range parts {
			if m := markers[partitionKey{topic, p.ID}]; m != nil {
				pending[p.ID] = m
			}
		}
		gen.Start(func(ctx context.Context) { l.run(ctx, pending) })
	}
	c.healthMu.Lock()
	c.assigned = n
	c.lastGenerated = time.Now()
	c.healthMu.Unlock()
	c.m.partitions.Set(float64(n))
	c.log.Info("consumer group generation", zap.Int32("generation", gen.ID), zap.Int("partitions", n))
}

func (c *Collector) kindOf(topic string) kind {
	if topic == c.cfg.Topics.Logs {
		return kindLogs
	}
	if topic == c.cfg.Topics.Ledger && c.ledger != nil {
		return kindLedger
	}
	return kindSpans
}

// fetchMarkers reads the commit metadata of the assigned partitions: the
// batches pending on them.
func (c *Collector) fetchMarkers(gen *kafka.Generation) map[partitionKey]batchRanges {
	req := &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{}}
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			req.Topics[topic] = append(req.Topics[topic], p.ID)
		}
	}
	out := map[partitionKey]batchRanges{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.client.OffsetFetch(ctx, req)
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		// Without the markers a pending batch may be cut differently and
		// stored twice; say so loudly rather than stall the group.
		c.log.Error("read pending-batch markers; a batch interrupted before its commit may be stored twice", zap.Error(err))
		return out
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if m := parseMarker(p.Metadata, p.Partition, p.CommittedOffset); m != nil {
				out[partitionKey{topic, p.Partition}] = m
			}
		}
	}
	return out
}

// errLostPartition means the group moved the partition elsewhere.
var errLostPartition = errors.New("partition no longer assigned to this member")

// commit commits offsets (with metadata) of partitions of topic in gen, in
// one request: the group's generation is checked once for all of them, so
// they are committed together or not at all.
func (c *Collector) commit(ctx context.Context, gen *kafka.Generation, topic string, offsets []kafka.OffsetCommit) error {
	if len(offsets) == 0 {
		return nil
	}
	resp, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      c.cfg.GroupID,
		GenerationID: int(gen.ID),
		MemberID:     gen.MemberID,
		Topics:       map[string][]kafka.OffsetCommit{topic: offsets},
	})
	if err != nil {
		return fmt.Errorf("commit %s %s: %w", topic, describeCommit(offsets), err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			if errors.Is(p.Error, kafka.IllegalGeneration) || errors.Is(p.Error, kafka.UnknownMemberId) ||
				errors.Is(p.Error, kafka.FencedInstanceID) {
				return fmt.Errorf("commit %s/%d: %w: %w", topic, p.Partition, errLostPartition, p.Error)
			}
			return fmt.Errorf("commit %s/%d: %w", topic, p.Partition, p.Error)
		}
	}
	return nil
}

func describeCommit(offsets []kafka.OffsetCommit) string {
	var sb strings.Builder
	for i, o := range offsets {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(o.Partition) + "@" + strconv.FormatInt(o.Offset, 10))
	}
	return sb.String()
}

// retry runs op until it succeeds, ctx ends or permanent(err) is true,
// backing off exponentially.
func (c *Collector) retry(ctx context.Context, what string, op func(context.Context) error, permanent func(error) bool) error {
	delay := c.cfg.Retry.Next(0)
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if permanent(err) || ctx.Err() != nil {
			return err
		}
		c.m.retries.WithLabelValues(what).Inc()
		if attempt == 0 || attempt%10 == 0 {
			c.log.Warn("retrying", zap.String("what", what), zap.Int("attempt", attempt+1), zap.Duration("backoff", delay), zap.Error(err))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = c.cfg.Retry.Next(delay)
	}
}

func (c *Collector) setStorageErr(err error) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	wasFull := storage.IsDiskFull(c.storageErr)
	if err == nil {
		if wasFull {
			c.log.Info("the engine takes inserts again after its disk was full")
		}
		c.storageErr = nil
		c.m.storageUp.Set(1)
		c.m.storageFull.Set(0)
		return
	}
	if c.storageErr == nil {
		c.storageErrAt = time.Now()
	}
	if full := storage.IsDiskFull(err); full != wasFull {
		if full {
			c.log.Error("the engine's disk is full: inserts are retried until space is freed; nothing is dropped or committed meanwhile", zap.Error(err))
			c.m.storageFull.Set(1)
		} else {
			c.m.storageFull.Set(0)
		}
	}
	c.storageErr = err
	c.m.storageUp.Set(0)
}
