// Package component is the lifecycle every long-running part of flowlens
// follows (the embedded engine's endpoint and broker, the collector, the
// flow analyzer, the rules evaluator and its notifier, the agent and its
// OTLP receiver, the console), and what runs parts in a command or in one
// process.
//
// The contract, as the OpenTelemetry Collector's:
//
//   - New(cfg, Settings) applies the config's defaults and validates it,
//     reporting every mistake at once (errors.Join). Validate has no side
//     effects: what must be compiled or loaded (regular expressions,
//     certificates, tokens) is compiled or loaded in New. New registers
//     the component's metrics on Settings.Registerer.
//   - Start(ctx) returns quickly: it binds listeners and starts background
//     work, which runs on a context of its own until Shutdown cancels it;
//     ctx only bounds the start.
//   - Shutdown(ctx) stops and flushes what the component holds until ctx
//     ends. It is safe without Start, after a failed Start, and twice.
//
// Metrics: a component registers them with Register, never MustRegister, so
// a registry that already holds them makes New fail with an error instead
// of a panic. Two instances of a component in one process take distinct
// registries (flowlens up gives each part its own, served on that part's
// listener); the metrics keep the names and labels they have when the
// component runs alone, with no instance label added.
package component

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Component is the lifecycle of a long-running part.
type Component interface {
	// Start returns once the component listens and its background work
	// runs; ctx bounds the start only.
	Start(ctx context.Context) error
	// Shutdown stops the component, flushing until ctx ends. Safe without
	// Start and twice.
	Shutdown(ctx context.Context) error
}

// FailureReporter is a component whose background work can stop on its
// own (the agent, when its disk buffer fails): the channel delivers why,
// once. Run and Group stop everything when it does.
type FailureReporter interface {
	Failed() <-chan error
}

// Settings are what every component takes besides its config. The
// components' own settings embed them and add their dependencies.
type Settings struct {
	// Logger of the component; default a no-op logger.
	Logger *zap.Logger
	// Registerer receives the component's metrics; default a new registry.
	Registerer prometheus.Registerer
	// Gatherer is what the component's /metrics serves; default the
	// Registerer when it is a registry, so a component serves what it
	// registered (and what its caller registered there too, like the
	// storage client's metrics beside the collector's).
	Gatherer prometheus.Gatherer
}

// WithDefaults fills what is nil.
func (s Settings) WithDefaults() Settings {
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.Registerer == nil {
		reg := prometheus.NewRegistry()
		s.Registerer = reg
		if s.Gatherer == nil {
			s.Gatherer = reg
		}
	}
	if s.Gatherer == nil {
		if g, ok := s.Registerer.(prometheus.Gatherer); ok {
			s.Gatherer = g
		} else {
			s.Gatherer = prometheus.Gatherers{}
		}
	}
	return s
}

// Register registers cs on reg. A registry that already holds one of them
// (a second component of the same kind on the same registry) is an error
// naming what was registered, not a panic.
func Register(reg prometheus.Registerer, what string, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if errors.As(err, &dup) {
				return fmt.Errorf("register %s metrics: the registry holds them already (give each %s its own registry): %w", what, what, err)
			}
			return fmt.Errorf("register %s metrics: %w", what, err)
		}
	}
	return nil
}

// Funcs makes a Component of two functions, for what has no lifecycle of
// its own (a client to close at the end). Nil functions do nothing.
type Funcs struct {
	StartFunc    func(ctx context.Context) error
	ShutdownFunc func(ctx context.Context) error
}

// Start calls StartFunc.
func (f Funcs) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Shutdown calls ShutdownFunc.
func (f Funcs) Shutdown(ctx context.Context) error {
	if f.ShutdownFunc == nil {
		return nil
	}
	return f.ShutdownFunc(ctx)
}
