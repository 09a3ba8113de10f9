package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/rules/alertapi"
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
