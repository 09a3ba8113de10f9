package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/dashboards/provision"
	"github.com/flowlens/flowlens/rules/eval"
	"github.com/flowlens/flowlens/storage"
)

// newGrafanaCmd is `flowlens grafana`: what a Grafana instance needs.
func newGrafanaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "grafana", Short: "Set up Grafana for flowlens: data sources and dashboards"}
	cmd.AddCommand(newGrafanaProvisionCmd())
	return cmd
}

func newGrafanaProvisionCmd() *cobra.Command {
	var c provision.Config
	var noPlugin, noOTel bool
	cmd := &cobra.Command{
		Use:   "provision --out DIR",
		Short: "Write Grafana provisioning files (data sources, dashboard provider) and the dashboards",
		Long: `Writes DIR/provisioning/{datasources,dashboards}/flowlens.yaml and DIR/dashboards/.
Point Grafana's paths.provisioning at DIR/provisioning (or copy the files into it).
The flowlens data source needs the plugin installed and, unsigned, named in
[plugins] allow_loading_unsigned_plugins = ` + querymodel.ID + `.
Credentials come from Grafana's environment: FLOWLENS_CLICKHOUSE_USER, FLOWLENS_CLICKHOUSE_PASSWORD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Plugin, c.OTel = !noPlugin, !noOTel
			files, err := provision.Write(c)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Out, "out", "", "folder to write into (required)")
	f.StringVar(&c.DashboardsPath, "dashboards-path", "", "the dashboards folder as Grafana sees it (default: the absolute path of DIR/dashboards)")
	f.StringVar(&c.ClickHouse, "clickhouse", storage.DefaultAddr, "ClickHouse HTTP interface, host:port or http(s)://host:port")
	f.StringVar(&c.Database, "database", "flowlens", "database of flowlens's tables")
	f.StringVar(&c.AnalyzerURL, "analyzer-url", "http://127.0.0.1:8428", `flow analyzer API for live breaker states ("" leaves it out)`)
	f.StringVar(&c.AlertsURL, "alerts-url", "http://"+eval.DefaultListen, `rules evaluator API for firing flow alerts ("" leaves it out)`)
	f.StringVar(&c.PrometheusURL, "prometheus-url", "http://127.0.0.1:9090", "Prometheus scraping the flow metrics (dashboards without the plugin)")
	f.BoolVar(&noPlugin, "no-plugin", false, "leave out the flowlens data source and its dashboards")
	f.BoolVar(&noOTel, "no-otel", false, "leave out the ClickHouse and Prometheus data sources and their dashboards")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
