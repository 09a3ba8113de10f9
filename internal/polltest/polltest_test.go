package polltest_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/polltest"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	polltest.Until(t, "the third call", time.Minute, func() bool {
		calls++
		return calls == 3
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

// recorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as testing's does, without failing the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUntilFailsWithWhatItWaitedFor(t *testing.T) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		polltest.Until(r, "the impossible", 30*time.Millisecond, func() bool { return false })
	}()
	<-done
	if r.msg != "timed out after 30ms waiting for the impossible" {
		t.Fatalf("failure message %q", r.msg)
	}
}
