// Package deptest holds packages to the dependencies their place in the
// architecture allows: a test names what a package must not link, and
// `go list -deps` (test files left out) says what it links.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t for every dependency of the packages pattern names (as
// `go list` takes it, relative to the test's directory) whose import path
// starts with one of the forbidden prefixes. minDeps guards against a
// listing that went wrong: fewer dependencies than that is a failure too.
func Forbid(t *testing.T, pattern string, minDeps int, forbidden ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pattern).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pattern, err, out)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("%s links %s", pattern, d)
			}
		}
	}
	if len(deps) < minDeps {
		t.Fatalf("go list -deps %s: suspiciously few dependencies: %d", pattern, len(deps))
	}
}
