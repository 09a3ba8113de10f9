// Package polltest waits in tests for what can only be observed: a test
// polls the state a user would see until it holds, with a deadline, instead
// of sleeping for a time that is too long on a fast machine and too short
// on a loaded one.
package polltest

import (
	"testing"
	"time"
)

// Until calls cond until it returns true, and fails the test when it has
// not after timeout. what says what is waited for ("the spans stored"); it
// is the failure message. The first polls come quickly, later ones every
// 200ms, so a slow condition (a query) does not load the machine.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
		interval = min(2*interval, 200*time.Millisecond)
	}
}
