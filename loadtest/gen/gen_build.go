package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/topology"
)

type service struct {
	name   string
	typ    string
	tracer trace.Tracer // of the instance serving now
	// tracers are the instances' (service.instance.id <name>-i), which
	// serve requests in turn
	tracers []trace.Tracer
	turn    int
	spans   uint64
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
			for i := range max(ts.Instances, 1) {
				attrs := []attribute.KeyValue{
					attribute.String("service.name", ts.Name),
					attribute.String("service.namespace", g.top.Name),
					attribute.String("service.instance.id", fmt.Sprintf("%s-%d", ts.Name, i)),
					attribute.String(AttrRun, g.opts.RunID),
					attribute.String("telemetry.sdk.language", "go"),
					attribute.String("telemetry.sdk.name", "opentelemetry"),
				}
				if ts.Version != "" {
					attrs = append(attrs, attribute.String("service.version", ts.Version))
				}
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithResource(sdkresource.NewSchemaless(attrs...)),
					sdktrace.WithSpanProcessor(sp),
					sdktrace.WithIDGenerator(g.ids),
					sdktrace.WithSampler(sdktrace.AlwaysSample()),
				)
				s.tracers = append(s.tracers, tp.Tracer(instrumentationScope))
			}
			s.tracer = s.tracers[0]
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
	g.rootEdge = g.edge(User, g.top.Entry.Service, flowmodel.ConnectionUnset, "")
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
		c.edge = g.edge(c.from.name, to.name, flowmodel.ConnectionUnset, "")
		c.shortEdge = g.edge(c.from.name, to.name, flowmodel.ConnectionVirtual, "")
	case topology.TypeDatabase:
		c.spanName = tc.Endpoint
		if c.spanName == "" {
			c.spanName = "query"
		}
		op, _, _ := strings.Cut(c.spanName, " ")
		c.attrs = append(c.attrs, attribute.String("db.system", ts.Database.System), attribute.String("db.name", ts.Database.Name),
			attribute.String("db.operation", op), attribute.String("peer.service", to.name), attribute.String("server.address", to.name))
		c.edge = g.edge(c.from.name, to.name, flowmodel.ConnectionDatabase, "")
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
		c.edge = g.edge(c.from.name, to.name, flowmodel.ConnectionVirtual, "")
		c.shortEdge = c.edge
	case topology.TypeQueue:
		q := ts.Queue
		c.spanName = "publish " + q.Destination
		c.attrs = append(c.attrs, attribute.String("messaging.system", q.System),
			attribute.String("messaging.destination.name", q.Destination),
			attribute.String("messaging.operation.type", "send"), attribute.String("messaging.operation", "publish"))
		c.dropEdge = g.edge(c.from.name, q.Destination, flowmodel.ConnectionVirtual, q.Destination)
		for _, cons := range q.Consumers {
			c.delivered = append(c.delivered, g.edge(c.from.name, cons.Service, flowmodel.ConnectionMessaging, q.Destination))
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
		case topology.FaultLogsWithoutTraceID:
			fs.target = f.Service
			if g.logFaults == nil {
				g.logFaults = map[string][]*faultState{}
			}
			g.logFaults[f.Service] = append(g.logFaults[f.Service], fs)
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
