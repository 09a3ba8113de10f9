package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/loadtest/bench"
)

func newBenchE2ECmd(g *globalFlags) *cobra.Command {
	var cfg bench.Config
	var runs int
	cmd := &cobra.Command{
		Use:   "bench-e2e",
		Short: "Measure the whole pipeline: sustained spans/s and logs/s, CPU per component, freshness",
		Long: `Run every component in its own process on this machine (ClickHouse endpoint,
broker, collector, flow analyzer, agent, the synthetic shop), drive the shop
at --rate, and report what was stored per second, the CPU seconds each
process used, and freshness: the time from a probe span's export to the
agent until a lookup by its trace ID finds it in ClickHouse.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := locateBinaries(&cfg.Flowlens, binaryBeside{&cfg.Agent, "flowlens-agent"})
			if err != nil {
				return err
			}
			if cfg.LogsPerSpan < 0 || cfg.LogsPerSpan > 100 {
				return fmt.Errorf("--logs-per-span %d: want 0 to 100", cfg.LogsPerSpan)
			}
			if runs < 1 {
				return fmt.Errorf("--runs %d: want at least 1", runs)
			}
			temporary := cfg.Dir == ""
			if temporary {
				if cfg.Dir, err = os.MkdirTemp("", "flowlens-bench-"); err != nil {
					return err
				}
				defer os.RemoveAll(cfg.Dir)
			}
			cfg.Out = cmd.ErrOrStderr()
			out := cmd.OutOrStdout()
			base := cfg.Dir
			var reps []*bench.Report
			for i := 1; i <= runs; i++ {
				if runs > 1 {
					// Each run starts from empty tables and topics.
					cfg.Dir = filepath.Join(base, fmt.Sprintf("run-%d", i))
					fmt.Fprintf(out, "\nrun %d of %d\n", i, runs)
				}
				rep, err := bench.Run(cmd.Context(), cfg)
				if temporary && runs > 1 {
					_ = os.RemoveAll(cfg.Dir) // a run's data is gigabytes
				}
				if err != nil {
					return err
				}
				if err := printBenchReport(out, rep, cfg.Warmup); err != nil {
					return err
				}
				reps = append(reps, rep)
			}
			if runs > 1 {
				printBenchMedians(out, reps)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&runs, "runs", 1, "repeat the measurement this many times, each from empty tables, and report the medians")
	f.Float64Var(&cfg.Rate, "rate", 4000, "root requests/s of the synthetic shop (about 12.4 spans and as many log lines each)")
	f.IntVar(&cfg.LogsPerSpan, "logs-per-span", 1, "log lines the shop writes per span (0: none, to measure spans alone; beside a run with logs it gives what a log record costs)")
	f.DurationVar(&cfg.Duration, "duration", 5*time.Minute, "measured duration")
	f.DurationVar(&cfg.Warmup, "warmup", 30*time.Second, "load before the measurement starts")
	f.DurationVar(&cfg.ProbeInterval, "probe-every", 100*time.Millisecond, "send a freshness probe trace this often")
	f.StringVar(&cfg.CollectorConfig, "collector-config", "", "the collector's YAML config, to measure other batch settings")
	f.StringArrayVar(&cfg.MigrateArgs, "migrate-arg", nil, "extra flag for flowlens migrate, to measure a schema variant (repeatable), e.g. --migrate-arg=--trace-id-projection=false")
	f.StringArrayVar(&cfg.ClickHouseArgs, "clickhouse-arg", nil, "extra flag for flowlens clickhouse (repeatable), e.g. --clickhouse-arg=--merge-nice=0")
	f.BoolVar(&cfg.NoLedger, "no-ledger", false, "run the agent and the collector without the loss ledger, to measure its cost")
	f.BoolVar(&cfg.Profile, "profile", false, "write a Go CPU profile of each component into --dir (<component>.prof)")
	f.IntVar(&cfg.Partitions, "partitions", 0, "partitions of the Kafka topics (default: the broker's, 1)")
	f.StringVar(&cfg.Agent, "agent", "", "flowlens-agent binary (default: beside this one)")
	f.StringVar(&cfg.Dir, "dir", "", "folder for data and component logs (default: a temporary one, removed after)")
	return cmd
}

// printBenchReport writes one run's figures.
func printBenchReport(out io.Writer, rep *bench.Report, warmup time.Duration) error {
	fmt.Fprintf(out, "\nwindow %v (after %v warm-up)\n", rep.Window.Round(time.Second), warmup)
	fmt.Fprintf(out, "stored   %.0f spans/s, %.0f log records/s\n", rep.SpansPerSec, rep.LogsPerSec)
	fmt.Fprintf(out, "totals   sent %d spans %d logs; stored %d spans %d logs\n", rep.SentSpans, rep.SentLogs, rep.StoredSpans, rep.StoredLogs)
	fmt.Fprintf(out, "fresh    p50 %v  p99 %v  (%d probes, %d not found within 30s; the agent answered their exports, once fsynced, at p50 %v  p99 %v)\n",
		rep.FreshnessP50.Round(time.Millisecond), rep.FreshnessP99.Round(time.Millisecond), rep.Probes, rep.ProbesMissing,
		rep.AcceptedP50.Round(100*time.Microsecond), rep.AcceptedP99.Round(100*time.Microsecond))
	fmt.Fprintf(out, "lookup   p50 %v  p99 %v  (flowlens trace on %d probe IDs during the window, one every %v)\n", rep.LoadLookupP50.Round(100*time.Microsecond), rep.LoadLookupP99.Round(100*time.Microsecond), rep.LoadLookups, bench.LookupEvery)
	fmt.Fprintf(out, "lookup   p50 %v  p99 %v  (flowlens trace on %d probe IDs after the load and its merges; otel_traces has %d active parts)\n", rep.LookupP50.Round(100*time.Microsecond), rep.LookupP99.Round(100*time.Microsecond), rep.Lookups, rep.Parts)
	if e := rep.Engine; e.Inserts > 0 {
		fmt.Fprintf(out, "engine   %d inserts of %.1fM rows (%.0f s), %d merges of %.1fM rows (%.1fx the inserted; %.0f s), %d selects (%.0f s); %.1f CPU-s\n",
			e.Inserts, float64(e.InsertedRows)/1e6, e.InsertWall, e.Merges, float64(e.MergedRows)/1e6,
			float64(e.MergedRows)/float64(max(e.InsertedRows, 1)), e.MergeWall, e.Selects, e.SelectWall, e.CPUSeconds)
	}
	if m := rep.Machine; m.CPUWaited >= 0 {
		fmt.Fprintf(out, "machine  calibration %v (fixed single-core work before the run: higher is a slower machine); tasks waited for a core %.0f%% of the window, for I/O %.0f%%\n",
			m.Calibration.Round(time.Millisecond), 100*m.CPUWaited, 100*m.IOWaited)
	} else {
		fmt.Fprintf(out, "machine  calibration %v (fixed single-core work before the run: higher is a slower machine)\n", m.Calibration.Round(time.Millisecond))
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tCPU-s\tCORES\tPEAK RSS MB")
	for _, c := range rep.Components {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.0f\n", c.Name, c.CPUSeconds, c.CPUSeconds/rep.Window.Seconds(), c.MaxRSSMB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Batches) > 0 {
		fmt.Fprintln(out)
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COLLECTOR\tINSERTS\tROWS EACH\tINSERT P50\tINSERT P99\tFETCH-TO-COMMIT P50\tP99")
		for _, b := range rep.Batches {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2fs\t%.2fs\t%.2fs\t%.2fs\n", b.Kind, b.Inserts, b.RowsPerInsert, b.InsertP50, b.InsertP99, b.FetchToCommitP50, b.FetchToCommitP99)
		}
		return tw.Flush()
	}
	return nil
}

// printBenchMedians writes the median of each headline figure over runs:
// single runs on a shared machine vary by 10% and more.
func printBenchMedians(out io.Writer, reps []*bench.Report) {
	med := func(f func(*bench.Report) float64) float64 {
		v := make([]float64, len(reps))
		for i, r := range reps {
			v[i] = f(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	secs := func(d time.Duration) float64 { return d.Seconds() }
	fmt.Fprintf(out, "\nmedians of %d runs\n", len(reps))
	fmt.Fprintf(out, "stored   %.0f spans/s, %.0f log records/s\n", med(func(r *bench.Report) float64 { return r.SpansPerSec }), med(func(r *bench.Report) float64 { return r.LogsPerSec }))
	fmt.Fprintf(out, "fresh    p50 %.3fs  p99 %.3fs\n", med(func(r *bench.Report) float64 { return secs(r.FreshnessP50) }), med(func(r *bench.Report) float64 { return secs(r.FreshnessP99) }))
	fmt.Fprintf(out, "lookup   p50 %.1fms  p99 %.1fms  under load\n", 1000*med(func(r *bench.Report) float64 { return secs(r.LoadLookupP50) }), 1000*med(func(r *bench.Report) float64 { return secs(r.LoadLookupP99) }))
	fmt.Fprintf(out, "lookup   p50 %.1fms  p99 %.1fms  after the load\n", 1000*med(func(r *bench.Report) float64 { return secs(r.LookupP50) }), 1000*med(func(r *bench.Report) float64 { return secs(r.LookupP99) }))
	fmt.Fprintf(out, "machine  calibration %.0fms", 1000*med(func(r *bench.Report) float64 { return secs(r.Machine.Calibration) }))
	if waited := med(func(r *bench.Report) float64 { return r.Machine.CPUWaited }); waited >= 0 {
		fmt.Fprintf(out, ", tasks waited for a core %.0f%% of the window", 100*waited)
	}
	fmt.Fprintln(out)
	for i, c := range reps[0].Components {
		fmt.Fprintf(out, "cores    %-10s %.2f\n", c.Name, med(func(r *bench.Report) float64 {
			if i >= len(r.Components) {
				return 0
			}
			return r.Components[i].CPUSeconds / r.Window.Seconds()
		}))
	}
}
