// Package gen runs a synthetic system (loadtest/topology) and emits, for each
// root request, the whole trace through the OpenTelemetry Go SDK, plus JSON
// log lines of every span, and keeps the truth of what it emitted.
//
// Time is synthetic: request i arrives at Start + i/Rate and every span's
// timestamps follow the latency model, so nothing sleeps; with Realtime the
// run is paced so that requests go out when the wall clock reaches their
// arrival time. A Generator runs on one goroutine and, with the same seed,
// start time and topology, emits the same spans, IDs and logs.
//
// Conventions of the spans:
//   - every span carries flowlens.seq, a dense global sequence number;
//   - a synchronous call is a CLIENT span at the caller (peer.service,
//     server.address) and a SERVER span at the callee; a retried attempt
//     carries http.request.resend_count;
//   - a database call is a CLIENT span with db.system, db.name and
//     peer.service and no server side; an external call a CLIENT span with
//     peer.service and server.address only;
//   - a publish is a PRODUCER span (messaging.system,
//     messaging.destination.name); each consumer's CONSUMER span is the
//     producer span's child AND links to it;
//   - the client spans of a call protected by a breaker carry breaker.name
//     and breaker.state (the state as the span ends, consistent in time with
//     the transitions: such spans are ended once no later request can
//     change the breaker's past, i.e. a little after their end), and a span event
//     breaker.state_change (breaker.previous_state, breaker.state,
//     breaker.name) per transition; a call short-circuited by an open
//     breaker is a failed CLIENT span with no server span.
package gen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowlens/flowlens/loadtest/logfile"
	"github.com/flowlens/flowlens/loadtest/topology"
)

// Attribute keys the generator sets beyond the semantic conventions.
const (
	AttrSeq                   = "flowlens.seq"
	AttrRun                   = "flowlens.run"
	AttrBreakerName           = "breaker.name"
	AttrBreakerState          = "breaker.state"
	AttrBreakerPreviousState  = "breaker.previous_state"
	EventBreakerStateChange   = "breaker.state_change"
	AttrResendCount           = "http.request.resend_count"
	instrumentationScope      = "github.com/flowlens/flowlens/loadtest"
	shortCircuitDuration      = 20 * time.Microsecond
	maxSampledLatency         = int64(10 * time.Minute)
	defaultLogsPerSpan        = 1
	realtimeSleepGranularity  = 2 * time.Millisecond
	consumerSpanAttrOperation = "process"
)

// Options of a run.
type Options struct {
	// Rate is root requests per second (required).
	Rate float64
	// Count stops after this many root requests, Duration after this much
	// generator time; whichever comes first. With neither, Run goes on until
	// its context ends.
	Count    uint64
	Duration time.Duration
	// Seed makes runs reproducible (with the same Start).
	Seed uint64
	// Start is the arrival time of the first request (default: now).
	Start time.Time
	// LogsPerSpan is how many log lines each span writes (default 1; -1: none).
	LogsPerSpan int
	// Realtime paces requests to the wall clock instead of running flat out.
	Realtime bool
	// Faults are injected in addition to the topology's own.
	Faults []topology.Fault
	// RunID tells runs apart: the flowlens.run resource attribute of every
	// span and field of every log line (default: the seed in hex).
	RunID string
}

// Stats are running counters, safe to read from any goroutine.
type Stats struct {
	Requests, Spans, Logs uint64
}

// Generator runs a topology. Use it from one goroutine (Stats excepted).
type Generator struct {
	top     *topology.Topology
	opts    Options
	rng     *rand.Rand
	ids     *idGenerator
	logs    LogSink
	startNs int64
	stepNs  float64
	network dist

	services []*service
	entry    []*endpoint
	weights  []float64 // cumulative entry weights
	rootEdge *edgeCount
	edges    map[EdgeKey]*edgeCount
	queues   []*queueCount
	breakers []*breaker
	faults   []*faultState
	// logFaults are the logs_without_trace_id faults by service
	logFaults map[string][]*faultState

	seq, logSeq, requests uint64
	logsByService         map[string]uint64
	lastEndNs             int64
	transitions           []BreakerTransition
	pending               []pendingSpan // protected client spans not ended yet
	attrs                 []attribute.KeyValue
	rec                   logfile.Record
	logErr                error

	stats struct{ requests, spans, logs atomic.Uint64 }
}

