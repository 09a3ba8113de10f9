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
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
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

// LogSink receives the log records; logfile.Writer is one. A paced run
// also calls Flush, if the sink has it, at least every LogFlushInterval so
// a tailer sees lines soon after their span.
type LogSink interface {
	Write(r *logfile.Record) error
}

type flusher interface{ Flush() error }

// LogFlushInterval is how often a paced run flushes its log sink.
const LogFlushInterval = 100 * time.Millisecond

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

	seq, logSeq, requests uint64
	lastEndNs             int64
	transitions           []BreakerTransition
	pending               []pendingSpan // protected client spans not ended yet
	attrs                 []attribute.KeyValue
	rec                   logfile.Record
	logErr                error

	stats struct{ requests, spans, logs atomic.Uint64 }
}

type service struct {
	name   string
	typ    string
	tracer trace.Tracer
	spans  uint64
	// database / external
	lat     dist
	errRate float64
	// queue
	queue     *queueCount
	delay     dist
	consumers []*endpoint
	drops     []*faultState
	// service
	failures []*faultState // service_error faults
}

type endpoint struct {
	svc        *service
	name       string
	lat        dist
	errRate    float64
	calls      []*call
	attrs      []attribute.KeyValue // static attributes of its server span
	consumer   []attribute.KeyValue // static attributes as a consumer span
	startMsg   string
	okMsg      string
	failMsg    string
	consumeMsg string
}

type call struct {
	from      *service
	to        *service
	ep        *endpoint // target endpoint when to is a service
	spanName  string
	prob      float64
	count     int
	extra     int // count is uniform in [count, count+extra]
	parallel  bool
	retries   int
	backoff   int64
	optional  bool
	breaker   *breaker
	latency   []*faultState
	attrs     []attribute.KeyValue // static attributes of its client/producer span
	edge      *edgeCount           // the edge of a call that goes out
	shortEdge *edgeCount           // the edge of a short-circuited call
	dropEdge  *edgeCount           // publish: the virtual edge of a dropped message
	delivered []*edgeCount         // publish: the edge to each consumer
	startMsg  string
	okMsg     string
	failMsg   string
}

// pendingSpan is a client span of a protected call, held until its
// breaker.state is final.
type pendingSpan struct {
	span  trace.Span
	end   int64
	b     *breaker
	short bool
}

type edgeCount struct {
	key                       EdgeKey
	requests, failed, retries uint64
}

func (e *edgeCount) add(failed, retry bool) {
	e.requests++
	if failed {
		e.failed++
	}
	if retry {
		e.retries++
	}
}

type queueCount struct {
	svc           *service
	sent, dropped uint64
	received      []uint64 // per consumer
}

type faultState struct {
	f              topology.Fault
	startNs, endNs int64
	affected       uint64 // calls, messages or endpoint runs it changed or could change
	target         string
}

func (f *faultState) activeAt(t int64) bool { return t >= f.startNs && t < f.endNs }

// dist is a log-normal latency distribution in nanoseconds.
type dist struct {
	mu, sigma float64
	median    int64
}

func newDist(l topology.Latency) dist {
	d := dist{median: int64(l.Median), sigma: l.Sigma()}
	if l.Median > 0 {
		d.mu = math.Log(float64(l.Median))
	}
	return d
}

