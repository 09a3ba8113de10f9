package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/loadtest/peers"
)

func newBenchAgentPeersCmd() *cobra.Command {
	var (
		cfg  peers.AgentConfig
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "bench-agent-peers",
		Short: "Measure flowlens-agent beside the OpenTelemetry Collector on the same input into the embedded broker",
		Long: `Write --lines lines of one --input (files: JSON lines in one file; cri: the
same lines in CRI format under a pods folder; journald: entries in a .journal
file written by systemd-journal-remote; syslog: RFC 5424 messages sent over TCP
with octet counting), then let the OpenTelemetry Collector (filelog, journald or
syslog receiver, batch processor, kafka exporter: make otelcol) and
flowlens-agent each send all of them to a fresh embedded broker, one after the
other, --runs times (alternating which goes first). Prints wall time, lines/s,
CPU seconds, lines per CPU-second and peak RSS of each peer (with the
journalctl it runs for journald), with medians and flowlens-agent's ratios.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := locateBinaries(&cfg.Flowlens, binaryBeside{&cfg.Agent, "flowlens-agent"}, binaryBeside{&cfg.Otelcol, "otelcol-peers"}); err != nil {
				return err
			}
			cfg.Out = cmd.ErrOrStderr()
			return runSideBySide(cmd, &cfg.Dir, keep, "flowlens-agent-peers-",
				func() ([]peers.AgentResult, error) { return peers.RunAgents(cmd.Context(), cfg) }, peers.WriteAgentTable)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Input, "input", peers.InputFiles, "input to read: "+strings.Join(peers.Inputs, ", "))
	f.IntVar(&cfg.Lines, "lines", 500_000, "lines (entries, messages) of input, each sent to Kafka by each peer")
	f.IntVar(&cfg.Runs, "runs", 3, "runs of each peer, each into a fresh broker")
	f.StringVar(&cfg.Agent, "agent", "", "the flowlens-agent binary (default: flowlens-agent beside this one)")
	f.StringVar(&cfg.Otelcol, "otelcol", "", "the OpenTelemetry Collector binary (default: otelcol-peers beside this one; make otelcol)")
	f.StringVar(&cfg.Dir, "dir", "", "folder for the input, the brokers' data and every process's log (default: a temporary one)")
	f.BoolVar(&keep, "keep", false, "keep the temporary folder (its logs) after the run")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "longest run of one peer (default 30m)")
	return cmd
}
