package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

func newClickHouseCmd(g *globalFlags) *cobra.Command {
	var cfg chserver.Config
	mergeNice := chserver.DefaultMergeNice
	cmd := &cobra.Command{
		Use:   "clickhouse",
		Short: "Serve the embedded ClickHouse engine on a ClickHouse-compatible HTTP port",
		Long: `Serve the embedded ClickHouse engine (chDB) on a ClickHouse-compatible HTTP
port. clickhouse-go, Grafana's ClickHouse data source and curl work against it:

  curl -u reader:PASSWORD 'http://127.0.0.1:8123/?query=SELECT+version()'

The engine's data is in --data-dir's clickhouse/ folder (data/clickhouse),
or in --data-dir itself when that is an engine's folder already. Requests
log in as reader, writer or admin, with the passwords generated in
credentials.yaml of that folder (see internal/embedded/chserver/SECURITY.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if cfg.DataDir == "" {
				cfg.DataDir = g.engineDir()
			}
			cfg.MergeNice = &mergeNice
			srv, err := chserver.New(cfg, component.Settings{Logger: log})
			if err != nil {
				return err
			}
			return component.Run(cmd.Context(), srv, component.RunOptions{Started: func() {
				fmt.Fprintf(cmd.OutOrStdout(), "ClickHouse HTTP on %s (data in %s); Ctrl-C stops it\nusers and passwords: %s\n",
					srv.URL(), cfg.DataDir, chserver.CredentialsPath(cfg.DataDir))
			}})
		},
	}
	cmd.Flags().StringVar(&cfg.HTTP.Listen, "listen", chserver.DefaultListen, "address to listen on")
	cmd.Flags().IntVar(&mergeNice, "merge-nice", chserver.DefaultMergeNice, "nice value of the engine's merge threads (0: as the rest of the process), so that inserts and queries come first")
	cmd.Flags().StringVar(&cfg.LibPath, "lib", "", "path of libchdb.so (default $CHDB_LIB_PATH or the make setup cache)")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the flowlens version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "flowlens", version)
		},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