func (d dist) sample(r *rand.Rand) int64 {
	if d.sigma == 0 || d.median <= 0 {
		return d.median
	}
	v := math.Exp(d.mu + d.sigma*r.NormFloat64())
	if v > float64(maxSampledLatency) {
		return maxSampledLatency
	}
	return int64(v)
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

func (g *Generator) edge(client, server, conn, dest string) *edgeCount {
	k := EdgeKey{Client: client, Server: server, ConnectionType: conn, Destination: dest}
	e := g.edges[k]
	if e == nil {
		e = &edgeCount{key: k}
		g.edges[k] = e
	}
	return e
}

// build compiles the topology into pointers, attributes and messages.
func (g *Generator) build(sp sdktrace.SpanProcessor) error {
	byName := map[string]*service{}
	eps := map[[2]string]*endpoint{}
	for i := range g.top.Services {
		ts := &g.top.Services[i]
		s := &service{name: ts.Name, typ: ts.Type, lat: newDist(ts.Latency), errRate: ts.ErrorRate}
		byName[s.name] = s
		g.services = append(g.services, s)
		if ts.Type == topology.TypeService {
			res := sdkresource.NewSchemaless(
				attribute.String("service.name", ts.Name),
				attribute.String("service.namespace", g.top.Name),
				attribute.String("service.instance.id", ts.Name+"-0"),
				attribute.String(AttrRun, g.opts.RunID),
				attribute.String("telemetry.sdk.language", "go"),
				attribute.String("telemetry.sdk.name", "opentelemetry"),
			)
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithResource(res),
				sdktrace.WithSpanProcessor(sp),
				sdktrace.WithIDGenerator(g.ids),
				sdktrace.WithSampler(sdktrace.AlwaysSample()),
			)
			s.tracer = tp.Tracer(instrumentationScope)
			for j := range ts.Endpoints {
				te := &ts.Endpoints[j]
				e := &endpoint{svc: s, name: te.Name, lat: newDist(te.Latency), errRate: te.ErrorRate,
					startMsg: "request received: " + te.Name, okMsg: "request handled: " + te.Name,
					failMsg: "request failed: " + te.Name, consumeMsg: "message processed: " + te.Name}
				if method, route, ok := httpParts(te.Name); ok {
					e.attrs = append(e.attrs, attribute.String("http.request.method", method), attribute.String("http.route", route))
				}
				eps[[2]string{s.name, te.Name}] = e
			}
		}
		if ts.Type == topology.TypeQueue {
			s.delay = newDist(ts.Queue.Delay)
			s.queue = &queueCount{svc: s, received: make([]uint64, len(ts.Queue.Consumers))}
			g.queues = append(g.queues, s.queue)
		}
	}
	endpointOf := func(svc, name string) *endpoint {
		if name == "" {
			name = g.top.Service(svc).Endpoints[0].Name
		}
		return eps[[2]string{svc, name}]
	}
	breakers := map[[2]string]*breaker{}
	for i := range g.top.Services {
		ts := &g.top.Services[i]
		s := byName[ts.Name]
		if ts.Type == topology.TypeQueue {
			for _, c := range ts.Queue.Consumers {
				e := endpointOf(c.Service, c.Endpoint)
				s.consumers = append(s.consumers, e)
			}
		}
		for j := range ts.Endpoints {
			te := &ts.Endpoints[j]
			e := endpointOf(ts.Name, te.Name)
			for k := range te.Calls {
				tc := &te.Calls[k]
				to := byName[tc.Service]
				c := &call{from: s, to: to, prob: tc.Prob(), count: tc.Count, parallel: tc.Parallel,
					retries: tc.Retries, backoff: int64(tc.RetryBackoff), optional: tc.Optional}
				if tc.MaxCount > tc.Count {
					c.extra = tc.MaxCount - tc.Count
				}
				g.compileCall(c, tc, endpointOf)
				if tc.Breaker != nil {
					bk := [2]string{s.name, tc.Breaker.Name}
					b := breakers[bk]
					if b == nil {
						b = &breaker{service: s.name, name: tc.Breaker.Name, threshold: tc.Breaker.FailureThreshold,
							openFor: int64(tc.Breaker.OpenFor), state: StateClosed}
						breakers[bk] = b
						g.breakers = append(g.breakers, b)
					}
					c.breaker = b
				}
				e.calls = append(e.calls, c)
			}
		}
	}
	for _, w := range g.top.Entry.Endpoints {
		g.entry = append(g.entry, endpointOf(g.top.Entry.Service, w.Endpoint))
		total := w.Weight
		if n := len(g.weights); n > 0 {
			total += g.weights[n-1]
		}
		g.weights = append(g.weights, total)
	}
	if len(g.entry) == 0 {
		svc := g.top.Service(g.top.Entry.Service)
		for _, te := range svc.Endpoints {
			g.entry = append(g.entry, endpointOf(svc.Name, te.Name))
			g.weights = append(g.weights, float64(len(g.weights)+1))
		}
	}
	g.rootEdge = g.edge(User, g.top.Entry.Service, ConnUnset, "")
	return g.attachFaults(byName)
}

