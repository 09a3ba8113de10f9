package component

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Part is one part of a Group: its name, and how to build it once the
// parts before it run (its config may need their addresses).
type Part struct {
	Name string
	// Build makes the part (its New); a nil Component leaves the part out.
	Build func(ctx context.Context) (Component, error)
}

// Group runs parts that feed each other as one Component: Start builds
// and starts them in order, Shutdown stops them in reverse, so each part
// stops (and flushes) before what it feeds. It reports the first part
// that fails on its own (FailureReporter).
type Group struct {
	Parts []Part

	mu      sync.Mutex
	started []namedPart
	failed  chan error
	stopped chan struct{}
}

type namedPart struct {
	name string
	c    Component
}

// failedStartGrace bounds stopping what had started when a start fails.
const failedStartGrace = 30 * time.Second

// Start builds and starts the parts in order. When one fails (to build or
// to start), it and the parts started before it are shut down, and the
// error names it.
func (g *Group) Start(ctx context.Context) error {
	for _, p := range g.Parts {
		if err := g.start(ctx, p); err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedStartGrace)
			defer cancel()
			return errors.Join(err, g.Shutdown(sctx))
		}
	}
	return nil
}

func (g *Group) start(ctx context.Context, p Part) error {
	c, err := p.Build(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	if err := c.Start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedStartGrace)
		defer cancel()
		return errors.Join(fmt.Errorf("start %s: %w", p.Name, err), c.Shutdown(sctx))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	g.started = append(g.started, namedPart{p.Name, c})
	if r, ok := c.(FailureReporter); ok {
		go func(failed <-chan error) {
			select {
			case err := <-failed:
				select {
				case g.failed <- fmt.Errorf("%s: %w", p.Name, err):
				default: // one failure is enough to stop
				}
			case <-g.stopped:
			}
		}(r.Failed())
	}
	return nil
}

func (g *Group) init() {
	if g.failed == nil {
		g.failed = make(chan error, 1)
		g.stopped = make(chan struct{})
	}
}

// Failed delivers the first error a part reported about itself.
func (g *Group) Failed() <-chan error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.failed
}

// Shutdown stops the started parts in reverse order, each until ctx ends,
// and joins their errors. Safe without Start and twice.
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	parts := g.started
	g.started = nil
	g.init()
	select {
	case <-g.stopped:
	default:
		close(g.stopped)
	}
	g.mu.Unlock()
	var errs []error
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if err := p.c.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}
