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

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/rollup"
	"github.com/flowlens/flowlens/loadtest"
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
}

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
	l := &loader{ctx: ctx, st: st, analyzer: flowgraph.NewAnalyzer(cfg), batch: opts.BatchSpans}
	pcfg := parse.Config{Format: parse.FormatJSON}
	pcfg.SetDefaults()
	if l.parser, err = parse.New(pcfg); err != nil {
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
	rows := rollup.Rows(l.analyzer.DrainRollups())
	if err := st.InsertEdgeRollups(ctx, rows, ""); err != nil {
		return nil, fmt.Errorf("store rollups: %w", err)
	}
	return &Result{Truth: g.Truth(), Analyzer: l.analyzer}, nil
}

// loader is the generator's span processor and log sink. The generator
// calls it from one goroutine; the exporter may call UploadTraces from
// ForceFlush only, so the lock is for the exporter's contract.
type loader struct {
	ctx      context.Context
	st       *storage.Store
	analyzer *flowgraph.Analyzer
	exporter *otlptrace.Exporter
	parser   *parse.Parser
	batch    int

	mu      sync.Mutex
	pending []sdktrace.ReadOnlySpan
	spans   storage.SpanRows
	logs    storage.LogRows
	line    []byte
	rec     logrec.Record
	batches map[string]*logrec.Batch
	nLogs   int
	err     error
}

func (l *loader) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (l *loader) OnEnd(s sdktrace.ReadOnlySpan) {
	l.pending = append(l.pending, s)
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
	if _, err := l.analyzer.ConsumeProtobuf(0, b, time.Now()); err != nil {
		return fmt.Errorf("analyze spans: %w", err)
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
	l.line = logfile.AppendJSON(l.line[:0], r)
	l.rec.Reset()
	l.parser.Parse(l.line, &l.rec)
	l.rec.ObservedUnixNano = uint64(time.Now().UnixNano()) // the agent's clock
	if l.batches == nil {
		l.batches = map[string]*logrec.Batch{}
	}
	b := l.batches[r.Service]
	if b == nil {
		b = logrec.NewBatch([]logrec.Attr{{Key: "host.name", Value: "storeload"}}, r.Service,
			[]logrec.Attr{{Key: "log.file.name", Value: r.Service + ".log"}}, "")
		l.batches[r.Service] = b
	}
	b.Add(&l.rec)
	if l.nLogs++; l.nLogs >= l.batch {
		return l.flushLogs()
	}
	return nil
}

func (l *loader) flushLogs() error {
	l.nLogs = 0
	var req []byte
	for _, b := range l.batches {
		req = b.AppendRequest(req)
	}
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
