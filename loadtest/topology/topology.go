// Package topology describes a synthetic system of services for the load
// generator: services with endpoints and latency models, the synchronous calls
// between them (fan-out, probabilities, retries, circuit breakers), queues
// with their consumers, databases and uninstrumented downstreams, and a
// schedule of faults to inject.
//
// A topology is a YAML file loaded with Load (or Default for the shop that
// ships with flowlens); Validate names the bad field by its YAML path, e.g.
// `services[3].endpoints[0].calls[1].service: unknown service "paymnts"`.
package topology

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

// Service types.
const (
	TypeService  = "service"  // instrumented: server spans, logs, its own calls
	TypeDatabase = "database" // client spans only, with db.system / db.name
	TypeExternal = "external" // uninstrumented downstream: client spans with peer.service / server.address
	TypeQueue    = "queue"    // producer spans at the sender, consumer spans at each consumer
)

// Topology is a whole synthetic system.
type Topology struct {
	// Name labels the system (service.namespace of every span).
	Name string `yaml:"name"`
	// Entry is where root requests arrive.
	Entry Entry `yaml:"entry"`
	// Network is the round-trip time added to every synchronous call between
	// two services (default median 300us, p99 2ms).
	Network Latency `yaml:"network"`
	// Services lists every node of the system.
	Services []Service `yaml:"services"`
	// Faults is an optional schedule of injected faults.
	Faults []Fault `yaml:"faults"`
}

// Entry names the service receiving root requests and how they spread over
// its endpoints.
type Entry struct {
	Service   string        `yaml:"service"`
	Endpoints []EntryWeight `yaml:"endpoints"`
}

// EntryWeight is one entry endpoint with its share of root requests.
type EntryWeight struct {
	Endpoint string  `yaml:"endpoint"`
	Weight   float64 `yaml:"weight"` // relative; default 1
}

// Latency is a log-normal distribution given by its median and 99th
// percentile; p99 equal to the median makes it constant.
type Latency struct {
	Median time.Duration `yaml:"median"`
	P99    time.Duration `yaml:"p99"`
}

// IsZero reports whether l was left unset.
func (l Latency) IsZero() bool { return l.Median == 0 && l.P99 == 0 }

// Sigma is the log-normal shape parameter: (ln p99 - ln median) / z(0.99).
func (l Latency) Sigma() float64 {
	if l.Median <= 0 || l.P99 <= l.Median {
		return 0
	}
	return (math.Log(float64(l.P99)) - math.Log(float64(l.Median))) / 2.3263478740408408
}

func (l Latency) validate() error {
	var errs []error
	if l.Median < 0 {
		errs = append(errs, config.Errorf("median", "must not be negative, got %s", l.Median))
	}
	if l.P99 < 0 {
		errs = append(errs, config.Errorf("p99", "must not be negative, got %s", l.P99))
	} else if l.P99 < l.Median {
		errs = append(errs, config.Errorf("p99", "must be at least the median (%s), got %s", l.Median, l.P99))
	}
	return errors.Join(errs...)
}

// Service is one node: an instrumented service, a database, an external
// (uninstrumented) downstream or a queue.
type Service struct {
	Name string `yaml:"name"`
	// Type is service (default), database, external or queue.
	Type string `yaml:"type"`
	// Endpoints of an instrumented service.
	Endpoints []Endpoint `yaml:"endpoints"`
	// Latency and ErrorRate of a database or external downstream (the
	// duration of the client span; failures are client span errors).
	Latency   Latency `yaml:"latency"`
	ErrorRate float64 `yaml:"error_rate"`
	// Database attributes (type database).
	Database *Database `yaml:"database"`
	// Address is the server.address of an external downstream (default: its name).
	Address string `yaml:"address"`
	// Queue settings and consumers (type queue).
	Queue *Queue `yaml:"queue"`
	// Version is the service.version of an instrumented service's spans
	// (default: none).
	Version string `yaml:"version"`
	// Instances is how many instances of an instrumented service serve
	// requests, in turn: service.instance.id <name>-0 .. <name>-(n-1)
	// (default 1).
	Instances int `yaml:"instances"`
}

// Database names the database system of a database node.
type Database struct {
	System string `yaml:"system"` // db.system, e.g. postgresql, redis
	Name   string `yaml:"name"`   // db.name (default: the service name)
}

