package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

func newConsoleCmd(g *globalFlags) *cobra.Command {
	var (
		cfgPath string
		flags   console.Config
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console over a ClickHouse, a flow analyzer and an alerts API",
		Long: `Serve the web console (the flow map, services, edges, traces, logs and
alerts) over the flowlens tables of a ClickHouse (--clickhouse, --database),
with live breaker states from a flow analyzer's API (--analyzer-url) and
alerts from a rules evaluator's API (--alerts-url), both optional.
flowlens up serves the same console over its own parts.

The console is read-only. Without --config's tls and auth it serves
whoever reaches its address: keep it on loopback.`,
		Example: `  flowlens console --clickhouse http://ch.internal:8123 --analyzer-url http://127.0.0.1:8428
  flowlens console --listen 127.0.0.1:9401 --alerts-url http://127.0.0.1:9095`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg console.Config
			if err := config.Load(cfgPath, &cfg); err != nil {
				return err
			}
			// flags given on the command line win over the file
			f := cmd.Flags()
			if f.Changed("listen") || cfgPath == "" {
				cfg.HTTP.Listen = flags.HTTP.Listen
			}
			if f.Changed("analyzer-url") {
				cfg.AnalyzerURL = flags.AnalyzerURL
			}
			if f.Changed("alerts-url") {
				cfg.AlertsURL = flags.AlertsURL
			}
			if f.Changed("timeout") {
				cfg.Timeout = flags.Timeout
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			var c *console.Console
			parts := &component.Group{Parts: []component.Part{{Name: "console", Build: func(ctx context.Context) (component.Component, error) {
				st, closeStore, err := g.openStore(ctx, log, chserver.RoleReader, false) // read-only: it never writes
				if err != nil {
					return nil, err
				}
				reg := prometheus.NewRegistry()
				if c, err = console.New(cfg, console.Settings{Settings: component.Settings{Logger: log.Named("console"), Registerer: reg}, Store: st}); err != nil {
					closeStore()
					return nil, err
				}
				_ = st.RegisterMetrics(reg) // a new registry: cannot collide
				return withClose(c, closeStore), nil
			}}}}
			return component.Run(cmd.Context(), parts, component.RunOptions{ShutdownTimeout: 10 * time.Second, Started: func() {
				fmt.Fprintf(cmd.OutOrStdout(), "flowlens console at %s (Ctrl-C stops it)\n", c.URL())
			}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "console config file (YAML: listen, tls, auth, analyzer_url, alerts_url, timeout)")
	f.StringVar(&flags.HTTP.Listen, "listen", console.DefaultListen, "address of the console")
	f.StringVar(&flags.AnalyzerURL, "analyzer-url", "", "flow analyzer API for live breaker states, e.g. http://127.0.0.1:8428")
	f.StringVar(&flags.AlertsURL, "alerts-url", "", "rules evaluator API for alerts, e.g. http://127.0.0.1:9095")
	f.DurationVar(&flags.Timeout, "timeout", 30*time.Second, "bound of each request")
	return cmd
}

// withClose is c whose Shutdown also calls closeFn (the storage client it
// reads with).
func withClose(c component.Component, closeFn func()) component.Component {
	return component.Funcs{StartFunc: c.Start, ShutdownFunc: func(ctx context.Context) error {
		defer closeFn()
		return c.Shutdown(ctx)
	}}
}

// consoleEnv names the console's base URL for CLI commands that print links.
const consoleEnv = "FLOWLENS_CONSOLE_URL"

// consoleBase is the base URL of a console to link to: flag, else
// $FLOWLENS_CONSOLE_URL, else the default address when a flowlens console
// answers there (flowlens up runs one); "" when none is known.
func consoleBase(ctx context.Context, flag string) string {
	for _, u := range []string{flag, os.Getenv(consoleEnv)} {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			return u
		}
	}
	base := "http://" + console.DefaultListen
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/about", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var about struct {
		EdgeMetrics []string `json:"edge_metrics"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&about) != nil || len(about.EdgeMetrics) == 0 {
		return "" // something else listens there
	}
	return base
}

// consoleTraceURL is the console's page of a trace.
func consoleTraceURL(base, traceID string) string {
	return base + "/traces/" + url.PathEscape(traceID)
}