func (g *Generator) compileCall(c *call, tc *topology.Call, endpointOf func(string, string) *endpoint) {
	to := c.to
	ts := g.top.Service(to.name)
	switch to.typ {
	case topology.TypeService:
		c.ep = endpointOf(to.name, tc.Endpoint)
		c.spanName = c.ep.name
		c.attrs = append(c.attrs, attribute.String("peer.service", to.name), attribute.String("server.address", to.name),
			attribute.Int("server.port", 8080))
		if method, route, ok := httpParts(c.ep.name); ok {
			c.attrs = append(c.attrs, attribute.String("http.request.method", method),
				attribute.String("url.full", "http://"+to.name+":8080"+route))
		}
		c.edge = g.edge(c.from.name, to.name, ConnUnset, "")
		c.shortEdge = g.edge(c.from.name, to.name, ConnVirtual, "")
	case topology.TypeDatabase:
		c.spanName = tc.Endpoint
		if c.spanName == "" {
			c.spanName = "query"
		}
		op, _, _ := strings.Cut(c.spanName, " ")
		c.attrs = append(c.attrs, attribute.String("db.system", ts.Database.System), attribute.String("db.name", ts.Database.Name),
			attribute.String("db.operation", op), attribute.String("peer.service", to.name), attribute.String("server.address", to.name))
		c.edge = g.edge(c.from.name, to.name, ConnDatabase, "")
		c.shortEdge = c.edge
	case topology.TypeExternal:
		c.spanName = tc.Endpoint
		if c.spanName == "" {
			c.spanName = "call"
		}
		c.attrs = append(c.attrs, attribute.String("peer.service", to.name), attribute.String("server.address", ts.Address),
			attribute.Int("server.port", 443))
		if method, route, ok := httpParts(c.spanName); ok {
			c.attrs = append(c.attrs, attribute.String("http.request.method", method),
				attribute.String("url.full", "https://"+ts.Address+route))
		}
		c.edge = g.edge(c.from.name, to.name, ConnVirtual, "")
		c.shortEdge = c.edge
	case topology.TypeQueue:
		q := ts.Queue
		c.spanName = "publish " + q.Destination
		c.attrs = append(c.attrs, attribute.String("messaging.system", q.System),
			attribute.String("messaging.destination.name", q.Destination),
			attribute.String("messaging.operation.type", "send"), attribute.String("messaging.operation", "publish"))
		c.dropEdge = g.edge(c.from.name, q.Destination, ConnVirtual, q.Destination)
		for _, cons := range q.Consumers {
			c.delivered = append(c.delivered, g.edge(c.from.name, cons.Service, ConnMessaging, q.Destination))
		}
	}
	c.startMsg = "calling " + to.name + ": " + c.spanName
	c.okMsg = to.name + " answered: " + c.spanName
	c.failMsg = "call to " + to.name + " failed: " + c.spanName
	if to.typ == topology.TypeQueue {
		c.startMsg = "publishing to " + to.name
		c.okMsg = "published to " + to.name
		c.failMsg = "publish to " + to.name + " failed"
	}
}

