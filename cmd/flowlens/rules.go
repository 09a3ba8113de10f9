package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/rules/eval"
	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/rules/ruletest"
)

// newRulesCmd is `flowlens rules`: check, export, test and evaluate rule
// files (Prometheus rules plus flowlens shorthands).
func newRulesCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Alert rules on flows: check, export, test and evaluate rule files",
	}
	var (
		services []string
		analyzer string
	)
	cmd.PersistentFlags().StringSliceVar(&services, "services", nil, "known service names (comma-separated): rules naming others are errors")
	cmd.PersistentFlags().StringVar(&analyzer, "analyzer", "", "flow analyzer API base URL: the services and edges it saw in the last 24h are the known ones")
	opts := func(ctx context.Context) (rulefile.Options, error) {
		o := rulefile.Options{KnownServices: services}
		if analyzer != "" {
			client, err := g.apiClient(30 * time.Second)
			if err != nil {
				return o, err
			}
			top, err := rulefile.FetchTopology(ctx, client, trimURL(analyzer), 24*time.Hour)
			if err != nil {
				return o, err
			}
			o.KnownServices = append(o.KnownServices, top.Services...)
			o.KnownEdges = top.Edges
		}
		return o, nil
	}

	check := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate rule files; problems are printed as file:line:column: what is wrong",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := opts(cmd.Context())
			if err != nil {
				return err
			}
			bad := 0
			for _, f := range args {
				groups, diags := rulefile.LoadFile(f, o)
				for _, d := range diags {
					fmt.Fprintln(cmd.ErrOrStderr(), d.Error())
				}
				bad += len(diags)
				if len(diags) == 0 {
					n := 0
					for _, gr := range groups.Groups {
						n += len(gr.Rules)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s: OK\n", f, count(len(groups.Groups), "group", "groups"), count(n, "Prometheus rule", "Prometheus rules"))
				}
			}
			if bad > 0 {
				return fmt.Errorf("%s in rule files", count(bad, "problem", "problems"))
			}
			return nil
		},
	}

	var inline bool
	export := &cobra.Command{
		Use:   "export FILE",
		Short: "Print a rule file as plain Prometheus rules (shorthands compiled), for Prometheus, Mimir or Thanos",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := opts(cmd.Context())
			if err != nil {
				return err
			}
			o.Inline = inline
			groups, diags := rulefile.LoadFile(args[0], o)
			if len(diags) > 0 {
				for _, d := range diags {
					fmt.Fprintln(cmd.ErrOrStderr(), d.Error())
				}
				return fmt.Errorf("%s in %s: nothing exported", count(len(diags), "problem", "problems"), args[0])
			}
			out, err := rulefile.Export(groups)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	export.Flags().BoolVar(&inline, "inline", false, "compile shorthands to self-contained alerts without recording rules")

	test := &cobra.Command{
		Use:   "test FILE...",
		Short: "Run rule unit tests (promtool's test-file format; shorthands allowed in rule_files)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := opts(cmd.Context())
			if err != nil {
				return err
			}
			if !ruletest.RunFiles(cmd.Context(), cmd.OutOrStdout(), o, args...) {
				return errors.New("rule tests failed")
			}
			return nil
		},
	}

	cmd.AddCommand(check, export, test, newRulesEvalCmd(g, opts), newRulesSuggestCmd(g))
	return cmd
}

