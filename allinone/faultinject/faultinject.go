// Package faultinject lets a test break the parts of a running all-in-one
// pipeline the way real faults do: the collector killed without a flush or
// a commit, the broker stopped as an outage of Kafka would, and each
// started again. It is test-only: a test passes an Injector in
// allinone.Settings.Faults, and the pipeline binds it to its parts when it
// starts. Nothing else in flowlens holds one.
package faultinject

import (
	"context"
	"errors"
	"sync"
)

// Injector breaks and restarts the parts of the pipeline it is bound to.
type Injector struct {
	mu    sync.Mutex
	hooks *Hooks
}

// Hooks are what a pipeline binds: allinone's business, not a test's.
type Hooks struct {
	KillCollector  func()
	StartCollector func(context.Context) error
	StopBroker     func(context.Context) error
	StartBroker    func(context.Context) error
}

// Bind is called by allinone once its parts run.
func (i *Injector) Bind(h Hooks) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.hooks = &h
}

var errUnbound = errors.New("faultinject: the injector is not bound to a running pipeline")

func (i *Injector) bound() (*Hooks, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.hooks == nil {
		return nil, errUnbound
	}
	return i.hooks, nil
}

// KillCollector stops the collector the way a crash would: no flush, no
// commit. What it had stored but not committed is consumed again by the
// next collector, which stores it once (see package collector).
func (i *Injector) KillCollector() error {
	h, err := i.bound()
	if err != nil {
		return err
	}
	h.KillCollector()
	return nil
}

// StartCollector starts a collector again after KillCollector.
func (i *Injector) StartCollector(ctx context.Context) error {
	h, err := i.bound()
	if err != nil {
		return err
	}
	return h.StartCollector(ctx)
}

// StopBroker stops the embedded broker, as an outage of Kafka would: the
// agent buffers on disk and the consumers wait.
func (i *Injector) StopBroker(ctx context.Context) error {
	h, err := i.bound()
	if err != nil {
		return err
	}
	return h.StopBroker(ctx)
}

// StartBroker brings the broker back on the same address with the same
// data.
func (i *Injector) StartBroker(ctx context.Context) error {
	h, err := i.bound()
	if err != nil {
		return err
	}
	return h.StartBroker(ctx)
}
