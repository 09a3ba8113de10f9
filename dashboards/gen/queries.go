package gen

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"

	model "github.com/flowlens/flowlens/dashboards/plugin/querymodel"
)

// Data source plugin types the dashboards use.
const (
	FlowlensType   = model.ID
	ClickHouseType = "grafana-clickhouse-datasource"
	PrometheusType = "prometheus"
)

// FlowlensQuery is a panel query of the flowlens data source: the plugin's
// own query model with the fields every Grafana query has.
type FlowlensQuery struct {
	RefID      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	model.Query
}

func (FlowlensQuery) ImplementsDataqueryVariant() {}
func (FlowlensQuery) DataqueryType() string       { return FlowlensType }
func (FlowlensQuery) Validate() error             { return nil }
func (q FlowlensQuery) Equals(o variants.Dataquery) bool {
	other, ok := o.(FlowlensQuery)
	return ok && reflect.DeepEqual(q, other)
}

// ClickHouseQuery is a raw SQL query of Grafana's ClickHouse data source
// (grafana-clickhouse-datasource, v4): queryType table, logs, timeSeries or
// traces, with the matching sqlutil format.
type ClickHouseQuery struct {
	RefID      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	EditorType string                `json:"editorType"`
	QueryType  string                `json:"queryType"`
	Format     int                   `json:"format"`
	RawSQL     string                `json:"rawSql"`
}

func (ClickHouseQuery) ImplementsDataqueryVariant() {}
func (ClickHouseQuery) DataqueryType() string       { return ClickHouseType }
func (ClickHouseQuery) Validate() error             { return nil }
func (q ClickHouseQuery) Equals(o variants.Dataquery) bool {
	other, ok := o.(ClickHouseQuery)
	return ok && reflect.DeepEqual(q, other)
}

// ClickHouse query types and the sqlutil formats they go with.
var ClickHouseFormats = map[string]int{"timeSeries": 0, "table": 1, "logs": 2, "traces": 3}

// query is a built data query as a cog builder.
type query struct{ q variants.Dataquery }

func (b query) Build() (variants.Dataquery, error) { return b.q, nil }

var _ cog.Builder[variants.Dataquery] = query{}

// Register teaches the foundation SDK's runtime the default panels and
// queries and the two query types above, so that dashboards unmarshal into
// typed queries.
func Register() {
	plugins.RegisterDefaultPlugins()
	rt := cog.NewRuntime()
	rt.RegisterDataqueryVariant(variantOf[FlowlensQuery](FlowlensType))
	rt.RegisterDataqueryVariant(variantOf[ClickHouseQuery](ClickHouseType))
}

// variantOf unmarshals queries of one data source type into Q; the strict
// form refuses fields Q does not have.
func variantOf[Q variants.Dataquery](typ string) variants.DataqueryConfig {
	return variants.DataqueryConfig{
		Identifier: typ,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q Q
			err := json.Unmarshal(raw, &q)
			return q, err
		},
		StrictDataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q Q
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			err := dec.Decode(&q)
			return q, err
		},
	}
}
