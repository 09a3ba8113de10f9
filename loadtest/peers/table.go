package peers

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// WriteTable writes every run, the medians of each peer and flowlens's
// ratios to the OpenTelemetry Collector's medians. "machine ms" is
// bench.Calibrate before each run: runs on a busier machine show higher.
func WriteTable(w io.Writer, results []Result) error {
	f, o, ok, err := writeRuns(w, "peer\trun\trows stored\twall s\tspans/s\tcollector CPU-s/100k\tengine CPU-s/100k\ttogether\tcollector RSS MB\tengine RSS MB\tmachine ms\t",
		results, Flowlens, Median)
	if err != nil || !ok {
		return err
	}
	_, err = fmt.Fprintf(w, "\nflowlens / otelcol (medians): spans/s %.2fx, collector CPU-s per 100k %.2fx, engine %.2fx, together %.2fx, collector RSS %.2fx\n",
		f.SpansPerSec()/o.SpansPerSec(), f.Per100k(f.CollectorCPU)/o.Per100k(o.CollectorCPU), f.Per100k(f.EngineCPU)/o.Per100k(o.EngineCPU),
		f.Per100k(f.CollectorCPU+f.EngineCPU)/o.Per100k(o.CollectorCPU+o.EngineCPU), f.CollectorRSSMB/o.CollectorRSSMB)
	return err
}

func (r Result) tableRow(run string) string {
	return fmt.Sprintf("%s\t%s\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%d\t", r.Peer, run, r.Stored, r.Wall.Seconds(), r.SpansPerSec(),
		r.Per100k(r.CollectorCPU), r.Per100k(r.EngineCPU), r.Per100k(r.CollectorCPU+r.EngineCPU), r.CollectorRSSMB, r.EngineRSSMB, r.Calibration.Milliseconds())
}

func (r Result) runNumber() int { return r.Run }

func (r Result) countsWrong() string {
	if r.Stored == r.Spans && r.Unique == r.Spans {
		return ""
	}
	return fmt.Sprintf("%s run %d: %d rows for %d spans (%d of them stored): %d stored twice or more",
		r.Peer, r.Run, r.Stored, r.Spans, r.Unique, int64(r.Stored)-int64(r.Unique))
}

// tableResult is a run as WriteTable and WriteAgentTable list it.
type tableResult interface {
	tableRow(run string) string // its cells, each ended by a tab
	runNumber() int
	countsWrong() string // what is wrong with the run's counts, or ""
}

// writeRuns writes the table of results, under header: a row per run,
// then the median (by median) of the OpenTelemetry Collector's runs and of
// peer's; then a line for each run whose counts are wrong. It returns the
// two medians, ok if both peers have runs.
func writeRuns[R tableResult](w io.Writer, header string, results []R, peer string, median func([]R, string) (R, bool)) (ours, otel R, ok bool, err error) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, header)
	for _, r := range results {
		fmt.Fprintln(tw, r.tableRow(fmt.Sprint(r.runNumber())))
	}
	otel, otelOK := median(results, OTel)
	if otelOK {
		fmt.Fprintln(tw, otel.tableRow("median"))
	}
	ours, oursOK := median(results, peer)
	if oursOK {
		fmt.Fprintln(tw, ours.tableRow("median"))
	}
	if err := tw.Flush(); err != nil {
		return ours, otel, false, err
	}
	first := true
	for _, r := range results {
		if wrong := r.countsWrong(); wrong != "" {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintln(w, wrong)
		}
	}
	return ours, otel, oursOK && otelOK, nil
}

