package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/allinone"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/loadtest"
)

// upListenFlags move the listeners of `flowlens up`, by the config key each
// one sets (allinone.Config.Listeners).
var upListenFlags = map[string]string{
	"clickhouse.listen":      "clickhouse-listen",
	"broker.addr":            "kafka-listen",
	"agent.otlp.grpc.listen": "otlp-grpc-listen",
	"agent.otlp.http.listen": "otlp-http-listen",
	"flowgraph.listen":       "flowgraph-listen",
	"rules.listen":           "alerts-listen",
	"collector.listen":       "collector-metrics-listen",
	"agent.metrics.listen":   "agent-metrics-listen",
	"console.listen":         "console-listen",
}

// exampleUpConfig is the commented example of the --config file.
const exampleUpConfig = "examples/flowlens.yaml"

// upOptions are the flags of `flowlens up`.
type upOptions struct {
	cfgPath  string
	demo     bool
	demoRate float64
	rules    []string
	listen   map[string]*string // by flag name
}

func newUpCmd(g *globalFlags) *cobra.Command {
	o := &upOptions{listen: map[string]*string{}}
	return o.command(g)
}

func (o *upOptions) command(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole pipeline on this machine with embedded Kafka and ClickHouse",
		Long: `Run the whole pipeline in one process with one data folder (--data-dir):
the embedded ClickHouse engine with its HTTP endpoint, the embedded Kafka
broker, the collector, the flow analyzer, the rules evaluator (with --rules)
and a local agent (OTLP on localhost, and the files of its config).

With --demo (the default of make run) the synthetic shop of loadtest/ sends
traces to the agent and writes JSON logs that the agent tails.

--config reads a YAML file; ` + exampleUpConfig + ` shows and explains every
section. The --*-listen flags move the listeners (port 0 picks a free one);
flags win over the file.

Ctrl-C shuts down cleanly (the agent flushes to Kafka, the collector stores
and commits); starting again keeps all data.`,
		Example: `  flowlens up
  flowlens up --demo=false --config ` + exampleUpConfig + `
  flowlens up --rules rules/examples/shop-flows.yml
  flowlens up --clickhouse-listen 127.0.0.1:18123 --kafka-listen 127.0.0.1:19092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := o.upConfig(g, cmd.Flags())
			if err != nil {
				return err
			}
			set := allinone.Settings{Logger: log,
				// The broker runs in a child process: a crash in it must
				// not take the engine down with it.
				BrokerCommand: func() *exec.Cmd {
					return childCommand("broker", "--child", "--log-level", g.LogLevel)
				}}
			demoLogs := filepath.Join(cfg.DataDir, "demo-logs")
			if o.demo {
				cfg.Agent.Files = append(cfg.Agent.Files, demoLogSource(demoLogs))
			}
			err = runUp(cmd.Context(), cfg, set, o.demo, o.demoRate, demoLogs, cmd.OutOrStdout())
			var inUse *allinone.AddrInUseError
			if errors.As(err, &inUse) && upListenFlags[inUse.Key] != "" {
				inUse.Setting = "--" + upListenFlags[inUse.Key]
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.cfgPath, "config", "", "YAML config of the pipeline: see "+exampleUpConfig)
	cmd.Flags().BoolVar(&o.demo, "demo", true, "run the synthetic shop from loadtest/ against the pipeline")
	cmd.Flags().Float64Var(&o.demoRate, "demo-rate", 20, "root requests per second of the demo shop")
	cmd.Flags().StringArrayVar(&o.rules, "rules", nil, "rule file to evaluate (repeatable)")
	var defaults allinone.Config
	defaults.SetDefaults()
	for _, l := range defaults.Listeners() {
		f := upListenFlags[l.Key]
		o.listen[f] = cmd.Flags().String(f, *l.Addr, fmt.Sprintf("address of the %s (config %s)", l.Name, l.Key))
	}
	return cmd
}

// upConfig reads --config and lays the flags a user set over it.
func (o *upOptions) upConfig(g *globalFlags, flags *pflag.FlagSet) (allinone.Config, error) {
	var cfg allinone.Config
	if err := config.Load(o.cfgPath, &cfg); err != nil {
		return cfg, err
	}
	if flags.Changed("data-dir") || o.cfgPath == "" {
		cfg.DataDir = g.DataDir
	}
	if flags.Changed("database") || cfg.Storage.Database == "" {
		cfg.Storage.Database = g.Database
	}
	for _, l := range cfg.Listeners() {
		if f := upListenFlags[l.Key]; flags.Changed(f) {
			*l.Addr = *o.listen[f]
		}
	}
	for _, r := range o.rules {
		if !slices.Contains(cfg.Rules.RuleFiles, r) {
			cfg.Rules.RuleFiles = append(cfg.Rules.RuleFiles, r)
		}
	}
	return cfg, nil
}

// demoLogSource tails the JSON log files of the synthetic shop.
func demoLogSource(dir string) agent.FileSource {
	return agent.FileSource{
		Name:   "demo",
		Config: tail.Config{Include: []string{filepath.Join(dir, "*.log")}},
		Parse:  parse.Config{Format: parse.FormatJSON},
	}
}

func runUp(ctx context.Context, cfg allinone.Config, set allinone.Settings, demo bool, demoRate float64, demoLogs string, out io.Writer) error {
	p, err := allinone.New(cfg, set)
	if err != nil {
		return err
	}
	// the demo traffic runs beside the pipeline until it stops; a demo
	// that fails stops the pipeline too
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	demoCtx, stopDemo := context.WithCancel(runCtx)
	defer stopDemo()
	demoErr := make(chan error, 1)
	err = component.Run(runCtx, p, component.RunOptions{
		ShutdownTimeout: 2 * time.Minute,
		Stopping: func() {
			stopDemo()
			set.Logger.Info("shutting down: the agent flushes, the collector stores and commits")
		},
		Started: func() {
			printUp(out, p, demo, demoRate)
			if !demo {
				return
			}
			lcfg := loadtest.Config{Rate: demoRate, LogDir: demoLogs, ProgressInterval: 30 * time.Second}
			lcfg.OTLP.Endpoint = p.Addrs().AgentOTLP.GRPC
			lcfg.SetDefaults()
			go func() {
				_, err := loadtest.Run(demoCtx, lcfg, loadtest.Options{Logger: set.Logger.Named("demo")})
				if err != nil && demoCtx.Err() == nil {
					demoErr <- fmt.Errorf("demo traffic: %w", err)
					stopRun()
				}
			}()
		},
	})
	stopDemo()
	select {
	case derr := <-demoErr:
		err = errors.Join(derr, err)
	default:
	}
	return err
}

// printUp says where everything listens.
func printUp(out io.Writer, p *allinone.Pipeline, demo bool, demoRate float64) {
	cfg, a := p.Config(), p.Addrs()
	// base is addr's URL on a listener of l (https with its TLS)
	base := func(l listener.Config, addr string) string {
		if l.TLS.On() {
			return "https://" + addr
		}
		return "http://" + addr
	}
	graph := base(cfg.Flowgraph.HTTP, a.Flowgraph)
	fmt.Fprintf(out, `
flowlens is up, data in %s

  ClickHouse HTTP   %s      (Grafana's ClickHouse data source, curl, clickhouse-go;
                    users reader, writer, admin: passwords in %s)
  Kafka             %v
  OTLP (agent)      grpc %s   http %s
  flow graph API    %s/api/v1/graph   metrics %s/metrics
`, cfg.DataDir, base(cfg.ClickHouse.HTTP, a.ClickHouse), p.CredentialsPath(), a.Kafka, a.AgentOTLP.GRPC, a.AgentOTLP.HTTP, graph, graph)
	if a.Alerts != "" {
		alerts := base(cfg.Rules.HTTP, a.Alerts)
		fmt.Fprintf(out, "  alerts API        %s/api/v1/alerts   (%s alerts --url %s)\n", alerts, os.Args[0], alerts)
	}
	if a.Console != "" {
		fmt.Fprintf(out, "  web console       %s   (flow map, traces, logs, alerts)\n", a.Console)
	}
	self := os.Args[0] // ./bin/flowlens under make run
	fmt.Fprintf(out, `
Try, in another terminal:
  %[1]s spans --service checkout --limit 5
  %[1]s trace <trace-id from the spans>
  %[1]s graph --since 5m --api %[2]s
  curl -u reader:PASSWORD '%[3]s/?query=SELECT+ServiceName,count()+FROM+%[4]s.otel_traces+GROUP+BY+1'
`, self, graph, base(cfg.ClickHouse.HTTP, a.ClickHouse), cfg.Storage.Database)
	if !demo {
		fmt.Fprintf(out, "\nSend OTLP to the agent; Ctrl-C stops everything cleanly.\n")
		return
	}
	fmt.Fprintf(out, "\nThe demo shop sends %.0f requests/s (--demo=false turns it off); Ctrl-C stops everything cleanly.\n\n", demoRate)
}
