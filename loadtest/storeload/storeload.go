// Package storeload plays the synthetic system (loadtest/gen) straight into
// a storage.Store, for tests and benchmarks that need a known system in
// ClickHouse without running the pipeline: spans go the way the agent
// forwards them (OTLP protobuf from the OpenTelemetry SDK's own exporter),
// log lines the way the agent reads the shop's files (its JSON parser and
// OTLP encoder), both into the storage writers and into an in-process flow
// analyzer whose rollups are stored at the end. What is stored is what the
// pipeline would store; the truth says what it should be.
package storeload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/loadtest"
	"github.com/flowlens/flowlens/loadtest/agentlogs"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/logfile"
	"github.com/flowlens/flowlens/storage"
)

// Options of a load. Rate and one of Count or Duration are required.
type Options struct {
	// Topology and Faults are files as for `flowlens loadgen`; empty: the
	// embedded shop without extra faults.
	Topology, Faults string
	Rate             float64
	Count            uint64
	Duration         time.Duration
	Seed             uint64
	// Start is the time of the first request. The analyzer clamps span
	// times to within an hour before and five minutes after the wall clock,
	// so keep Start in the last hour for the graph to match the truth.
	Start time.Time
	// LogsPerSpan is the log lines per span (default 1; -1: none).
	LogsPerSpan int
	// BatchSpans is the spans per insert (default 50000).
	BatchSpans int
	// History stores the flow rollups of a system that ran long ago, for
	// days if need be: the analyzer's processing time follows the spans
	// (it would clamp spans older than an hour before the wall clock), a
	// half waits for its other half historyWait of that time, and spans
	// and logs are not stored (only the rollups; no logs are written).
	// Start may then lie anywhere in the past.
	History bool
}

// historyWait is how long a half waits for its other half, in span time,
// in a History load: longer than the span time a batch covers
// (historyBatch), so a pair split between two batches still pairs.
const historyWait = 5 * time.Minute

// historyBatch is the span time a History load hands the analyzer at
// once: within its MaxFuture (5m) of the batch's newest span.
const historyBatch = time.Minute

// historyDrain is how much span time a History load's rollups cover
// before they are stored, bounding the analyzer's memory.
const historyDrain = 30 * time.Minute

// Result is what was stored.
type Result struct {
	Truth *gen.Truth
	// Analyzer is the analyzer that drew the graph, for the live API.
	Analyzer *flowgraph.Analyzer
}

// Load plays the topology into st (migrated) and returns the truth once
// every span, log record and rollup is stored.
func Load(ctx context.Context, st *storage.Store, opts Options) (*Result, error) {
	if opts.BatchSpans <= 0 {
		opts.BatchSpans = 50000
	}
	top, err := loadtest.LoadTopology(opts.Topology, opts.Faults)
	if err != nil {
		return nil, err
	}
	cfg := flowgraph.Config{Shards: 1}
	cfg.SetDefaults()
	if opts.History {
		cfg.Store.Wait = historyWait
		opts.LogsPerSpan = -1
	}
	l := &loader{ctx: ctx, st: st, analyzer: flowgraph.NewAnalyzer(cfg), batch: opts.BatchSpans, history: opts.History}
	if l.logLines, err = agentlogs.New("storeload"); err != nil {
		return nil, err
	}
	l.exporter = otlptrace.NewUnstarted(l)
	if err := l.exporter.Start(ctx); err != nil {
		return nil, fmt.Errorf("start span exporter: %w", err)
	}
	g, err := gen.New(top, l, l, gen.Options{Rate: opts.Rate, Count: opts.Count, Duration: opts.Duration,
		Seed: opts.Seed, Start: opts.Start, LogsPerSpan: opts.LogsPerSpan})
	if err != nil {
		return nil, err
	}
	if err := g.Run(ctx); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if err := errors.Join(l.ForceFlush(ctx), l.flushLogs(), l.err); err != nil {
		return nil, err
	}
	l.analyzer.FlushStore()
	if err := l.storeRollups(); err != nil {
		return nil, err
	}
	return &Result{Truth: g.Truth(), Analyzer: l.analyzer}, nil
}

// storeRollups stores what the analyzer counted since the last call.
func (l *loader) storeRollups() error {
	rows := edges.Rows(l.analyzer.DrainRollups())
	if err := l.st.InsertEdgeRollups(l.ctx, rows, ""); err != nil {
		return fmt.Errorf("store rollups: %w", err)
	}
	return nil
}