func (g *Generator) attachFaults(byName map[string]*service) error {
	for _, fs := range g.faults {
		f := &fs.f
		switch f.Kind {
		case topology.FaultQueueDrop:
			fs.target = f.Queue
			byName[f.Queue].drops = append(byName[f.Queue].drops, fs)
		case topology.FaultServiceError:
			fs.target = f.Service
			byName[f.Service].failures = append(byName[f.Service].failures, fs)
		case topology.FaultLatency, topology.FaultBreakerOpen:
			fs.target = f.From + "->" + f.To
			found := false
			for _, s := range g.services {
				if s.name != f.From {
					continue
				}
				for _, e := range g.endpointsOf(s) {
					for _, c := range e.calls {
						if c.to.name != f.To {
							continue
						}
						found = true
						if f.Kind == topology.FaultLatency {
							c.latency = append(c.latency, fs)
						} else if c.breaker != nil && !containsFault(c.breaker.forced, fs) {
							c.breaker.forced = append(c.breaker.forced, fs)
						}
					}
				}
			}
			if !found {
				return fmt.Errorf("gen: fault %s: %s never calls %s", f.Name, f.From, f.To)
			}
		default:
			return fmt.Errorf("gen: fault %s: unknown kind %q", f.Name, f.Kind)
		}
	}
	return nil
}

