package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/storage"
)

func newMigrateCmd(g *globalFlags) *cobra.Command {
	var (
		print       bool
		cluster     string
		ttl         storage.TTLConfig
		granularity int
		logsGran    int
		indexGran   int
		projection  bool
		mergeTree   map[string]string
	)
	schema := func(c *storage.Config) {
		c.Cluster, c.TTL, c.TracesGranularity, c.TraceIDProjection = cluster, ttl, granularity, &projection
		c.LogsGranularity, c.TraceIndexGranularity = logsGran, indexGran
		if len(mergeTree) > 0 {
			c.MergeTreeSettings = mergeTree
		}
	}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the ClickHouse schema (idempotent)",
		Long: `Create the database and apply every schema migration not yet applied
(recorded in flowlens_migrations). Running it again changes nothing.

--print writes the whole schema as SQL instead, without connecting: with
--cluster it is the production layout (ON CLUSTER, Replicated*MergeTree
local tables and Distributed tables) to review or apply by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if print {
				cfg := storage.Config{Database: g.Database}
				cfg.SetDefaults()
				schema(&cfg)
				if err := cfg.Validate(); err != nil {
					return err
				}
				sql, err := storage.SchemaSQL(cfg)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(cmd.OutOrStdout(), sql)
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, closeStore, err := g.openStore(cmd.Context(), log, chserver.RoleAdmin, false)
			if err != nil {
				return err
			}
			defer closeStore()
			st, err = st.WithSchema(func(c *storage.Config) {
				schema(c)
				if c.TracesGranularity == 0 {
					c.TracesGranularity = storage.DefaultTracesGranularity
				}
			})
			if err != nil {
				return err
			}
			applied, err := st.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.Output == "json" {
				return writeJSON(out, map[string]any{"database": st.Database(), "applied": nonNil(applied)})
			}
			if len(applied) == 0 {
				fmt.Fprintf(out, "schema of %s is up to date\n", st.Database())
				return nil
			}
			fmt.Fprintf(out, "applied migrations %v to %s\n", applied, st.Database())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&print, "print", false, "print the schema SQL instead of applying it")
	f.StringVar(&cluster, "cluster", "", "ClickHouse cluster name: emit ON CLUSTER / Replicated / Distributed DDL")
	f.IntVar(&ttl.Traces, "ttl-traces", 0, "retention of otel_traces in days (0 = forever)")
	f.IntVar(&ttl.Logs, "ttl-logs", 0, "retention of otel_logs in days (0 = forever)")
	f.IntVar(&ttl.TraceIndex, "ttl-trace-index", 0, "retention of the trace-ID index in days (0 = as traces)")
	f.IntVar(&ttl.Edges, "ttl-edges", 0, "retention of flow_edges in days (0 = forever)")
	f.IntVar(&granularity, "traces-granularity", storage.DefaultTracesGranularity, "index_granularity of otel_traces (the exporter uses 8192)")
	f.IntVar(&logsGran, "logs-granularity", storage.DefaultLogsGranularity, "index_granularity of otel_logs, with compressed blocks of 8-128x it bytes (the exporter uses 8192)")
	f.IntVar(&indexGran, "trace-index-granularity", storage.DefaultTraceIndexGranularity, "index_granularity of the trace-ID index otel_traces_trace_id_ts (8192 before)")
	f.StringToStringVar(&mergeTree, "merge-tree-setting", nil, "extra MergeTree setting of the tables it creates, name=value (repeatable), e.g. merge_selector_base=20")
	f.BoolVar(&projection, "trace-id-projection", true, "keep a projection of otel_traces ordered by TraceId (lookups by ID ~3x faster, inserts ~20% slower)")
	return cmd
}
