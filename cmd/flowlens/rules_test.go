package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runRules(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRulesCmd(&globalFlags{DataDir: t.TempDir()})
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestRulesCheckReportsFileAndLine(t *testing.T) {
	_, stderr, err := runRules(t, "check", "--services", "gateway,checkout,payments", "../../rules/rulefile/testdata/bad/unknown_edge.yml")
	if err == nil {
		t.Fatal("check passed a bad file")
	}
	if !strings.Contains(stderr, `unknown_edge.yml:6:22: group "g": rule "PaymentsPerCheckout": unknown server service "paymnets"`) {
		t.Errorf("stderr:\n%s", stderr)
	}
	out, _, err := runRules(t, "check", "../../rules/rulefile/testdata/flows.yml")
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("valid file: %v\n%s", err, out)
	}
}

// The export loads in Prometheus: Debian's promtool (make tools-prometheus)
// accepts it.
func TestRulesExportPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make tools-prometheus`")
	}
	for _, inline := range []bool{false, true} {
		args := []string{"export", "../../rules/rulefile/testdata/flows.yml"}
		if inline {
			args = append(args, "--inline")
		}
		out, stderr, err := runRules(t, args...)
		if err != nil {
			t.Fatalf("export: %v\n%s", err, stderr)
		}
		f := filepath.Join(t.TempDir(), "exported.yml")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check rules (inline=%v): %v\n%s\n%s", inline, err, res, out)
		}
		if !strings.Contains(string(res), "SUCCESS") {
			t.Errorf("promtool: %s", res)
		}
	}
}

func TestRulesTestRunsUnitTests(t *testing.T) {
	out, _, err := runRules(t, "test", "../../rules/ruletest/testdata/shorthands_test.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("%v\n%s", err, out)
	}
}