func containsFault(fs []*faultState, f *faultState) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func (g *Generator) endpointsOf(s *service) []*endpoint {
	var out []*endpoint
	seen := map[*endpoint]bool{}
	for _, e := range g.allEndpoints() {
		if e.svc == s && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// allEndpoints walks everything reachable: entry endpoints, consumers and calls.
func (g *Generator) allEndpoints() []*endpoint {
	var out []*endpoint
	seen := map[*endpoint]bool{}
	var walk func(e *endpoint)
	walk = func(e *endpoint) {
		if e == nil || seen[e] {
			return
		}
		seen[e] = true
		out = append(out, e)
		for _, c := range e.calls {
			walk(c.ep)
			for _, ce := range c.to.consumers {
				walk(ce)
			}
		}
	}
	for _, e := range g.entry {
		walk(e)
	}
	for _, s := range g.services {
		for _, e := range s.consumers {
			walk(e)
		}
	}
	return out
}

// httpParts splits "GET /path" into method and route.
func httpParts(name string) (method, route string, ok bool) {
	method, route, ok = strings.Cut(name, " ")
	if !ok || !strings.HasPrefix(route, "/") {
		return "", "", false
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return method, route, true
	}
	return "", "", false
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

func (g *Generator) flushLogs(fl flusher) {
	if err := fl.Flush(); err != nil && g.logErr == nil {
		g.logErr = fmt.Errorf("flush logs: %w", err)
	}
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

func (g *Generator) nextSeq() int64 {
	g.seq++
	return int64(g.seq)
}

func (g *Generator) errorRate(ep *endpoint, t int64) float64 {
	r := ep.errRate
	for _, f := range ep.svc.failures {
		if f.activeAt(t) {
			f.affected++
			r = f.f.ErrorRate
		}
	}
	return r
}

// serve runs endpoint ep as a SERVER span (or a CONSUMER span with the
// producer's link) starting at t; it returns the end and whether it failed.
func (g *Generator) serve(parent context.Context, ep *endpoint, t int64, kind trace.SpanKind, producer *call) (int64, bool) {
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	var opts [4]trace.SpanStartOption
	o := opts[:0]
	o = append(o, trace.WithTimestamp(time.Unix(0, t)), trace.WithSpanKind(kind))
	if kind == trace.SpanKindConsumer {
		for _, kv := range producer.attrs {
			switch kv.Key {
			case "messaging.system", "messaging.destination.name":
				a = append(a, kv)
			}
		}
		a = append(a, attribute.String("messaging.operation.type", consumerSpanAttrOperation))
		o = append(o, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(parent)}))
	} else {
		a = append(a, ep.attrs...)
	}
	o = append(o, trace.WithAttributes(a...))
	ctx, span := ep.svc.tracer.Start(parent, ep.name, o...)
	ep.svc.spans++

	self := ep.lat.sample(g.rng)
	pre := self * 3 / 10
	cursor := t + pre
	failed := g.rng.Float64() < g.errorRate(ep, t)
	for _, c := range ep.calls {
		if c.prob < 1 && g.rng.Float64() >= c.prob {
			continue
		}
		n := c.count
		if c.extra > 0 {
			n += g.rng.IntN(c.extra + 1)
		}
		latest := cursor
		for range n {
			end, cf := g.call(ctx, c, cursor)
			if cf && !c.optional {
				failed = true
			}
			if c.parallel {
				latest = max(latest, end)
			} else {
				cursor = end
			}
		}
		if c.parallel {
			cursor = latest
		}
	}
	end := cursor + self - pre
	status := int64(200)
	if failed {
		status = 500
		span.SetStatus(codes.Error, "internal error")
	}
	if kind == trace.SpanKindServer && len(ep.attrs) > 0 {
		span.SetAttributes(attribute.Int64("http.response.status_code", status))
	}
	msg := ep.okMsg
	if kind == trace.SpanKindConsumer {
		msg = ep.consumeMsg
	}
	g.spanLogs(ep.svc.name, span.SpanContext(), t, end, failed, ep.startMsg, msg, ep.failMsg)
	span.End(trace.WithTimestamp(time.Unix(0, end)))
	g.noteEnd(end)
	return end, failed
}

func (g *Generator) noteEnd(end int64) {
	if end > g.lastEndNs {
		g.lastEndNs = end
	}
}

// call makes c at t with its retries; it returns when the caller has the
// final answer and whether it failed.
func (g *Generator) call(ctx context.Context, c *call, t int64) (int64, bool) {
	if c.to.typ == topology.TypeQueue {
		return g.publish(ctx, c, t), false
	}
	for attempt := 0; ; attempt++ {
		end, failed, short := g.attempt(ctx, c, t, attempt)
		if !failed || short || attempt >= c.retries {
			return end, failed
		}
		t = end + c.backoff
	}
}

// attempt is one client span of c.
func (g *Generator) attempt(ctx context.Context, c *call, t int64, attempt int) (end int64, failed, short bool) {
	// transitions are local: the server side may make protected calls too
	var trsBuf [4]transition
	trs := trsBuf[:0]
	if c.breaker != nil {
		short, trs = c.breaker.before(t, trs)
	}
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	a = append(a, c.attrs...)
	if attempt > 0 {
		a = append(a, attribute.Int(AttrResendCount, attempt))
	}
	cctx, span := c.from.tracer.Start(ctx, c.spanName, trace.WithTimestamp(time.Unix(0, t)),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(a...))
	c.from.spans++

	status := int64(200)
	switch {
	case short:
		end, failed, status = t+int64(shortCircuitDuration), true, 503
		c.shortEdge.add(true, attempt > 0)
	case c.to.typ == topology.TypeService:
		net := g.network.sample(g.rng)
		delay := net / 2
		for _, f := range c.latency {
			if f.activeAt(t) {
				f.affected++
				delay += int64(f.f.Add)
			}
		}
		sEnd, sFailed := g.serve(cctx, c.ep, t+delay, trace.SpanKindServer, nil)
		end, failed = sEnd+net-net/2, sFailed
		c.edge.add(failed, attempt > 0)
	default: // database, external
		d := c.to.lat.sample(g.rng)
		for _, f := range c.latency {
			if f.activeAt(t) {
				f.affected++
				d += int64(f.f.Add)
			}
		}
		end, failed = t+d, g.rng.Float64() < c.to.errRate
		c.edge.add(failed, attempt > 0)
	}
	if failed && !short {
		status = 500
	}
	if c.breaker != nil {
		if !short {
			trs = c.breaker.after(end, failed, trs)
		}
		c.breaker.record(trs)
		for _, tr := range trs {
			span.AddEvent(EventBreakerStateChange, trace.WithTimestamp(time.Unix(0, tr.at)), trace.WithAttributes(
				attribute.String(AttrBreakerName, c.breaker.name),
				attribute.String(AttrBreakerPreviousState, tr.from),
				attribute.String(AttrBreakerState, tr.to)))
		}
	}
	if c.to.typ != topology.TypeDatabase {
		span.SetAttributes(attribute.Int64("http.response.status_code", status))
	}
	if failed {
		if short {
			span.SetStatus(codes.Error, "circuit breaker open")
		} else {
			span.SetStatus(codes.Error, c.to.name+" failed")
		}
	}
	sc := span.SpanContext()
	g.spanLogs(c.from.name, sc, t, end, failed, c.startMsg, c.okMsg, c.failMsg)
	for _, tr := range trs {
		g.breakerLog(c.from.name, c.breaker.name, sc, tr)
	}
	g.noteEnd(end)
	if c.breaker != nil {
		g.pending = append(g.pending, pendingSpan{span: span, end: end, b: c.breaker, short: short})
	} else {
		span.End(trace.WithTimestamp(time.Unix(0, end)))
	}
	return end, failed, short
}

// publish emits c's producer span at t and, unless the message is dropped,
// each consumer's processing; it returns the end of the producer span.
func (g *Generator) publish(ctx context.Context, c *call, t int64) int64 {
	q := c.to
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	a = append(a, c.attrs...)
	pctx, span := c.from.tracer.Start(ctx, c.spanName, trace.WithTimestamp(time.Unix(0, t)),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(a...))
	c.from.spans++
	end := t + g.network.sample(g.rng)/2
	q.queue.sent++
	dropped := false
	for _, f := range q.drops {
		if f.activeAt(t) && g.rng.Float64() < f.f.Ratio {
			f.affected++
			dropped = true
		}
	}
	g.spanLogs(c.from.name, span.SpanContext(), t, end, false, c.startMsg, c.okMsg, c.failMsg)
	span.End(trace.WithTimestamp(time.Unix(0, end)))
	g.noteEnd(end)
	if dropped {
		q.queue.dropped++
		c.dropEdge.add(false, false)
		return end
	}
	for i, ce := range q.consumers {
		at := t + q.delay.sample(g.rng)
		_, failed := g.serve(pctx, ce, at, trace.SpanKindConsumer, c)
		q.queue.received[i]++
		c.delivered[i].add(failed, false)
	}
	return end
}

// spanLogs writes the log lines of one span, spread over its duration.
func (g *Generator) spanLogs(svc string, sc trace.SpanContext, start, end int64, failed bool, startMsg, okMsg, failMsg string) {
	n := g.opts.LogsPerSpan
	if n == 0 {
		return
	}
	r := &g.rec
	r.Service, r.TraceID, r.SpanID = svc, sc.TraceID(), sc.SpanID()
	r.Attrs = append(r.Attrs[:0], logfile.Attr{Key: AttrRun, Value: g.opts.RunID})
	for i := range n {
		ts := end
		if n > 1 {
			ts = start + (end-start)*int64(i)/int64(n-1)
		}
		r.Time = time.Unix(0, ts)
		switch {
		case i == n-1 && failed:
			r.Level, r.Msg = "error", failMsg
		case i == n-1:
			r.Level, r.Msg = "info", okMsg
		case i == 0:
			r.Level, r.Msg = "info", startMsg
		default:
			r.Level, r.Msg = "debug", "working: "+startMsg
		}
		g.writeLog()
	}
}

func (g *Generator) breakerLog(svc, name string, sc trace.SpanContext, tr transition) {
	tid, sid := sc.TraceID(), sc.SpanID()
	g.transitions = append(g.transitions, BreakerTransition{Time: time.Unix(0, tr.at).UTC(), Service: svc, Name: name,
		From: tr.from, To: tr.to, TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:])})
	if g.logs == nil {
		return
	}
	r := &g.rec
	r.Service, r.TraceID, r.SpanID = svc, tid, sid
	r.Time = time.Unix(0, tr.at)
	r.Level, r.Msg = "warn", "circuit breaker "+name+" "+tr.from+" -> "+tr.to
	r.Attrs = append(r.Attrs[:0], logfile.Attr{Key: AttrRun, Value: g.opts.RunID}, logfile.Attr{Key: AttrBreakerName, Value: name},
		logfile.Attr{Key: AttrBreakerState, Value: tr.to}, logfile.Attr{Key: AttrBreakerPreviousState, Value: tr.from})
	g.writeLog()
}

