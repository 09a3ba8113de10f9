package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/chserver"
	"github.com/flowlens/flowlens/storage"
)

// upConfig is what `flowlens up` starts; every part has its own defaults.
type upConfig struct {
	ClickHouseAddr string
}

func newUpCmd(g *globalFlags) *cobra.Command {
	var cfg upConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole pipeline on this machine with embedded Kafka and ClickHouse",
		Long: `Run the whole pipeline in one process with one data folder (--data-dir):
the embedded ClickHouse engine with its HTTP endpoint, the embedded Kafka
broker, the collector, the flow analyzer and a local agent. Ctrl-C shuts down
cleanly; starting again keeps all data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), g, cfg, log, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&cfg.ClickHouseAddr, "clickhouse-listen", storage.DefaultAddr, "address of the embedded ClickHouse HTTP endpoint")
	return cmd
}

// stopper is a started part of the pipeline.
type stopper struct {
	name string
	stop func(context.Context) error
}

func runUp(ctx context.Context, g *globalFlags, cfg upConfig, log *zap.Logger, out io.Writer) (err error) {
	var started []stopper
	defer func() {
		// Stop in reverse order: sources first, storage last, so every
		// component can flush into the ones it feeds.
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := len(started) - 1; i >= 0; i-- {
			if serr := started[i].stop(sctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop %s: %w", started[i].name, serr))
			}
		}
	}()

	ch, err := chserver.New(chserver.Config{Addr: cfg.ClickHouseAddr, DataDir: filepath.Join(g.DataDir, "clickhouse")}, log.Named("clickhouse"))
	if err != nil {
		return err
	}
	if err := ch.Start(ctx); err != nil {
		_ = ch.Shutdown(context.Background())
		return err
	}
	started = append(started, stopper{"clickhouse", ch.Shutdown})

	scfg := storage.Config{Addr: ch.Addr(), Database: g.Database}
	scfg.SetDefaults()
	st, err := storage.Open(ctx, scfg, log.Named("storage"))
	if err != nil {
		return err
	}
	started = append(started, stopper{"storage client", func(context.Context) error { return st.Close() }})
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}

	fmt.Fprintf(out, `flowlens is up (data in %s)

  ClickHouse HTTP   http://%s   (Grafana's ClickHouse data source, curl, clickhouse-go)

Try:
  flowlens spans --limit 10
  flowlens trace <trace-id>
  curl 'http://%s/?query=SELECT+count()+FROM+%s.otel_traces'

Ctrl-C stops everything cleanly.
`, g.DataDir, ch.Addr(), ch.Addr(), g.Database)
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}
