package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/loadtest"
	"github.com/flowlens/flowlens/loadtest/topology"
)

func newLoadgenCmd(g *globalFlags) *cobra.Command {
	var cfg loadtest.Config
	var printTopology bool
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Run the synthetic system: traces as OTLP to an agent, JSON log files, and the truth of what was sent",
		Long: `Run a synthetic system of services (by default an online shop of about 15
services, queues and databases) and send its traces as OTLP/gRPC to an agent,
write its JSON log lines to --log-dir for the agent to tail, and write what it
emitted (per-edge counts, queue messages, breaker transitions, injected faults)
to --truth.

Every span carries flowlens.seq and every log line seq, dense from 1, so the
pipeline's counts can be checked exactly.

  flowlens loadgen --rate 200 --duration 1m --log-dir data/loadgen-logs --truth truth.json
  flowlens loadgen --faults loadtest/testdata/faults.yaml --count 10000
  flowlens loadgen --print-topology > my-topology.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if printTopology {
				_, err := out.Write(topology.ShopYAML())
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			if cfg.ProgressInterval == 0 {
				cfg.ProgressInterval = -1 // none
			}
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("loadgen: %w", err)
			}
			// The generator allocates a span's worth of short-lived objects per
			// span (the OTel SDK's), and its live heap is small: a lazier GC
			// spends less of the machine it shares with the pipeline
			// (measured: GC was 13% of its CPU at the default). GOGC wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			if cfg.Duration == 0 && cfg.Count == 0 {
				fmt.Fprintln(out, "no --duration or --count: running until Ctrl-C")
			}
			truth, err := loadtest.Run(cmd.Context(), cfg, loadtest.Options{
				Logger: log,
				OnProgress: func(p loadtest.Progress) {
					if p.Final {
						fmt.Fprintf(out, "done in %s: %d requests, %d spans (%d exported, %d failed), %d log records\n",
							p.Elapsed.Round(time.Millisecond), p.Requests, p.Spans, p.Exported, p.ExportFailed, p.Logs)
						return
					}
					behind := ""
					if p.Behind > time.Second {
						behind = fmt.Sprintf("  (%s behind schedule: lower --rate)", p.Behind.Round(time.Second))
					}
					fmt.Fprintf(out, "%6s  %8.0f spans/s  %8.0f logs/s  %6.0f req/s  total %d spans, %d exported, %d logs%s\n",
						p.Elapsed.Round(time.Second), math.Round(p.SpansPerSec), math.Round(p.LogsPerSec), math.Round(p.RequestsPerSec),
						p.Spans, p.Exported, p.Logs, behind)
				},
			})
			if truth != nil && cfg.TruthFile != "" {
				fmt.Fprintf(out, "truth written to %s (run %s, seed %d)\n", cfg.TruthFile, truth.RunID, truth.Seed)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Topology, "topology", "", "topology file (default: the embedded shop; see --print-topology)")
	f.StringVar(&cfg.Faults, "faults", "", "fault schedule file (faults: [...]) added to the topology's own")
	f.Float64Var(&cfg.Rate, "rate", 50, "root requests per second")
	f.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: no limit)")
	f.Uint64Var(&cfg.Count, "count", 0, "stop after this many root requests (0: no limit)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "random seed for reproducible runs (0: from the clock)")
	f.StringVar(&cfg.RunID, "run-id", "", "flowlens.run attribute of every span and log line (default: the seed in hex)")
	f.BoolVar(&cfg.NoPacing, "no-pacing", false, "generate as fast as possible with synthetic timestamps instead of pacing to the wall clock")
	f.StringVar(&cfg.OTLP.Endpoint, "otlp-endpoint", "127.0.0.1:4317", `OTLP/gRPC endpoint of the agent ("-": generate without sending)`)
	f.IntVar(&cfg.OTLP.BatchSize, "batch-size", 1024, "spans per OTLP export request")
	f.StringVar(&cfg.LogDir, "log-dir", "", "write <service>.log JSON log files here (default: no logs)")
	f.IntVar(&cfg.LogsPerSpan, "logs-per-span", 1, "log lines written per span (1..100; without --log-dir, none)")
	f.Var(&cfg.RotateBytes, "rotate-bytes", "rotate log files at this size, like 64MiB (0: never)")
	f.StringVar(&cfg.TruthFile, "truth", "", "write the truth (counts per edge, queues, breaker transitions, faults) to this JSON file")
	f.DurationVar(&cfg.ProgressInterval, "progress", 5e9, "progress report interval (0: none)")
	f.BoolVar(&printTopology, "print-topology", false, "print the embedded shop topology and exit")
	return cmd
}
