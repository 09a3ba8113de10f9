package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/loadtest/bench"
)

// The summary of repeated runs is the median of each figure, not the mean:
// one slow run on a shared machine must not move it.
func TestBenchMedians(t *testing.T) {
	rep := func(spans float64, p99 time.Duration, engineCPU float64) *bench.Report {
		return &bench.Report{Window: 100 * time.Second, SpansPerSec: spans, LogsPerSec: spans, FreshnessP99: p99,
			Components: []bench.Component{{Name: "clickhouse", CPUSeconds: engineCPU}}}
	}
	var out bytes.Buffer
	printBenchMedians(&out, []*bench.Report{
		rep(48000, 2*time.Second, 90), rep(20000, 30*time.Second, 120), rep(50000, 1500*time.Millisecond, 80),
	})
	for _, want := range []string{"medians of 3 runs", "stored   48000 spans/s", "p99 2.000s", "clickhouse 0.90"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// The engine line shows the merges' write amplification: merged rows
// against inserted rows, what merge settings trade against parts.
func TestBenchReportEngine(t *testing.T) {
	rep := &bench.Report{Window: 120 * time.Second, Engine: bench.EngineStats{
		Inserts: 200, InsertedRows: 12_000_000, Merges: 50, MergedRows: 32_400_000, Selects: 990,
		CPUSeconds: 108.7, InsertWall: 120, MergeWall: 211, SelectWall: 6}}
	var out bytes.Buffer
	if err := printBenchReport(&out, rep, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"200 inserts of 12.0M rows", "50 merges of 32.4M rows (2.7x the inserted", "108.7 CPU-s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// The machine line lets runs made at different times be compared: how fast
// the machine was before the run, and how much tasks waited for a core.
// Without the kernel's pressure figures only the calibration is shown.
func TestBenchReportMachine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		machine bench.MachineStats
		want    []string
		notWant string
	}{
		{name: "with pressure", machine: bench.MachineStats{Calibration: 123 * time.Millisecond, CPUWaited: 0.62, IOWaited: 0.04},
			want: []string{"calibration 123ms", "waited for a core 62% of the window, for I/O 4%"}},
		{name: "without pressure", machine: bench.MachineStats{Calibration: 98 * time.Millisecond, CPUWaited: -1, IOWaited: -1},
			want: []string{"calibration 98ms"}, notWant: "waited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printBenchReport(&out, &bench.Report{Window: time.Minute, Machine: tc.machine}, 0); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			if tc.notWant != "" && strings.Contains(out.String(), tc.notWant) {
				t.Errorf("report has %q:\n%s", tc.notWant, out.String())
			}
		})
	}
}