// Median is a Result whose every figure is the median of that figure over
// peer's runs (so one run's wall and another's CPU may be combined).
// Spans is the median too, so the per-100k figures stay per-100k.
func Median(results []Result, peer string) (Result, bool) {
	var of []Result
	for _, r := range results {
		if r.Peer == peer {
			of = append(of, r)
		}
	}
	if len(of) == 0 {
		return Result{}, false
	}
	med := func(f func(Result) float64) float64 { return medianOf(of, f) }
	spans := med(func(r Result) float64 { return float64(r.Spans) })
	// Per-span figures are the medians of the per-span figures, scaled back.
	return Result{
		Peer:           peer,
		Spans:          uint64(spans),
		Unique:         uint64(med(func(r Result) float64 { return float64(r.Unique) })),
		Stored:         uint64(med(func(r Result) float64 { return float64(r.Stored) })),
		Wall:           time.Duration(spans / med(Result.SpansPerSec) * float64(time.Second)),
		CollectorCPU:   med(func(r Result) float64 { return r.Per100k(r.CollectorCPU) }) * spans / 1e5,
		EngineCPU:      med(func(r Result) float64 { return r.Per100k(r.EngineCPU) }) * spans / 1e5,
		CollectorRSSMB: med(func(r Result) float64 { return r.CollectorRSSMB }),
		EngineRSSMB:    med(func(r Result) float64 { return r.EngineRSSMB }),
		Calibration:    time.Duration(med(func(r Result) float64 { return float64(r.Calibration) })),
	}, true
}

// medianOf is the median of f over runs.
func medianOf[R any](runs []R, f func(R) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// WriteAgentTable writes every run of an agent comparison, the medians of
// each peer and flowlens-agent's ratios to the OpenTelemetry Collector's
// medians.
func WriteAgentTable(w io.Writer, results []AgentResult) error {
	a, o, ok, err := writeRuns(w, "peer\tinput\trun\trecords\twall s\tlines/s\tCPU-s\tlines per CPU-s\tpeak RSS MB\tmachine ms\t",
		results, Agent, AgentMedian)
	if err != nil || !ok {
		return err
	}
	_, err = fmt.Fprintf(w, "\nflowlens-agent / otelcol (medians, %s): lines per CPU-second %.2fx, lines/s %.2fx, peak RSS %.2fx\n",
		a.Input, a.LinesPerCPUSecond()/o.LinesPerCPUSecond(), a.LinesPerSec()/o.LinesPerSec(), a.RSSMB/o.RSSMB)
	return err
}

func (r AgentResult) tableRow(run string) string {
	return fmt.Sprintf("%s\t%s\t%s\t%d\t%.1f\t%.0f\t%.1f\t%.0f\t%.0f\t%d\t", r.Peer, r.Input, run, r.Records, r.Wall.Seconds(), r.LinesPerSec(),
		r.CPU, r.LinesPerCPUSecond(), r.RSSMB, r.Calibration.Milliseconds())
}

func (r AgentResult) runNumber() int { return r.Run }

func (r AgentResult) countsWrong() string {
	if r.Records == r.Lines {
		return ""
	}
	return fmt.Sprintf("%s run %d: %d records in Kafka for %d lines", r.Peer, r.Run, r.Records, r.Lines)
}

// AgentMedian is an AgentResult whose every figure is the median of that
// figure over peer's runs; CPU is the one that gives the median lines per
// CPU-second, Wall the one that gives the median lines/s.
func AgentMedian(results []AgentResult, peer string) (AgentResult, bool) {
	var of []AgentResult
	for _, r := range results {
		if r.Peer == peer {
			of = append(of, r)
		}
	}
	if len(of) == 0 {
		return AgentResult{}, false
	}
	med := func(f func(AgentResult) float64) float64 { return medianOf(of, f) }
	lines := med(func(r AgentResult) float64 { return float64(r.Lines) })
	return AgentResult{
		Peer:        peer,
		Input:       of[0].Input,
		Lines:       uint64(lines),
		Records:     uint64(med(func(r AgentResult) float64 { return float64(r.Records) })),
		Wall:        time.Duration(lines / med(AgentResult.LinesPerSec) * float64(time.Second)),
		CPU:         lines / med(AgentResult.LinesPerCPUSecond),
		RSSMB:       med(func(r AgentResult) float64 { return r.RSSMB }),
		Calibration: time.Duration(med(func(r AgentResult) float64 { return float64(r.Calibration) })),
	}, true
}
