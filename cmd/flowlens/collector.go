package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/storage"
)

func newCollectorCmd(g *globalFlags) *cobra.Command {
	var (
		cfgPath    string
		brokers    string
		listen     string
		brokerAddr string
	)
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Store spans and logs from Kafka (otlp_spans, otlp_logs) in ClickHouse, each exactly once",
		Long: `Run the collector: a Kafka consumer group over otlp_spans and otlp_logs that
stores every span and log record in ClickHouse exactly once, even across
crashes, rebalances and storage outages. Undecodable messages and records the
storage refuses go to the dead-letter topic with a reason header.

With no Kafka brokers configured it starts the embedded broker on
--kafka-listen with its data in <data-dir>/kafka.

  /metrics   flowlens_collector_* (messages, rows, dead letters, batches, lag, retries)
  /healthz   200 while running ("degraded" while storage is failing)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var file componentFile[collector.Config]
			if err := config.Load(cfgPath, &file); err != nil {
				return err
			}
			cfg, storageCfg := file.Component, g.storageConfig(file.Storage, cmd.Flags())
			if brokers != "" {
				cfg.Kafka.Brokers = strings.Split(brokers, ",")
			}
			if listen != "" {
				cfg.HTTP.Listen = listen
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			// The heap is bounded by memory_limit, and the GC runs when it
			// gets there rather than each time the heap doubles (see
			// collector.Config.MemoryLimit). The environment wins.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(int64(cfg.MemoryLimitOrDefault()))
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(-1)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			var (
				broker *kafkabroker.Broker
				st     *storage.Store
				coll   *collector.Collector
				parts  component.Group
			)
			if len(cfg.Kafka.Brokers) == 0 {
				parts.Parts = append(parts.Parts, component.Part{Name: "embedded broker", Build: func(context.Context) (component.Component, error) {
					bcfg := kafkabroker.Config{Addr: brokerAddr, DataDir: filepath.Join(g.DataDir, "kafka"), Topics: cfg.Topics}
					var err error
					broker, err = kafkabroker.New(bcfg, component.Settings{Logger: log.Named("kafka")})
					return broker, err
				}})
			}
			parts.Parts = append(parts.Parts,
				component.Part{Name: "storage", Build: func(ctx context.Context) (component.Component, error) {
					var closeStore func()
					var err error
					st, closeStore, err = g.openStoreWith(ctx, log, storageCfg, chserver.RoleWriter, true)
					return component.Funcs{ShutdownFunc: func(context.Context) error { closeStore(); return nil }}, err
				}},
				component.Part{Name: "collector", Build: func(context.Context) (component.Component, error) {
					if broker != nil {
						cfg.Kafka.Brokers = broker.Addrs()
					}
					reg := prometheus.NewRegistry()
					reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
					if err := st.RegisterMetrics(reg); err != nil {
						return nil, err
					}
					var err error
					coll, err = collector.New(cfg, collector.Settings{Settings: component.Settings{Logger: log.Named("collector"), Registerer: reg}, Store: st})
					return coll, err
				}})
			return component.Run(cmd.Context(), &parts, component.RunOptions{Started: func() {
				metrics := "off"
				if a := coll.HTTPAddr(); a != "" {
					metrics = a + "/metrics"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "collector: Kafka %s -> ClickHouse database %s; metrics on %s\n",
					strings.Join(cfg.Kafka.Brokers, ","), st.Database(), metrics)
			}})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "collector config file (YAML: kafka, topics, group_id, batch, ..., and a storage section as in flowlens up's: cluster, ttl, compression, max_open_conns, username, ...)")
	f.StringVar(&brokers, "brokers", "", "Kafka brokers host:port,... (overrides the file; none: the embedded broker)")
	f.StringVar(&listen, "listen", "", "address of /metrics and /healthz (default "+collector.DefaultListen+"; off turns it off)")
	f.StringVar(&brokerAddr, "kafka-listen", "127.0.0.1:9092", "address of the embedded broker when no brokers are configured")
	return cmd
}