func newRulesEvalCmd(g *globalFlags, opts func(context.Context) (rulefile.Options, error)) *cobra.Command {
	var (
		cfgPath, scrape, listen string
		cfg                     eval.Config
	)
	cmd := &cobra.Command{
		Use:     "eval [RULE_FILE...]",
		Aliases: []string{"run"},
		Short:   "Evaluate rule files continuously, notify Alertmanager/webhooks, serve GET /api/v1/alerts",
		Long: `Evaluate rule files with Prometheus's rules engine, in this process.

Metrics come from a flow analyzer's /metrics page (--scrape, copied into a
local TSDB under --data-dir) or from a Prometheus-compatible query API
(--query-url). Pending and firing states survive restarts. SIGHUP re-reads
the rule files; invalid rules are skipped and listed, the valid ones run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cfg
			if cfgPath != "" {
				if err := config.Load(cfgPath, &cfg); err != nil {
					return err
				}
				// flags given on the command line win over the file
				if len(flags.RuleFiles) > 0 {
					cfg.RuleFiles = flags.RuleFiles
				}
				if flags.QueryURL != "" {
					cfg.QueryURL = flags.QueryURL
				}
				cfg.Notify.Alertmanagers = append(cfg.Notify.Alertmanagers, flags.Notify.Alertmanagers...)
				cfg.Notify.Webhooks = append(cfg.Notify.Webhooks, flags.Notify.Webhooks...)
			}
			cfg.RuleFiles = append(cfg.RuleFiles, args...)
			if cfg.DataDir == "" {
				cfg.DataDir = filepath.Join(g.DataDir, "rules")
			}
			o, err := opts(cmd.Context())
			if err != nil {
				return err
			}
			cfg.KnownServices = append(cfg.KnownServices, o.KnownServices...)
			cfg.KnownEdges = append(cfg.KnownEdges, o.KnownEdges...)
			if len(cfg.RuleFiles) == 0 {
				return errors.New("no rule files: give them as arguments or in --config rule_files")
			}
			if listen != "" {
				cfg.HTTP.Listen = listen
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			set := eval.Settings{Settings: component.Settings{Logger: log}}
			if cfg.QueryURL == "" {
				if scrape == "" {
					return errors.New("give --scrape (the flow analyzer's /metrics URL) or --query-url (a Prometheus-compatible API)")
				}
				client, err := g.apiClient(10 * time.Second)
				if err != nil {
					return err
				}
				set.FlowMetrics = eval.ScrapeGatherer{URL: scrape, Context: cmd.Context(), Client: client}
			}
			ev, err := eval.New(cfg, set)
			if err != nil {
				return err
			}
			skipped := func() {
				for _, p := range ev.InvalidRules() {
					fmt.Fprintln(cmd.ErrOrStderr(), "skipped:", p)
				}
			}
			return component.Run(cmd.Context(), ev, component.RunOptions{
				ShutdownTimeout: 10 * time.Second,
				Started: func() {
					skipped()
					api := "off"
					if u := ev.URL(); u != "" {
						api = u + alertapi.Path
					}
					log.Info("evaluating rules", zap.Strings("files", cfg.RuleFiles), zap.String("api", api))
					// said whatever the log level: --listen may ask for port 0
					fmt.Fprintln(cmd.ErrOrStderr(), "alerts:", api)
				},
				Reload: func() { // SIGHUP: re-read the rule files
					if err := ev.Reload(); err != nil {
						log.Error("reload rules", zap.Error(err))
					}
					skipped()
				},
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "evaluator config file (YAML: rule_files, interval, data_dir, query_url, notify...)")
	f.StringVar(&scrape, "scrape", "", "flow analyzer /metrics URL to copy into the local TSDB")
	f.StringVar(&cfg.QueryURL, "query-url", "", "Prometheus-compatible API to query instead of the local TSDB")
	f.StringSliceVar(&cfg.Notify.Alertmanagers, "alertmanager", nil, "Alertmanager base URL (repeatable)")
	f.StringSliceVar(&cfg.Notify.Webhooks, "webhook", nil, "webhook URL receiving firing and resolved alerts (repeatable)")
	f.DurationVar(&cfg.Interval, "interval", 30*time.Second, "default evaluation interval")
	f.StringVar(&listen, "listen", "", "address of the alerts API (GET /api/v1/alerts) and /metrics (default "+eval.DefaultListen+"; off turns it off)")
	return cmd
}

func trimURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimRight(s, "/")
}
