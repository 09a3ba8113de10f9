package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

func newFlowgraphCmd(g *globalFlags) *cobra.Command {
	var (
		cfgPath   string
		listen    string
		brokers   string
		noStorage bool
	)
	cmd := &cobra.Command{
		Use:   "flowgraph",
		Short: "Run the flow analyzer: spans from Kafka -> service graph metrics, rollups and the graph API",
		Long: `Run the flow analyzer. It reads otlp_spans (and otlp_logs for circuit-breaker
records) in its own consumer group, pairs client/server and producer/consumer
spans, and serves:

  /metrics              traces_service_graph_* and flowlens_flow_* metrics
  /api/v1/graph         the graph of a time range (JSON)
  /api/v1/services/NAME/edges
  /api/v1/breakers

and writes per-minute rollups to the flow_edges table of ClickHouse.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg flowgraph.Config
			if cfgPath != "" {
				if err := config.Load(cfgPath, &cfg); err != nil {
					return err
				}
			} else {
				cfg.SetDefaults()
			}
			// flags override the file
			if listen != "" {
				cfg.Listen = listen
			}
			if brokers != "" {
				cfg.Kafka.Brokers = strings.Split(brokers, ",")
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			if len(cfg.Kafka.Brokers) == 0 {
				return fmt.Errorf("no Kafka brokers: set kafka.brokers in --config or --brokers (flowlens up runs the analyzer with its embedded broker)")
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			opt := flowgraph.Options{Logger: log}
			if !noStorage {
				st, closeStore, err := g.openStore(ctx, log, chserver.RoleWriter, true)
				if err != nil {
					return err
				}
				defer closeStore()
				opt.Store = st
			}
			svc, err := flowgraph.NewService(cfg, opt)
			if err != nil {
				return err
			}
			if err := svc.Start(ctx); err != nil {
				_ = svc.Shutdown(context.Background())
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flowgraph: metrics on http://%s/metrics, graph on http://%s/api/v1/graph; Ctrl-C stops it\n", svc.Addr(), svc.Addr())
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Store.Wait+30*time.Second)
			defer cancel()
			return svc.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (flowgraph.Config)")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP address for /metrics and /api (default 127.0.0.1:8428)")
	cmd.Flags().StringVar(&brokers, "brokers", "", "comma-separated Kafka brokers")
	cmd.Flags().BoolVar(&noStorage, "no-storage", false, "do not write rollups to ClickHouse (metrics and in-memory graph only)")
	return cmd
}
