package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/loadtest/peers"
)

func newBenchPeersCmd() *cobra.Command {
	var (
		cfg             peers.Config
		keep            bool
		collectorConfig string
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
			err := locateBinaries(&cfg.Flowlens, binaryBeside{&cfg.Otelcol, "otelcol-peers"})
			if err != nil {
				return err
			}
			if collectorConfig != "" {
				if cfg.CollectorConfig, err = os.ReadFile(collectorConfig); err != nil {
					return fmt.Errorf("read --collector-config: %w", err)
				}
			}
			cfg.Out = cmd.ErrOrStderr()
			return runSideBySide(cmd, &cfg.Dir, keep, "flowlens-peers-",
				func() ([]peers.Result, error) { return peers.Run(cmd.Context(), cfg) }, peers.WriteTable)
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
	f.StringVar(&cfg.CollectorProfiles, "collector-profiles", "", "folder for a Go CPU profile of each run of flowlens collector (collector-run-N.pprof; go tool pprof)")
	f.StringVar(&collectorConfig, "collector-config", "", "YAML file added to flowlens collector's config (which sets only group_id), to measure a variant, e.g. one with \"storage: {trace_id_projection: false}\"")
	return cmd
}

// binaryBeside is a binary the bench commands run: its path (a flag) and,
// when that is unset, its name in this binary's folder.
type binaryBeside struct {
	path *string
	name string
}

// locateBinaries sets *flowlens to this binary and the unset paths of
// beside to their names in its folder, where make build puts them all.
func locateBinaries(flowlens *string, beside ...binaryBeside) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	*flowlens = self
	for _, b := range beside {
		if *b.path == "" {
			*b.path = filepath.Join(filepath.Dir(self), b.name)
		}
	}
	return nil
}

// runSideBySide is what the side-by-side commands do around their runs: a
// scratch folder (named by prefix) unless --dir names one, kept with
// --keep; the table of the runs that completed, also when one failed; and
// where the logs are when one did.
func runSideBySide[R any](cmd *cobra.Command, dir *string, keep bool, prefix string, run func() ([]R, error), table func(io.Writer, []R) error) error {
	if *dir == "" {
		var err error
		if *dir, err = os.MkdirTemp("", prefix); err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(*dir)
		}
	}
	results, err := run()
	if len(results) > 0 {
		fmt.Fprintln(cmd.OutOrStdout())
		if werr := table(cmd.OutOrStdout(), results); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("%w (logs in %s; --keep keeps them)", err, *dir)
	}
	return nil
}