func (g *Generator) writeLog() {
	g.logSeq++
	g.rec.Seq = g.logSeq
	if err := g.logs.Write(&g.rec); err != nil && g.logErr == nil {
		g.logErr = fmt.Errorf("write log: %w", err)
	}
}

// endPending ends the held spans that end before t, with the state their
// breaker had then; t = MaxInt64 ends them all.
func (g *Generator) endPending(t int64) {
	if len(g.pending) == 0 {
		return
	}
	kept := g.pending[:0]
	for _, p := range g.pending {
		if p.end >= t {
			kept = append(kept, p)
			continue
		}
		state := StateOpen // a short-circuited call saw it open
		if !p.short {
			state = p.b.stateAt(p.end)
		}
		p.span.SetAttributes(attribute.String(AttrBreakerName, p.b.name), attribute.String(AttrBreakerState, state))
		p.span.End(trace.WithTimestamp(time.Unix(0, p.end)))
	}
	clear(g.pending[len(kept):])
	g.pending = kept
	if t != math.MaxInt64 {
		for _, b := range g.breakers {
			if len(b.history) > 32 {
				b.trimBefore(t) // every span still held ends at t or later
			}
		}
	}
}

// Flush ends the spans still held back (see the package comment); Run
// calls it before returning, callers of Next call it when done.
func (g *Generator) Flush() { g.endPending(math.MaxInt64) }

