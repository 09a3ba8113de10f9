package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/internal/component"
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
			var file componentFile[flowgraph.Config]
			if err := config.Load(cfgPath, &file); err != nil {
				return err
			}
			cfg, storageCfg := file.Component, g.storageConfig(file.Storage, cmd.Flags())
			// flags override the file
			if listen != "" {
				cfg.HTTP.Listen = listen
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
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			set := flowgraph.Settings{Settings: component.Settings{Logger: log, Registerer: reg}}
			var svc *flowgraph.Service
			parts := &component.Group{Parts: []component.Part{
				{Name: "storage", Build: func(ctx context.Context) (component.Component, error) {
					if noStorage {
						return nil, nil
					}
					st, closeStore, err := g.openStoreWith(ctx, log, storageCfg, chserver.RoleWriter, true)
					if err != nil {
						return nil, err
					}
					set.Store = st
					return component.Funcs{ShutdownFunc: func(context.Context) error { closeStore(); return nil }}, st.RegisterMetrics(reg)
				}},
				{Name: "flow analyzer", Build: func(context.Context) (component.Component, error) {
					svc, err = flowgraph.New(cfg, set)
					return svc, err
				}},
			}}
			return component.Run(cmd.Context(), parts, component.RunOptions{
				ShutdownTimeout: cfg.Store.Wait + 30*time.Second,
				Started: func() {
					fmt.Fprintf(cmd.OutOrStdout(), "flowgraph: metrics on %[1]s/metrics, graph on %[1]s/api/v1/graph; Ctrl-C stops it\n", svc.URL())
				},
			})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (flowgraph.Config, and a storage section as in flowlens up's: cluster, ttl, compression, max_open_conns, username, ...)")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP address for /metrics and /api (default "+flowgraph.DefaultListen+")")
	cmd.Flags().StringVar(&brokers, "brokers", "", "comma-separated Kafka brokers")
	cmd.Flags().BoolVar(&noStorage, "no-storage", false, "do not write rollups to ClickHouse (metrics and in-memory graph only)")
	return cmd
}