// Queue is a message queue between services. Every message published is
// delivered once to each consumer (one consumer group per consumer).
type Queue struct {
	System      string     `yaml:"system"`      // messaging.system (default kafka)
	Destination string     `yaml:"destination"` // messaging.destination.name (default: the service name)
	Delay       Latency    `yaml:"delay"`       // publish-to-consume delay (default median 5ms, p99 50ms)
	Consumers   []Consumer `yaml:"consumers"`
}

// Consumer is a service endpoint that processes every message of a queue.
type Consumer struct {
	Service  string `yaml:"service"`
	Endpoint string `yaml:"endpoint"`
}

// Endpoint is an operation of an instrumented service.
type Endpoint struct {
	Name string `yaml:"name"`
	// Latency is the endpoint's own processing time, spread before and after
	// its calls (default median 1ms, p99 10ms).
	Latency Latency `yaml:"latency"`
	// ErrorRate is the probability that the endpoint fails by itself.
	ErrorRate float64 `yaml:"error_rate"`
	Calls     []Call  `yaml:"calls"`
}

// Call is one call an endpoint makes, to a service endpoint, a database, an
// external downstream, or a queue (a publish).
type Call struct {
	Service string `yaml:"service"`
	// Endpoint of the called service (default its first), or the operation
	// name of a database or external call (default "query" / "call").
	Endpoint string `yaml:"endpoint"`
	// Probability that the call happens at all (default 1).
	Probability *float64 `yaml:"probability"`
	// Count is how many times it is made (fan-out, default 1); with MaxCount
	// greater than Count, a uniform count in [Count, MaxCount].
	Count    int `yaml:"count"`
	MaxCount int `yaml:"max_count"`
	// Parallel makes the fan-out calls concurrent rather than sequential.
	Parallel bool `yaml:"parallel"`
	// Retries is how many times a failed call is retried (each retry's client
	// span carries http.request.resend_count); RetryBackoff waits between.
	Retries      int           `yaml:"retries"`
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// Optional: a failed call does not fail the caller.
	Optional bool `yaml:"optional"`
	// Breaker protects the call with a circuit breaker.
	Breaker *Breaker `yaml:"breaker"`
}

// Prob is the call's probability with its default applied.
func (c *Call) Prob() float64 {
	if c.Probability == nil {
		return 1
	}
	return *c.Probability
}

// Breaker is a consecutive-failures circuit breaker on a call.
type Breaker struct {
	// Name is the breaker.name attribute (default: the called service).
	Name string `yaml:"name"`
	// FailureThreshold consecutive failures open it (default 5).
	FailureThreshold int `yaml:"failure_threshold"`
	// OpenFor is how long it stays open before a half-open probe (default 5s).
	OpenFor time.Duration `yaml:"open_for"`
}

// Load reads a topology file: defaults, strict YAML, validation.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes and validates a topology from YAML.
func Parse(data []byte) (*Topology, error) {
	t := &Topology{}
	t.SetDefaults()
	if err := config.Decode(data, t); err != nil {
		return nil, err
	}
	t.SetDefaults() // fill what the file's lists left unset
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

//go:embed shop.yaml
var shopYAML []byte

// ShopYAML is the default topology's source (an online shop of about 15 services).
func ShopYAML() []byte { return shopYAML }

// Default returns the shop topology that ships with flowlens.
func Default() *Topology {
	t, err := Parse(shopYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded shop topology: %v", err)) // covered by tests
	}
	return t
}

// SetDefaults fills unset fields. Lists decoded from YAML get their element
// defaults here too, so it is called again after decoding by Parse and
// Validate does not depend on it for correctness.
func (t *Topology) SetDefaults() {
	if t.Name == "" {
		t.Name = "synthetic"
	}
	if t.Network.IsZero() {
		t.Network = Latency{Median: 300 * time.Microsecond, P99: 2 * time.Millisecond}
	}
	for i := range t.Entry.Endpoints {
		if t.Entry.Endpoints[i].Weight == 0 {
			t.Entry.Endpoints[i].Weight = 1
		}
	}
	for i := range t.Services {
		t.Services[i].setDefaults()
	}
	for i := range t.Faults {
		t.Faults[i].setDefaults()
	}
}

func (s *Service) setDefaults() {
	if s.Type == "" {
		s.Type = TypeService
	}
	if s.Type == TypeService && s.Instances == 0 {
		s.Instances = 1
	}
	switch s.Type {
	case TypeDatabase:
		if s.Database == nil {
			s.Database = &Database{}
		}
		if s.Database.Name == "" {
			s.Database.Name = s.Name
		}
		if s.Latency.IsZero() {
			s.Latency = Latency{Median: time.Millisecond, P99: 10 * time.Millisecond}
		}
	case TypeExternal:
		if s.Address == "" {
			s.Address = s.Name
		}
		if s.Latency.IsZero() {
			s.Latency = Latency{Median: 50 * time.Millisecond, P99: 300 * time.Millisecond}
		}
	case TypeQueue:
		if s.Queue == nil {
			s.Queue = &Queue{}
		}
		if s.Queue.System == "" {
			s.Queue.System = "kafka"
		}
		if s.Queue.Destination == "" {
			s.Queue.Destination = s.Name
		}
		if s.Queue.Delay.IsZero() {
			s.Queue.Delay = Latency{Median: 5 * time.Millisecond, P99: 50 * time.Millisecond}
		}
	}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		if e.Latency.IsZero() {
			e.Latency = Latency{Median: time.Millisecond, P99: 10 * time.Millisecond}
		}
		for j := range e.Calls {
			c := &e.Calls[j]
			if c.Count == 0 {
				c.Count = 1
			}
			if c.Breaker != nil {
				if c.Breaker.FailureThreshold == 0 {
					c.Breaker.FailureThreshold = 5
				}
				if c.Breaker.OpenFor == 0 {
					c.Breaker.OpenFor = 5 * time.Second
				}
				if c.Breaker.Name == "" {
					c.Breaker.Name = c.Service
				}
			}
		}
	}
}

