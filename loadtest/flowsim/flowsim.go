// Package flowsim plays a synthetic system (loadtest/gen) into a flow
// analyzer on simulated time, with the analyzer's metrics in a registry as
// `flowlens up` exposes them to its rules evaluator: spans go through the
// OpenTelemetry SDK's own OTLP conversion into the analyzer's protobuf
// input, log lines (optionally) the way the agent forwards them. Tests
// that evaluate rules over a system whose truth is known scrape the
// registry into a rules/ruletest Simulation step by step.
package flowsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/metrics"
	"github.com/flowlens/flowlens/loadtest/agentlogs"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/logfile"
	"github.com/flowlens/flowlens/loadtest/topology"
)

// Options of a System.
type Options struct {
	Topology *topology.Topology // required
	Rate     float64            // root requests per second (required)
	Seed     uint64
	// Start is time zero: the analyzer starts then (its counters are 0),
	// and the first request arrives a second later (a span starting at
	// the Unix epoch would read as one without a start time).
	Start time.Time
	// Logs has every span write a log line, which the analyzer reads as
	// the agent forwards it (the logging policy's counters need them).
	Logs bool
	// Instance labels the analyzer's series (default "sim").
	Instance string
}

// System is a synthetic system feeding a flow analyzer. Not safe for
// concurrent use.
type System struct {
	gen      *gen.Generator
	ended    []sdktrace.ReadOnlySpan
	export   *otlptrace.Exporter
	analyzer *flowgraph.Analyzer
	logs     *agentlogs.Batcher
	req      []byte
	reg      *prometheus.Registry
	start    time.Time
	now      time.Time
}

// New builds the system; nothing runs before RunUntil.
func New(opts Options) (*System, error) {
	if opts.Topology == nil {
		return nil, errors.New("flowsim: no topology")
	}
	if opts.Instance == "" {
		opts.Instance = "sim"
	}
	var cfg flowgraph.Config
	cfg.SetDefaults()
	cfg.Shards = 1
	s := &System{analyzer: flowgraph.NewAnalyzer(cfg), reg: prometheus.NewRegistry(), start: opts.Start, now: opts.Start}
	// the counters' created timestamps on the simulated clock, as the
	// evaluator of `flowlens up` reads them on the real one
	if err := s.reg.Register(metrics.New(simulatedStart{s.analyzer, opts.Start}, metrics.Options{Instance: opts.Instance, Now: func() time.Time { return s.now }})); err != nil {
		return nil, err
	}
	s.export = otlptrace.NewUnstarted(analyzerClient{s})
	var sink gen.LogSink
	logsPerSpan := -1
	if opts.Logs {
		var err error
		if s.logs, err = agentlogs.New("flowsim"); err != nil {
			return nil, err
		}
		sink, logsPerSpan = logSink{s}, 1
	}
	var err error
	s.gen, err = gen.New(opts.Topology, endedSpans{s}, sink, gen.Options{Rate: opts.Rate, Seed: opts.Seed,
		Start: opts.Start.Add(time.Second), LogsPerSpan: logsPerSpan})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Registry holds the analyzer's metrics.
func (s *System) Registry() *prometheus.Registry { return s.reg }

// Analyzer is the flow analyzer the system feeds.
func (s *System) Analyzer() *flowgraph.Analyzer { return s.analyzer }

// Truth is what the system emitted so far.
func (s *System) Truth() *gen.Truth { return s.gen.Truth() }

// RunUntil plays the requests arriving before at and hands their spans and
// log lines to the analyzer, processed at at; the analyzer's waits and
// breaker reordering run on this clock.
func (s *System) RunUntil(ctx context.Context, at time.Time) error {
	for s.gen.NextArrival() < at.UnixNano() {
		s.gen.Next()
	}
	s.now = at
	if err := s.export.ExportSpans(ctx, s.ended); err != nil {
		return err
	}
	clear(s.ended)
	s.ended = s.ended[:0]
	if s.logs != nil && s.logs.Len() > 0 {
		s.req = s.logs.AppendRequest(s.req[:0])
		if _, err := s.analyzer.ConsumeLogsProtobuf(0, s.req, at); err != nil {
			return fmt.Errorf("analyzer refused logs: %w", err)
		}
	}
	s.analyzer.Tick(at)
	return nil
}

// simulatedStart is the analyzer started at the simulation's time zero.
type simulatedStart struct {
	*flowgraph.Analyzer
	start time.Time
}

func (a simulatedStart) Started() time.Time { return a.start }

// endedSpans collects the spans the generator ends, for export in batches.
type endedSpans struct{ s *System }

func (e endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endedSpans) OnEnd(sp sdktrace.ReadOnlySpan)                  { e.s.ended = append(e.s.ended, sp) }
func (e endedSpans) Shutdown(context.Context) error                  { return nil }
func (e endedSpans) ForceFlush(context.Context) error                { return nil }

// logSink reads each log line as the agent would.
type logSink struct{ s *System }

func (l logSink) Write(r *logfile.Record) error {
	l.s.logs.Add(r, l.s.now)
	return nil
}

// analyzerClient is an OTLP client whose collector is the analyzer,
// processing at the system's clock.
type analyzerClient struct{ s *System }

func (analyzerClient) Start(context.Context) error { return nil }
func (analyzerClient) Stop(context.Context) error  { return nil }
func (a analyzerClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return fmt.Errorf("encode spans: %w", err)
	}
	if _, err := a.s.analyzer.ConsumeProtobuf(0, b, a.s.now); err != nil {
		return fmt.Errorf("analyzer refused spans: %w", err)
	}
	return nil
}
