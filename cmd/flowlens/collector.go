package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
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
			var cfg collector.Config
			if err := config.Load(cfgPath, &cfg); err != nil {
				return err
			}
			if brokers != "" {
				cfg.Kafka.Brokers = strings.Split(brokers, ",")
			}
			if listen != "" {
				cfg.HTTPAddr = listen
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			// The batches' budget is an estimate of their memory; a soft
			// heap limit just above it makes the GC work harder before the
			// heap outgrows it, instead of letting it double on top
			// (GOGC). GOMEMLIMIT, when set, wins.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(cfg.MaxBufferedBytes + collectorHeapBase)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()

			if len(cfg.Kafka.Brokers) == 0 {
				bcfg := kafkabroker.Config{Addr: brokerAddr, DataDir: filepath.Join(g.DataDir, "kafka"), Topics: cfg.Topics}
				broker, err := kafkabroker.New(bcfg, component.Settings{Logger: log.Named("kafka")})
				if err != nil {
					return err
				}
				if err := broker.Start(ctx); err != nil {
					return err
				}
				defer broker.Shutdown(context.Background())
				cfg.Kafka.Brokers = broker.Addrs()
			}

			st, closeStore, err := g.openStore(ctx, log, chserver.RoleWriter, true)
			if err != nil {
				return err
			}
			defer closeStore()

			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			c, err := collector.New(cfg, st, log.Named("collector"), reg)
			if err != nil {
				return err
			}
			if err := c.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "collector: Kafka %s -> ClickHouse database %s; metrics on http://%s/metrics\n",
				strings.Join(cfg.Kafka.Brokers, ","), st.Database(), cfg.HTTPAddr)
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return c.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "collector config file (YAML: kafka, topics, group_id, batch, ...)")
	f.StringVar(&brokers, "brokers", "", "Kafka brokers host:port,... (overrides the file; none: the embedded broker)")
	f.StringVar(&listen, "listen", "", "address of /metrics and /healthz (default 127.0.0.1:9465; off disables)")
	f.StringVar(&brokerAddr, "kafka-listen", "127.0.0.1:9092", "address of the embedded broker when no brokers are configured")
	return cmd
}

// collectorHeapBase is the collector's heap beyond its batches: Kafka
// readers' queues and fetch buffers, insert buffers, metrics.
const collectorHeapBase = 256 << 20