// Stats returns the running counters (updated after each root request).
func (g *Generator) Stats() Stats {
	return Stats{Requests: g.stats.requests.Load(), Spans: g.stats.spans.Load(), Logs: g.stats.logs.Load()}
}

// Truth returns what was emitted so far. Call it from the generating
// goroutine (or after Run).
func (g *Generator) Truth() *Truth {
	g.Flush()
	t := &Truth{
		Topology:       g.top.Name,
		Seed:           g.opts.Seed,
		RunID:          g.opts.RunID,
		Start:          time.Unix(0, g.startNs).UTC(),
		End:            time.Unix(0, max(g.lastEndNs, g.startNs)).UTC(),
		Requests:       g.requests,
		Spans:          g.seq,
		Logs:           g.logSeq,
		SpansByService: map[string]uint64{},
		Breakers:       append([]BreakerTransition{}, g.transitions...),
		Expected:       Expected(g.top),
	}
	for _, s := range g.services {
		if s.spans > 0 {
			t.SpansByService[s.name] = s.spans
		}
	}
	for _, e := range g.edges {
		if e.requests > 0 {
			t.Edges = append(t.Edges, EdgeTruth{EdgeKey: e.key, Requests: e.requests, Failed: e.failed, Retries: e.retries})
		}
	}
	sortEdges(t.Edges)
	sort.SliceStable(t.Breakers, func(i, j int) bool { return t.Breakers[i].Time.Before(t.Breakers[j].Time) })
	for _, q := range g.queues {
		qt := QueueTruth{Queue: q.svc.name, Sent: q.sent, Dropped: q.dropped, Received: map[string]uint64{}}
		ts := g.top.Service(q.svc.name)
		qt.System, qt.Destination = ts.Queue.System, ts.Queue.Destination
		for i, ce := range q.svc.consumers {
			qt.Received[ce.svc.name] += q.received[i]
		}
		t.Queues = append(t.Queues, qt)
	}
	runEnd := g.NextArrival()
	for _, fs := range g.faults {
		ft := FaultTruth{Name: fs.f.Name, Kind: fs.f.Kind, Target: fs.target, Affected: fs.affected,
			Start: time.Unix(0, fs.startNs).UTC(), End: time.Unix(0, min(fs.endNs, max(runEnd, fs.startNs))).UTC(),
			Active: fs.startNs < runEnd}
		switch fs.f.Kind {
		case topology.FaultQueueDrop:
			ft.Ratio = fs.f.Ratio
		case topology.FaultServiceError:
			ft.ErrorRate = fs.f.ErrorRate
		case topology.FaultLatency:
			ft.Add = fs.f.Add
		}
		t.Faults = append(t.Faults, ft)
	}
	return t
}