// Service returns the named service, or nil.
func (t *Topology) Service(name string) *Service {
	for i := range t.Services {
		if t.Services[i].Name == name {
			return &t.Services[i]
		}
	}
	return nil
}

// Endpoint returns the named endpoint of s (the first one for ""), or nil.
func (s *Service) Endpoint(name string) *Endpoint {
	if name == "" && len(s.Endpoints) > 0 {
		return &s.Endpoints[0]
	}
	for i := range s.Endpoints {
		if s.Endpoints[i].Name == name {
			return &s.Endpoints[i]
		}
	}
	return nil
}

// Validate checks the whole topology and names every bad field.
func (t *Topology) Validate() error {
	var errs []error
	if len(t.Services) == 0 {
		errs = append(errs, config.Errorf("services", "must list at least one service"))
	}
	errs = append(errs, config.Nest("network", t.Network.validate()))
	seen := make(map[string]int, len(t.Services))
	for i := range t.Services {
		s := &t.Services[i]
		f := fmt.Sprintf("services[%d]", i)
		if s.Name == "" {
			errs = append(errs, config.Errorf(f+".name", "must not be empty"))
		} else if j, dup := seen[s.Name]; dup {
			errs = append(errs, config.Errorf(f+".name", "%q already used by services[%d]", s.Name, j))
		} else {
			seen[s.Name] = i
		}
	}
	for i := range t.Services {
		errs = append(errs, config.Nest(fmt.Sprintf("services[%d]", i), t.validateService(&t.Services[i])))
	}
	errs = append(errs, config.Nest("entry", t.validateEntry()))
	for i := range t.Faults {
		errs = append(errs, config.Nest(fmt.Sprintf("faults[%d]", i), t.Faults[i].validate(t)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := t.checkCycles(); err != nil {
		return err
	}
	return t.checkTraceSize()
}

// MaxSpansPerTrace bounds the worst case of one root request (every call
// made, at its largest fan-out, every retry taken).
const MaxSpansPerTrace = 100000

// WorstCaseSpans is the largest number of spans one request to endpoint ep
// of service svc can make (saturated at MaxSpansPerTrace+1). The topology
// must be valid and free of loops.
func (t *Topology) WorstCaseSpans(svc, ep string) int {
	memo := map[[2]string]int{}
	return t.worstCase(svc, ep, memo)
}

func (t *Topology) worstCase(svc, ep string, memo map[[2]string]int) int {
	const limit = MaxSpansPerTrace + 1
	s := t.Service(svc)
	if s.Type != TypeService {
		return 0
	}
	e := s.Endpoint(ep)
	key := [2]string{svc, e.Name}
	if n, ok := memo[key]; ok {
		return n
	}
	n := 1 // its server or consumer span
	for _, c := range e.Calls {
		if c.Prob() == 0 {
			continue
		}
		per := 1 // the client or producer span
		switch to := t.Service(c.Service); to.Type {
		case TypeService:
			per += t.worstCase(to.Name, c.Endpoint, memo)
		case TypeQueue:
			for _, cons := range to.Queue.Consumers {
				per += t.worstCase(cons.Service, cons.Endpoint, memo)
			}
		}
		count := max(c.Count, c.MaxCount)
		n += min(per*(1+c.Retries), limit) * count
		n = min(n, limit)
	}
	memo[key] = n
	return n
}

func (t *Topology) checkTraceSize() error {
	s := t.Service(t.Entry.Service)
	for i := range s.Endpoints {
		if n := t.WorstCaseSpans(s.Name, s.Endpoints[i].Name); n > MaxSpansPerTrace {
			return config.Errorf("entry", "a request to %s %s can make more than %d spans: lower the fan-out (count, max_count) or retries",
				s.Name, s.Endpoints[i].Name, MaxSpansPerTrace)
		}
	}
	return nil
}

func (t *Topology) validateEntry() error {
	s := t.Service(t.Entry.Service)
	switch {
	case t.Entry.Service == "":
		return config.Errorf("service", "must name the service receiving root requests")
	case s == nil:
		return config.Errorf("service", "unknown service %q", t.Entry.Service)
	case s.Type != TypeService:
		return config.Errorf("service", "%q is a %s, root requests need a service", s.Name, s.Type)
	}
	var errs []error
	for i, w := range t.Entry.Endpoints {
		if s.Endpoint(w.Endpoint) == nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("endpoints[%d].endpoint", i), "service %q has no endpoint %q", s.Name, w.Endpoint))
		}
		if w.Weight <= 0 || math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) {
			errs = append(errs, config.Errorf(fmt.Sprintf("endpoints[%d].weight", i), "must be positive, got %v", w.Weight))
		}
	}
	return errors.Join(errs...)
}

