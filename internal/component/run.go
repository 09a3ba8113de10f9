package component

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RunOptions say what Run does around the component's life.
type RunOptions struct {
	// Started is called once the component has started: a command prints
	// where it listens.
	Started func()
	// Reload is called on SIGHUP (re-read rule files, ...); without it
	// SIGHUP is left to its default.
	Reload func()
	// Stopping is called before Shutdown, whatever stops the run.
	Stopping func()
	// ShutdownTimeout bounds Shutdown (default 30s).
	ShutdownTimeout time.Duration
}

// DefaultShutdownTimeout is RunOptions.ShutdownTimeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// Run is a command's life: it starts c, runs until ctx ends, SIGINT or
// SIGTERM arrives, or c fails on its own (FailureReporter), then shuts c
// down within the timeout. A failed Start is followed by Shutdown too, to
// release what New took. The error is the start's, or the failure's, and
// the shutdown's.
func Run(ctx context.Context, c Component, o RunOptions) error {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
		defer cancel()
		return c.Shutdown(sctx)
	}
	if err := c.Start(ctx); err != nil {
		return errors.Join(err, shutdown())
	}
	if o.Started != nil {
		o.Started()
	}
	var hup chan os.Signal
	if o.Reload != nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	var failed <-chan error
	if r, ok := c.(FailureReporter); ok {
		failed = r.Failed()
	}
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-failed:
			runErr = fmt.Errorf("stopped on its own: %w", err)
			break wait
		case <-hup:
			o.Reload()
		}
	}
	if o.Stopping != nil {
		o.Stopping()
	}
	return errors.Join(runErr, shutdown())
}
