// Package gen builds flowlens's Grafana dashboards as code, with the
// Grafana foundation SDK, in two sets:
//
//   - flowlens-*: on the flowlens data source plugin (the flow graph, traces,
//     logs, per-edge series, flow alerts);
//   - otel-*: the same views as far as they go without the plugin, for
//     Grafana's ClickHouse data source (OTel tables, raw SQL) and a Prometheus
//     data source scraping the flow analyzer's metrics.
//
// Data sources are dashboard variables (datasource, clickhouse, prometheus),
// so the dashboards work with any data source of the right type.
// dashboards/json holds the generated JSON (`go test ./dashboards/gen
// -update` rewrites it); `flowlens grafana provision` writes the same.
package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// Dashboard is one generated dashboard and the file it is written to.
type Dashboard struct {
	File  string // e.g. flowlens-overview.json
	Board dashboard.Dashboard
}

// SchemaVersion is the dashboard schema of Grafana 10.4, the oldest Grafana
// the plugin supports: newer versions migrate it on load.
const SchemaVersion = 39

// Set tags tell the two sets apart (links between dashboards stay within a set).
const (
	TagFlowlens = "flowlens"
	TagPlugin   = "flowlens-plugin"
	TagOTel     = "flowlens-otel"
)

// Dashboards builds every dashboard, ordered by file name.
func Dashboards() ([]Dashboard, error) {
	builders := map[string]*dashboard.DashboardBuilder{
		"flowlens-overview.json": pluginOverview(),
		"flowlens-service.json":  pluginService(),
		"flowlens-edge.json":     pluginEdge(),
		"flowlens-trace.json":    pluginTrace(),
		"otel-overview.json":     otelOverview(),
		"otel-service.json":      otelService(),
		"otel-edge.json":         otelEdge(),
		"otel-trace.json":        otelTrace(),
	}
	out := make([]Dashboard, 0, len(builders))
	for file, b := range builders {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("build dashboard %s: %w", file, err)
		}
		d.SchemaVersion = SchemaVersion
		out = append(out, Dashboard{File: file, Board: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// JSON is the dashboard as Grafana imports it, indented, ending in a newline.
func JSON(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep -> and & readable in queries and links
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", deref(d.Title), err)
	}
	return buf.Bytes(), nil
}

// Write writes every dashboard into dir.
func Write(dir string) error {
	ds, err := Dashboards()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, d := range ds {
		b, err := JSON(d.Board)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, d.File), b, 0o644); err != nil {
			return fmt.Errorf("write dashboard: %w", err)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Data source references through the dashboards' data source variables.
var (
	flowlensDS   = dsRef(FlowlensType, "datasource")
	clickhouseDS = dsRef(ClickHouseType, "clickhouse")
	prometheusDS = dsRef(PrometheusType, "prometheus")
)

func dsRef(typ, variable string) common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(typ), Uid: cog.ToPtr("${" + variable + "}")}
}

// base is a dashboard of a set with its links to the others of the set.
func base(uid, title, tag, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{TagFlowlens, tag}).
		Editable().
		Refresh("1m").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("flowlens").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{tag}).
			AsDropdown(true).
			KeepTime(true).
			IncludeVars(false))
}

func datasourceVar(name, label, typ string) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(name).Label(label).Type(typ)
}

func textVar(name, label, description string) *dashboard.TextBoxVariableBuilder {
	return dashboard.NewTextBoxVariableBuilder(name).Label(label).Description(description)
}

// transform is one of Grafana's data transformations.
func transform(id string, options map[string]any) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: id, Options: options}
}

// topTable turns series into a table of one row per series, by the mean
// over the range, the largest first.
func topTable(calc string, n int) []dashboard.DataTransformerConfig {
	return []dashboard.DataTransformerConfig{
		transform("reduce", map[string]any{"reducers": []string{calc}, "mode": "seriesToRows", "includeTimeField": false}),
		transform("sortBy", map[string]any{"sort": []map[string]any{{"field": reducerTitle[calc], "desc": true}}}),
		transform("limit", map[string]any{"limitField": n}),
	}
}

// reducerTitle is the column Grafana's reduce transformation names after a reducer.
var reducerTitle = map[string]string{"mean": "Mean", "max": "Max", "lastNotNull": "Last *"}

// valueMappings is a value-to-text mapping.
func valueMappings(m map[string][2]string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	i := int32(0)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts[k] = dashboard.ValueMappingResult{Text: cog.ToPtr(m[k][0]), Color: cog.ToPtr(m[k][1]), Index: cog.ToPtr(i)}
		i++
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// breakerStates maps breaker_state values (0 closed, 1 half-open, 2 open).
var breakerStates = valueMappings(map[string][2]string{"0": {"closed", "green"}, "1": {"half-open", "orange"}, "2": {"open", "red"}})

func link(title, url string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).Url(url)
}

func legend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true)
}

func tableLegend(calcs ...string) *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementRight).
		ShowLegend(true).Calcs(calcs)
}

// newTable is a table panel; the footer's reducer list is written as [],
// which Grafana and the SDK's strict reader expect, rather than null.
func newTable() *table.PanelBuilder {
	return table.NewPanelBuilder().Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{}))
}
