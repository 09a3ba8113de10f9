package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/loadtest/gen"
)

func TestLoadgenCommand(t *testing.T) {
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.json")
	cmd := newLoadgenCmd(&globalFlags{LogLevel: "error"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--otlp-endpoint", "-", "--no-pacing", "--count", "500", "--rate", "100", "--seed", "5",
		"--log-dir", filepath.Join(dir, "logs"), "--truth", truth, "--faults", "../../loadtest/testdata/faults.yaml", "--progress", "0"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	tr, err := gen.ReadTruth(truth)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Requests != 500 || tr.Seed != 5 || tr.Logs < tr.Spans {
		t.Fatalf("truth: %d requests, seed %d, %d spans, %d logs", tr.Requests, tr.Seed, tr.Spans, tr.Logs)
	}
	if !strings.Contains(out.String(), "done in") || !strings.Contains(out.String(), "truth written to") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestLoadgenRejectsBadFlags(t *testing.T) {
	cmd := newLoadgenCmd(&globalFlags{LogLevel: "error"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs([]string{"--rate", "-3", "--otlp-endpoint", "-"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "rate: must be positive") {
		t.Fatalf("error = %v", err)
	}
}

func TestLoadgenPrintsTopology(t *testing.T) {
	cmd := newLoadgenCmd(&globalFlags{})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--print-topology"})
	if err := cmd.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "name: shop") {
		t.Fatalf("%v\n%s", err, out.String())
	}
}
