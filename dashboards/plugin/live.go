package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	sdkdata "github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

// liveBreakers reads every circuit breaker's current state from the flow
// analyzer's API (GET /api/v1/breakers).
func (d *Datasource) liveBreakers(ctx context.Context) ([]api.Breaker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.settings.AnalyzerURL+"/api/v1/breakers", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out []api.Breaker
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode breakers: %w", err)
	}
	return out, nil
}

// edgeAlerts maps edges to the names of the firing alerts about them.
type edgeAlerts map[edgeRef][]string

type edgeRef struct{ client, server, conn string }

// anyConn matches an edge of any connection type.
const anyConn = "\x00any"

// firingAlerts reads the firing alerts from the rules evaluator's API and
// keys them by the edge their labels name: client and server (the
// service-graph labels, with connection_type when present), service and
// target (breaker alerts), or destination (queue alerts: the node named
// after the queue, where undelivered messages end).
func (d *Datasource) firingAlerts(ctx context.Context) (edgeAlerts, error) {
	data, err := alertapi.Fetch(ctx, d.client, d.settings.AlertsURL)
	if err != nil {
		return nil, err
	}
	out := edgeAlerts{}
	for _, a := range data.Alerts {
		if a.State != "firing" {
			continue
		}
		l := a.Labels
		conn := anyConn
		if c, ok := l["connection_type"]; ok {
			conn = c
		}
		switch {
		case l["client"] != "" && l["server"] != "":
			out.add(edgeRef{l["client"], l["server"], conn}, a.Name)
		case l["service"] != "" && l["target"] != "":
			out.add(edgeRef{l["service"], l["target"], anyConn}, a.Name)
		case l["destination"] != "":
			out.add(edgeRef{"", l["destination"], anyConn}, a.Name)
		}
	}
	return out, nil
}

func (m edgeAlerts) add(k edgeRef, name string) {
	for _, n := range m[k] {
		if n == name {
			return
		}
	}
	m[k] = append(m[k], name)
}

// of returns the firing alerts about the edge client -> server.
func (m edgeAlerts) of(client, server, conn string) []string {
	var names []string
	for _, k := range []edgeRef{{client, server, conn}, {client, server, anyConn}, {"", server, anyConn}} {
		names = append(names, m[k]...)
	}
	sort.Strings(names)
	return names
}

// alerts answers an alerts query: the rules evaluator's pending and firing
// flow alerts (and those resolved a short while ago) as a table, firing
// first. State filters when not empty.
func (d *Datasource) alerts(ctx context.Context, _ *storage.Store, q query) backend.DataResponse {
	if d.settings.AlertsURL == "" {
		return errorResponse(fmt.Errorf("%w: no alerts API configured (alertsUrl)", errBadQuery))
	}
	data, err := alertapi.Fetch(ctx, d.client, d.settings.AlertsURL)
	if err != nil {
		return errorResponse(fmt.Errorf("alerts API at %s: %w", d.settings.AlertsURL, err))
	}
	alertapi.Sort(data.Alerts)
	var (
		states, names, labels, summaries []string
		values                           []float64
		active                           []time.Time
	)
	for _, a := range data.Alerts {
		if q.Status != "" && a.State != q.Status {
			continue
		}
		states, names = append(states, a.State), append(names, a.Name)
		labels = append(labels, alertapi.LabelString(a.Labels))
		summaries = append(summaries, a.Annotations["summary"])
		values, active = append(values, a.Value), append(active, a.ActiveAt.UTC())
	}
	f := sdkdata.NewFrame("alerts",
		sdkdata.NewField("state", nil, states).SetConfig(&sdkdata.FieldConfig{DisplayName: "State"}),
		sdkdata.NewField("alertname", nil, names).SetConfig(&sdkdata.FieldConfig{DisplayName: "Alert"}),
		sdkdata.NewField("labels", nil, labels).SetConfig(&sdkdata.FieldConfig{DisplayName: "Labels"}),
		sdkdata.NewField("value", nil, values).SetConfig(&sdkdata.FieldConfig{DisplayName: "Value"}),
		sdkdata.NewField("activeAt", nil, active).SetConfig(&sdkdata.FieldConfig{DisplayName: "Active since"}),
		sdkdata.NewField("summary", nil, summaries).SetConfig(&sdkdata.FieldConfig{DisplayName: "Summary"}),
	)
	f.Meta = &sdkdata.FrameMeta{PreferredVisualization: sdkdata.VisTypeTable}
	return backend.DataResponse{Frames: sdkdata.Frames{f}}
}
