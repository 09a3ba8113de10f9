package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Counts read as English: one problem, two problems.
func TestRulesCheckCountsProblems(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.yml")
	two := filepath.Join(dir, "two.yml")
	os.WriteFile(one, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n"), 0o644)
	os.WriteFile(two, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n      - alert: B\n        expr: rate(\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", one}, "1 problem in rule files"},
		{[]string{"check", two}, "2 problems in rule files"},
		{[]string{"export", one}, "1 problem in " + one + ": nothing exported"},
	} {
		_, _, err := runRules(t, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("rules %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 spans"}, {1, "1 span"}, {2, "2 spans"}} {
		if got := count(tc.n, "span", "spans"); got != tc.want {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
