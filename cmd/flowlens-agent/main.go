// Command flowlens-agent is the host agent: it follows log files and
// receives OTLP, keeps everything in a disk buffer and forwards it to Kafka.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/install"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/cpuprofile"
	"github.com/flowlens/flowlens/internal/logging"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-agent:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var cfgPath, profile string
	root := &cobra.Command{
		Use:           "flowlens-agent",
		Short:         "Follow log files and receive OTLP; buffer on disk; forward to Kafka",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runProfiled(cmd, cfgPath, profile) },
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", install.ConfigPath, "configuration file")

	runCmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent (the default)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runProfiled(cmd, cfgPath, profile) },
	}
	for _, c := range []*cobra.Command{root, runCmd} {
		c.Flags().StringVar(&profile, "cpu-profile", "", "write a Go CPU profile (go tool pprof) of the run to this file")
	}
	check := &cobra.Command{
		Use:   "check-config",
		Short: "Load and validate the configuration; errors name the field",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg agent.Config
			if err := config.Load(cfgPath, &cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (file sources: %d, OTLP grpc=%v http=%v, kafka %v, buffer %s %s)\n",
				cfgPath, len(cfg.Files), cfg.OTLP.GRPC.On(), cfg.OTLP.HTTP.On(), cfg.Kafka.Brokers, cfg.Buffer.MaxSize, cfg.Buffer.WhenFull)
			return nil
		},
	}
	var opts install.Options
	inst := &cobra.Command{
		Use:   "install",
		Short: "Install the binary, a default config, the data folder, a user and a systemd unit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Out = cmd.OutOrStdout()
			return install.Install(opts)
		},
	}
	addInstallFlags(inst, &opts)
	inst.Flags().StringVar(&opts.User, "user", "flowlens-agent", "system user the agent runs as")
	inst.Flags().StringVar(&opts.Brokers, "brokers", "127.0.0.1:9092", "Kafka brokers written into a new default config")
	inst.Flags().BoolVar(&opts.Journald, "journald", false, "read the system journal: a journald section in a new default config, and the group systemd-journal for the service")
	inst.Flags().BoolVar(&opts.Syslog, "syslog", false, "read /var/log/syslog and /var/log/messages: a file source in a new default config, and the group adm for the service")
	uninst := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the service and remove the unit and binary (--purge: config, data, user too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Out = cmd.OutOrStdout()
			return install.Uninstall(opts)
		},
	}
	addInstallFlags(uninst, &opts)
	uninst.Flags().BoolVar(&opts.Purge, "purge", false, "also remove the config, the data folder and the user")
	ver := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintln(cmd.OutOrStdout(), "flowlens-agent", v)
		},
	}
	root.AddCommand(runCmd, check, inst, uninst, ver)
	root.AddCommand(controlCommands(&cfgPath)...)
	root.AddCommand(&cobra.Command{
		Use:    "package-files DIR",
		Short:  "Write the systemd unit and default config of the .deb (make deb) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			unit, cfg, err := install.PackageFiles(install.PackageBinPath)
			if err != nil {
				return err
			}
			return errors.Join(os.WriteFile(filepath.Join(args[0], "flowlens-agent.service"), unit, 0o644),
				os.WriteFile(filepath.Join(args[0], "agent.yaml"), cfg, 0o640))
		},
	})
	return root
}

func addInstallFlags(cmd *cobra.Command, o *install.Options) {
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "only print what would be done")
	cmd.Flags().StringVar(&o.Root, "root", "", "install under this folder instead of / (files only; commands are printed)")
}

func run(ctx context.Context, cfgPath string) error {
	var cfg agent.Config
	if err := config.Load(cfgPath, &cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer func() { _ = log.Sync() }()
	if m := cfg.MemoryLimit; m != nil && *m > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(*m))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	first := true
	load := func() (agent.Config, error) {
		if first { // already loaded above, for the log
			first = false
			return cfg, nil
		}
		var c agent.Config
		err := config.Load(cfgPath, &c)
		return c, err
	}
	svc, err := agent.NewService(load, agent.Settings{Settings: component.Settings{Logger: log, Registerer: reg}, Version: version})
	if err != nil {
		return err
	}
	// the agent bounds its own final flush (it gives Kafka 10s)
	return component.Run(ctx, svc, component.RunOptions{ShutdownTimeout: time.Minute,
		Reload: func() { _ = svc.Reload(context.WithoutCancel(ctx)) }}) // Reload logs a refusal
}

// runProfiled runs the agent, under a CPU profile when one is asked for.
func runProfiled(cmd *cobra.Command, cfgPath, profile string) error {
	stop, err := cpuprofile.Start(profile)
	if err != nil {
		return err
	}
	defer stop()
	return run(cmd.Context(), cfgPath)
}