func validRate(r float64) bool { return r >= 0 && r <= 1 } // false for NaN

func (t *Topology) validateService(s *Service) error {
	var errs []error
	switch s.Type {
	case TypeService:
		if len(s.Endpoints) == 0 {
			errs = append(errs, config.Errorf("endpoints", "a service needs at least one endpoint"))
		}
	case TypeDatabase:
		if s.Database == nil || s.Database.System == "" {
			errs = append(errs, config.Errorf("database.system", "must name the database system (db.system), e.g. postgresql"))
		}
	case TypeExternal:
	case TypeQueue:
		if s.Queue == nil || len(s.Queue.Consumers) == 0 {
			errs = append(errs, config.Errorf("queue.consumers", "a queue needs at least one consumer"))
			break
		}
		errs = append(errs, config.Nest("queue.delay", s.Queue.Delay.validate()))
		for i, c := range s.Queue.Consumers {
			errs = append(errs, config.Nest(fmt.Sprintf("queue.consumers[%d]", i), t.validateTarget(c.Service, c.Endpoint, false)))
		}
	default:
		errs = append(errs, config.Errorf("type", "must be service, database, external or queue, got %q", s.Type))
	}
	if s.Type != TypeService && len(s.Endpoints) > 0 {
		errs = append(errs, config.Errorf("endpoints", "only a service has endpoints, this is a %s", s.Type))
	}
	if s.Type != TypeService && (s.Version != "" || s.Instances != 0) {
		errs = append(errs, config.Errorf("version", "only a service has a version and instances, this is a %s", s.Type))
	}
	if s.Type == TypeService && (s.Instances < 1 || s.Instances > 1000) {
		errs = append(errs, config.Errorf("instances", "must be 1..1000, got %d", s.Instances))
	}
	if s.Type == TypeDatabase || s.Type == TypeExternal {
		errs = append(errs, config.Nest("latency", s.Latency.validate()))
		if !validRate(s.ErrorRate) {
			errs = append(errs, config.Errorf("error_rate", "must be in [0,1], got %v", s.ErrorRate))
		}
	}
	names := map[string]bool{}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		f := fmt.Sprintf("endpoints[%d]", i)
		if e.Name == "" {
			errs = append(errs, config.Errorf(f+".name", "must not be empty"))
		} else if names[e.Name] {
			errs = append(errs, config.Errorf(f+".name", "%q is used twice", e.Name))
		}
		names[e.Name] = true
		errs = append(errs, config.Nest(f+".latency", e.Latency.validate()))
		if !validRate(e.ErrorRate) {
			errs = append(errs, config.Errorf(f+".error_rate", "must be in [0,1], got %v", e.ErrorRate))
		}
		for j := range e.Calls {
			errs = append(errs, config.Nest(fmt.Sprintf("%s.calls[%d]", f, j), t.validateCall(&e.Calls[j])))
		}
	}
	return errors.Join(errs...)
}

