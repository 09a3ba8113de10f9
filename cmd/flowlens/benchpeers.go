package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/loadtest/peers"
)

func newBenchPeersCmd() *cobra.Command {
	var (
		cfg  peers.Config
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "bench-peers",
		Short: "Measure flowlens collector beside the OpenTelemetry Collector on the same spans, topic and engine",
		Long: `Write --spans spans (10 per trace, 10-20 attributes each, with IDs, URLs, user
agents and session and user IDs that never repeat) to one Kafka topic of
--partitions partitions on the embedded broker, then let the OpenTelemetry
Collector (kafka receiver, batch processor, clickhouse exporter: make otelcol)
and flowlens collector each store all of them into a fresh embedded ClickHouse
engine, one after the other, --runs times (alternating which goes first).
Prints wall time, spans/s, CPU seconds per 100k spans of the collector and of
the engine, and peak RSS, with medians and flowlens's ratios.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Flowlens = self
			if cfg.Otelcol == "" {
				cfg.Otelcol = filepath.Join(filepath.Dir(self), "otelcol-peers")
			}
			if cfg.Dir == "" {
				if cfg.Dir, err = os.MkdirTemp("", "flowlens-peers-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(cfg.Dir)
				}
			}
			cfg.Out = cmd.ErrOrStderr()
			results, err := peers.Run(cmd.Context(), cfg)
			if len(results) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				if werr := peers.WriteTable(cmd.OutOrStdout(), results); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return fmt.Errorf("%w (logs in %s; --keep keeps them)", err, cfg.Dir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Spans, "spans", 2_000_000, "spans to write and store (whole traces of 10)")
	f.IntVar(&cfg.Runs, "runs", 3, "runs of each peer, each into a fresh engine")
	f.IntVar(&cfg.Partitions, "partitions", 6, "partitions of the spans topic")
	f.StringVar(&cfg.Otelcol, "otelcol", "", "the OpenTelemetry Collector binary (default: otelcol-peers beside this one; make otelcol)")
	f.StringVar(&cfg.Dir, "dir", "", "folder for the broker's and engines' data and every process's log (default: a temporary one)")
	f.BoolVar(&keep, "keep", false, "keep the temporary folder (its logs) after the run")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "longest run of one peer (default 30m)")
	return cmd
}
