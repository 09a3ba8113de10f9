// Package componenttest runs a component (internal/component) for the
// length of a test.
package componenttest

import (
	"context"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/component"
)

// Start starts c, failing t if it does not, and shuts it down when the test
// ends (within 30 s; what Shutdown returns then is the test's to check
// elsewhere if it matters).
func Start(t testing.TB, c component.Component) {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
}