// validateTarget checks that service (and, for an instrumented service,
// endpoint) exist; anyType allows databases, externals and queues.
func (t *Topology) validateTarget(service, endpoint string, anyType bool) error {
	if service == "" {
		return config.Errorf("service", "must name a service")
	}
	s := t.Service(service)
	if s == nil {
		return config.Errorf("service", "unknown service %q", service)
	}
	if !anyType && s.Type != TypeService {
		return config.Errorf("service", "%q is a %s, a consumer must be a service", service, s.Type)
	}
	if s.Type == TypeService && s.Endpoint(endpoint) == nil {
		return config.Errorf("endpoint", "service %q has no endpoint %q", service, endpoint)
	}
	if s.Type == TypeQueue && endpoint != "" {
		return config.Errorf("endpoint", "a queue has no endpoints")
	}
	return nil
}

func (t *Topology) validateCall(c *Call) error {
	errs := []error{t.validateTarget(c.Service, c.Endpoint, true)}
	if p := c.Prob(); !validRate(p) {
		errs = append(errs, config.Errorf("probability", "must be in [0,1], got %v", p))
	}
	if c.Count < 1 {
		errs = append(errs, config.Errorf("count", "must be at least 1, got %d", c.Count))
	}
	if c.MaxCount != 0 && c.MaxCount < c.Count {
		errs = append(errs, config.Errorf("max_count", "must be at least count (%d), got %d", c.Count, c.MaxCount))
	}
	if c.Count > 1000 || c.MaxCount > 1000 {
		errs = append(errs, config.Errorf("count", "fan-out above 1000 is not supported"))
	}
	if c.Retries < 0 || c.Retries > 100 {
		errs = append(errs, config.Errorf("retries", "must be 0..100, got %d", c.Retries))
	}
	if c.RetryBackoff < 0 {
		errs = append(errs, config.Errorf("retry_backoff", "must not be negative, got %s", c.RetryBackoff))
	}
	if s := t.Service(c.Service); s != nil && s.Type == TypeQueue {
		if c.Retries > 0 || c.Breaker != nil {
			errs = append(errs, config.Errorf("retries", "a publish to a queue has no retries or breaker"))
		}
	}
	if b := c.Breaker; b != nil {
		if b.FailureThreshold < 1 {
			errs = append(errs, config.Errorf("breaker.failure_threshold", "must be at least 1, got %d", b.FailureThreshold))
		}
		if b.OpenFor <= 0 {
			errs = append(errs, config.Errorf("breaker.open_for", "must be positive, got %s", b.OpenFor))
		}
	}
	return errors.Join(errs...)
}

// checkCycles rejects call loops (they would generate endless traces).
func (t *Topology) checkCycles() error {
	type node struct{ svc, ep string }
	const (
		visiting = 1
		done     = 2
	)
	state := map[node]int{}
	var visit func(n node, path string) error
	visit = func(n node, path string) error {
		switch state[n] {
		case visiting:
			return config.Errorf("services", "call loop: %s", path)
		case done:
			return nil
		}
		state[n] = visiting
		s := t.Service(n.svc)
		var next []node
		switch s.Type {
		case TypeService:
			for _, c := range s.Endpoint(n.ep).Calls {
				next = append(next, node{c.Service, c.Endpoint})
			}
		case TypeQueue:
			for _, c := range s.Queue.Consumers {
				next = append(next, node{c.Service, c.Endpoint})
			}
		}
		for _, m := range next {
			if m.ep == "" {
				if ms := t.Service(m.svc); ms.Type == TypeService {
					m.ep = ms.Endpoints[0].Name
				}
			}
			if err := visit(m, path+" -> "+m.svc+" "+m.ep); err != nil {
				return err
			}
		}
		state[n] = done
		return nil
	}
	for i := range t.Services {
		s := &t.Services[i]
		for _, e := range s.Endpoints {
			if err := visit(node{s.Name, e.Name}, s.Name+" "+e.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
