package component

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group runs parts that feed each other: started in order, stopped in
// reverse, so a part is stopped (and has flushed) before what it feeds.
// It is itself a Component: Start is a no-op (parts start as they are
// added, since a part's config may need the address of the one before),
// Shutdown stops every part. It reports the first part that fails on its
// own (FailureReporter).
type Group struct {
	mu      sync.Mutex
	parts   []namedPart
	failed  chan error
	stopped chan struct{}
}

type namedPart struct {
	name string
	c    Component
}

// failedStartGrace bounds the Shutdown of a part whose Start failed.
const failedStartGrace = 30 * time.Second

// Start is a no-op: parts start as Add adds them.
func (g *Group) Start(context.Context) error { return nil }

// Add starts c and keeps it, to be stopped by Shutdown before the parts
// added earlier. A failed Start is followed by c's Shutdown (releasing
// what its New took) and is an error naming the part; the parts added
// before keep running (the caller stops them with Shutdown).
func (g *Group) Add(ctx context.Context, name string, c Component) error {
	if err := c.Start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedStartGrace)
		defer cancel()
		return errors.Join(fmt.Errorf("start %s: %w", name, err), c.Shutdown(sctx))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	g.parts = append(g.parts, namedPart{name, c})
	if r, ok := c.(FailureReporter); ok {
		go func(failed <-chan error) {
			select {
			case err := <-failed:
				select {
				case g.failed <- fmt.Errorf("%s: %w", name, err):
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

// Shutdown stops the parts in reverse order, each until ctx ends, and
// joins their errors (a part that gave up because ctx ended says so once).
// Safe without parts and twice.
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	parts := g.parts
	g.parts = nil
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
