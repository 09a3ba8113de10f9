package topology

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

// Fault kinds.
const (
	// FaultQueueDrop drops Ratio of the messages published to Queue: the
	// producer span exists, no consumer span does.
	FaultQueueDrop = "queue_drop"
	// FaultLatency adds Add to every call From -> To, between the client
	// span's start and the server span's start (the client sees it, the
	// server does not).
	FaultLatency = "latency"
	// FaultBreakerOpen holds the breaker of the calls From -> To open.
	FaultBreakerOpen = "breaker_open"
	// FaultServiceError makes every endpoint of Service fail with ErrorRate.
	FaultServiceError = "service_error"
	// FaultLogsWithoutTraceID makes Ratio of the log lines Service writes
	// carry no trace and span ID: a service that does not follow the
	// logging policy (`flowlens conformance`).
	FaultLogsWithoutTraceID = "logs_without_trace_id"
)

// Fault is one injected fault, active from At to At+For after the start of
// the run (in the generator's time).
type Fault struct {
	Name string        `yaml:"name"` // default kind-index
	Kind string        `yaml:"kind"`
	At   time.Duration `yaml:"at"`
	For  time.Duration `yaml:"for"`

	Queue string  `yaml:"queue"` // queue_drop
	Ratio float64 `yaml:"ratio"` // queue_drop: fraction of messages dropped; logs_without_trace_id: of lines

	From string        `yaml:"from"` // latency, breaker_open: the calling service
	To   string        `yaml:"to"`   // latency, breaker_open: the called service
	Add  time.Duration `yaml:"add"`  // latency

	Service   string  `yaml:"service"`    // service_error, logs_without_trace_id
	ErrorRate float64 `yaml:"error_rate"` // service_error
}

// Active reports whether the fault applies at offset d from the start.
func (f *Fault) Active(d time.Duration) bool { return d >= f.At && d < f.At+f.For }

// Schedule is a separate fault file: `faults: [...]`.
type Schedule struct {
	Faults []Fault `yaml:"faults"`
}

// LoadFaults reads a fault file and validates it against t.
func LoadFaults(path string, t *Topology) ([]Fault, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read faults: %w", err)
	}
	fs, err := ParseFaults(data, t)
	if err != nil {
		return nil, fmt.Errorf("faults %s: %w", path, err)
	}
	return fs, nil
}

// ParseFaults decodes a fault schedule and validates it against t.
func ParseFaults(data []byte, t *Topology) ([]Fault, error) {
	var s Schedule
	if err := config.Decode(data, &s); err != nil {
		return nil, err
	}
	var errs []error
	for i := range s.Faults {
		s.Faults[i].setDefaults()
		errs = append(errs, config.Nest(fmt.Sprintf("faults[%d]", i), s.Faults[i].validate(t)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s.Faults, nil
}

func (f *Fault) setDefaults() {
	if f.Name == "" {
		f.Name = f.Kind
		switch f.Kind {
		case FaultQueueDrop:
			f.Name += "-" + f.Queue
		case FaultLatency, FaultBreakerOpen:
			f.Name += "-" + f.From + "-" + f.To
		case FaultServiceError, FaultLogsWithoutTraceID:
			f.Name += "-" + f.Service
		}
	}
}

func (f *Fault) validate(t *Topology) error {
	var errs []error
	if f.At < 0 {
		errs = append(errs, config.Errorf("at", "must not be negative, got %s", f.At))
	}
	if f.For <= 0 {
		errs = append(errs, config.Errorf("for", "must be positive, got %s", f.For))
	}
	switch f.Kind {
	case FaultQueueDrop:
		if s := t.Service(f.Queue); s == nil || s.Type != TypeQueue {
			errs = append(errs, config.Errorf("queue", "unknown queue %q", f.Queue))
		}
		if !validRate(f.Ratio) {
			errs = append(errs, config.Errorf("ratio", "must be in [0,1], got %v", f.Ratio))
		}
	case FaultLatency, FaultBreakerOpen:
		c, err := t.findCall(f.From, f.To)
		if err != nil {
			errs = append(errs, err)
		} else if f.Kind == FaultBreakerOpen && c.Breaker == nil {
			errs = append(errs, config.Errorf("to", "the calls %s -> %s have no breaker", f.From, f.To))
		}
		if f.Kind == FaultLatency && f.Add <= 0 {
			errs = append(errs, config.Errorf("add", "must be positive, got %s", f.Add))
		}
	case FaultServiceError:
		if s := t.Service(f.Service); s == nil || s.Type != TypeService {
			errs = append(errs, config.Errorf("service", "unknown service %q", f.Service))
		}
		if !validRate(f.ErrorRate) {
			errs = append(errs, config.Errorf("error_rate", "must be in [0,1], got %v", f.ErrorRate))
		}
	case FaultLogsWithoutTraceID:
		if s := t.Service(f.Service); s == nil || s.Type != TypeService {
			errs = append(errs, config.Errorf("service", "unknown service %q", f.Service))
		}
		if !validRate(f.Ratio) {
			errs = append(errs, config.Errorf("ratio", "must be in [0,1], got %v", f.Ratio))
		}
	default:
		errs = append(errs, config.Errorf("kind", "must be queue_drop, latency, breaker_open, service_error or logs_without_trace_id, got %q", f.Kind))
	}
	return errors.Join(errs...)
}

// findCall returns the first call from -> to (any endpoint of from).
func (t *Topology) findCall(from, to string) (*Call, error) {
	s := t.Service(from)
	if s == nil || s.Type != TypeService {
		return nil, config.Errorf("from", "unknown service %q", from)
	}
	if t.Service(to) == nil {
		return nil, config.Errorf("to", "unknown service %q", to)
	}
	for i := range s.Endpoints {
		for j := range s.Endpoints[i].Calls {
			if c := &s.Endpoints[i].Calls[j]; c.Service == to {
				return c, nil
			}
		}
	}
	return nil, config.Errorf("to", "%s never calls %s", from, to)
}
