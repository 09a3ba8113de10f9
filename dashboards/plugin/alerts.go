package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

// alerts answers an alerts query: the rules evaluator's pending and firing
// flow alerts (and those resolved a short while ago) as a table, firing
// first. Status filters when not empty.
func (d *Datasource) alerts(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	list, err := d.reader(st).AlertList(ctx, q.Status)
	if errors.Is(err, query.ErrNoAlerts) {
		err = fmt.Errorf("%w (alertsUrl)", err)
	}
	if err != nil {
		return errorResponse(err)
	}
	var (
		states, names, labels, summaries []string
		values                           []float64
		active                           []time.Time
	)
	for _, a := range list {
		states, names = append(states, a.State), append(names, a.Name)
		labels = append(labels, alertapi.LabelString(a.Labels))
		summaries = append(summaries, a.Annotations["summary"])
		values, active = append(values, a.Value), append(active, a.ActiveAt.UTC())
	}
	f := data.NewFrame("alerts",
		data.NewField("state", nil, states).SetConfig(&data.FieldConfig{DisplayName: "State"}),
		data.NewField("alertname", nil, names).SetConfig(&data.FieldConfig{DisplayName: "Alert"}),
		data.NewField("labels", nil, labels).SetConfig(&data.FieldConfig{DisplayName: "Labels"}),
		data.NewField("value", nil, values).SetConfig(&data.FieldConfig{DisplayName: "Value"}),
		data.NewField("activeAt", nil, active).SetConfig(&data.FieldConfig{DisplayName: "Active since"}),
		data.NewField("summary", nil, summaries).SetConfig(&data.FieldConfig{DisplayName: "Summary"}),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTable}
	return backend.DataResponse{Frames: data.Frames{f}}
}
