// Package oncetest shares a costly fixture (a database of the shop, a
// server that can run once per process) between the tests of a process:
// the first test that asks builds it, the others get it, or its failure.
package oncetest

import (
	"sync"
	"testing"
)

// Value is a fixture built once. The zero Value is ready to use.
type Value[T any] struct {
	once sync.Once
	v    T
	err  error
}

// Get returns the fixture, building it with build on the first call. It
// fails t, saying what failed to build, when building failed (then and on
// every later call).
func (f *Value[T]) Get(t testing.TB, what string, build func() (T, error)) T {
	t.Helper()
	f.once.Do(func() { f.v, f.err = build() })
	if f.err != nil {
		t.Fatalf("%s: %v", what, f.err)
	}
	return f.v
}