// loader is the generator's span processor and log sink. The generator
// calls it from one goroutine; the exporter may call UploadTraces from
// ForceFlush only, so the lock is for the exporter's contract.
type loader struct {
	ctx      context.Context
	st       *storage.Store
	analyzer *flowgraph.Analyzer
	exporter *otlptrace.Exporter
	logLines *agentlogs.Batcher
	batch    int
	// history: see Options.History. spanNs is the newest span end handed
	// to the analyzer (its processing time), batchNs the oldest span start
	// pending, drainedNs the span time of the last storeRollups.
	history                    bool
	spanNs, batchNs, drainedNs int64

	mu      sync.Mutex
	pending []sdktrace.ReadOnlySpan
	spans   storage.SpanRows
	logs    storage.LogRows
	req     []byte
	err     error
}

func (l *loader) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (l *loader) OnEnd(s sdktrace.ReadOnlySpan) {
	l.pending = append(l.pending, s)
	if l.history {
		start := s.StartTime().UnixNano()
		if len(l.pending) == 1 || start < l.batchNs {
			l.batchNs = start
		}
		if s.EndTime().UnixNano()-l.batchNs >= int64(historyBatch) {
			l.keep(l.ForceFlush(l.ctx))
		}
		return
	}
	if len(l.pending) >= l.batch {
		l.keep(l.ForceFlush(l.ctx))
	}
}

func (l *loader) Shutdown(ctx context.Context) error { return l.ForceFlush(ctx) }

// ForceFlush exports the pending spans through the SDK's OTLP exporter,
// which hands them to UploadTraces as protobuf.
func (l *loader) ForceFlush(ctx context.Context) error {
	if len(l.pending) == 0 {
		return nil
	}
	err := l.exporter.ExportSpans(ctx, l.pending)
	l.pending = l.pending[:0]
	return err
}

func (l *loader) Start(context.Context) error { return nil }
func (l *loader) Stop(context.Context) error  { return nil }

// UploadTraces stores one ExportTraceServiceRequest and feeds it to the
// analyzer, as the collector and the analyzer read it from Kafka.
func (l *loader) UploadTraces(ctx context.Context, rs []*tracepb.ResourceSpans) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := proto.Marshal(&collectortracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return fmt.Errorf("encode spans: %w", err)
	}
	now := time.Now()
	if l.history {
		for _, r := range rs {
			for _, ss := range r.ScopeSpans {
				for _, sp := range ss.Spans {
					l.spanNs = max(l.spanNs, int64(sp.EndTimeUnixNano))
				}
			}
		}
		now = time.Unix(0, l.spanNs)
	}
	if _, err := l.analyzer.ConsumeProtobuf(0, b, now); err != nil {
		return fmt.Errorf("analyze spans: %w", err)
	}
	if l.history {
		l.analyzer.Tick(now)
		if l.drainedNs == 0 {
			l.drainedNs = l.spanNs
		}
		if l.spanNs-l.drainedNs >= int64(historyDrain) {
			l.drainedNs = l.spanNs
			return l.storeRollups()
		}
		return nil
	}
	l.spans.Reset()
	var rejected error
	if _, err := l.spans.AppendTracesProto(b, func(e error) { rejected = cmp.Or(rejected, e) }); err != nil {
		return fmt.Errorf("read spans: %w", err)
	}
	if rejected != nil {
		return fmt.Errorf("read spans: %w", rejected)
	}
	if err := l.st.InsertSpans(ctx, &l.spans, ""); err != nil {
		return fmt.Errorf("store spans: %w", err)
	}
	return nil
}

// Write takes one log line of the shop: written as the shop writes its
// files, parsed and encoded as the agent does.
func (l *loader) Write(r *logfile.Record) error {
	l.logLines.Add(r, time.Now()) // the agent's clock
	if l.logLines.Len() >= l.batch {
		return l.flushLogs()
	}
	return nil
}

func (l *loader) flushLogs() error {
	l.req = l.logLines.AppendRequest(l.req[:0])
	req := l.req
	if len(req) == 0 {
		return nil
	}
	if _, err := l.analyzer.ConsumeLogsProtobuf(0, req, time.Now()); err != nil {
		return fmt.Errorf("analyze logs: %w", err)
	}
	l.logs.Reset()
	var rejected error
	if _, err := l.logs.AppendLogsProto(req, func(e error) { rejected = cmp.Or(rejected, e) }); err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	if rejected != nil {
		return fmt.Errorf("read logs: %w", rejected)
	}
	if err := l.st.InsertLogs(l.ctx, &l.logs, ""); err != nil {
		return fmt.Errorf("store logs: %w", err)
	}
	return nil
}

func (l *loader) keep(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}
