// Command flowlens runs the flowlens pipeline and talks to its storage.
// main only wires: each subcommand lives in its own file and builds its
// component from that component's package.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/cpuprofile"
)

func main() {
	args := os.Args[1:]
	if child, ok := childArgs(); ok {
		args = child
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// run runs the command line args until done or interrupted and returns the
// process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "flowlens:", err)
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "flowlens",
		Short:         "Observability for systems of many small services: spans, logs and the flows between services",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	var stopProfile func()
	root.PersistentPreRunE = func(*cobra.Command, []string) (err error) {
		stopProfile, err = cpuprofile.Start(g.CPUProfile)
		return err
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.AddCommand(
		// the pipeline and its parts
		newUpCmd(g),
		newConsoleCmd(g),
		newCollectorCmd(g),
		newFlowgraphCmd(g),
		newClickHouseCmd(g),
		newBrokerCmd(g),
		newLoadgenCmd(g),
		newBenchE2ECmd(g),
		newBenchPeersCmd(),
		newBenchAgentPeersCmd(),
		// storage
		newMigrateCmd(g),
		newTraceCmd(g),
		newSpansCmd(g),
		newLogsCmd(g),
		newLoadCmd(g),
		// the flow graph and its alerts
		newGraphCmd(g),
		newRulesCmd(g),
		newConformanceCmd(g),
		newLedgerCmd(g),
		newServicesCmd(g),
		newAlertsCmd(g),
		// Grafana
		newGrafanaCmd(),
		newVersionCmd(),
	)
	return root
}