// New prepares a run of top. Spans go to sp (one TracerProvider per service
// shares it; the caller flushes and shuts it down); logs go to logs (nil:
// none).
func New(top *topology.Topology, sp sdktrace.SpanProcessor, logs LogSink, opts Options) (*Generator, error) {
	if top == nil || sp == nil {
		return nil, errors.New("gen: topology and span processor are required")
	}
	if !(opts.Rate > 0) || math.IsInf(opts.Rate, 0) {
		return nil, fmt.Errorf("gen: rate must be positive, got %v", opts.Rate)
	}
	if opts.Duration < 0 {
		return nil, fmt.Errorf("gen: duration must not be negative, got %s", opts.Duration)
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now()
	}
	if opts.LogsPerSpan == 0 {
		opts.LogsPerSpan = defaultLogsPerSpan
	}
	if opts.LogsPerSpan < 0 {
		opts.LogsPerSpan = 0
	}
	if logs == nil {
		opts.LogsPerSpan = 0
	}
	if opts.RunID == "" {
		opts.RunID = fmt.Sprintf("%016x", opts.Seed)
	}
	g := &Generator{
		top:     top,
		opts:    opts,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		ids:     newIDGenerator(opts.Seed),
		logs:    logs,
		startNs: opts.Start.UnixNano(),
		stepNs:  1e9 / opts.Rate,
		network: newDist(top.Network),
		edges:   map[EdgeKey]*edgeCount{},
		attrs:   make([]attribute.KeyValue, 0, 16),
	}
	faults := append(append([]topology.Fault(nil), top.Faults...), opts.Faults...)
	for _, f := range faults {
		fs := &faultState{f: f, startNs: g.startNs + int64(f.At), endNs: g.startNs + int64(f.At+f.For)}
		g.faults = append(g.faults, fs)
	}
	if err := g.build(sp); err != nil {
		return nil, err
	}
	return g, nil
}

// Run generates root requests until Count or Duration is reached or ctx ends.
// It returns ctx's error only when stopped by ctx before a bound, and the
// first log write error.
func (g *Generator) Run(ctx context.Context) error {
	wallStart := time.Now()
	lastFlush := wallStart
	fl, _ := g.logs.(flusher)
	if !g.opts.Realtime {
		fl = nil
	}
	var flushedSeq uint64
	flush := func() {
		if fl != nil && g.logSeq != flushedSeq {
			g.flushLogs(fl)
			flushedSeq, lastFlush = g.logSeq, time.Now()
		}
	}
	defer flush()
	defer g.Flush()
	for !g.Done() {
		if g.requests&63 == 0 {
			if ctx.Err() != nil {
				return g.stopped(ctx)
			}
		}
		if g.opts.Realtime {
			due := wallStart.Add(time.Duration(g.NextArrival() - g.startNs))
			if wait := time.Until(due); wait > realtimeSleepGranularity {
				flush() // idle ahead: let the tailer see everything so far
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return g.stopped(ctx)
				case <-t.C:
				}
			} else if time.Since(lastFlush) >= LogFlushInterval {
				flush() // busy: flush on a period
			}
		}
		g.Next()
		if g.logErr != nil {
			return g.logErr
		}
	}
	return g.logErr
}

// stopped is Run's result when ctx ended first: nil for an unbounded run.
func (g *Generator) stopped(ctx context.Context) error {
	if g.logErr != nil {
		return g.logErr
	}
	if g.opts.Count == 0 && g.opts.Duration == 0 {
		return nil
	}
	return ctx.Err()
}

// Done reports whether the Count or Duration bound is reached.
func (g *Generator) Done() bool {
	if g.opts.Count > 0 && g.requests >= g.opts.Count {
		return true
	}
	if g.opts.Duration > 0 && g.NextArrival()-g.startNs >= int64(g.opts.Duration) {
		return true
	}
	return false
}

// NextArrival is the arrival time (Unix ns) of the next root request.
func (g *Generator) NextArrival() int64 {
	return g.startNs + int64(float64(g.requests)*g.stepNs)
}

// Next generates one root request and its whole trace.
func (g *Generator) Next() {
	t := g.NextArrival()
	g.requests++
	ep := g.entry[0]
	if len(g.entry) > 1 {
		x := g.rng.Float64() * g.weights[len(g.weights)-1]
		i := sort.SearchFloat64s(g.weights, x)
		if i >= len(g.entry) {
			i = len(g.entry) - 1
		}
		ep = g.entry[i]
	}
	_, failed := g.serve(context.Background(), ep, t, trace.SpanKindServer, nil)
	g.rootEdge.add(failed, false)
	// later requests only change breakers from their arrival on
	g.endPending(g.NextArrival())
	g.stats.requests.Store(g.requests)
	g.stats.spans.Store(g.seq)
	g.stats.logs.Store(g.logSeq)
}

// Flush ends the spans still held back (see the package comment); Run
// calls it before returning, callers of Next call it when done.
func (g *Generator) Flush() { g.endPending(math.MaxInt64) }

// Stats returns the running counters (updated after each root request).
func (g *Generator) Stats() Stats {
	return Stats{Requests: g.stats.requests.Load(), Spans: g.stats.spans.Load(), Logs: g.stats.logs.Load()}
}
