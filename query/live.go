package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/rules/alertapi"
)

// AnalyzerAPI reads live breaker states from the flow analyzer's API
// (GET /api/v1/breakers).
type AnalyzerAPI struct {
	URL    string // http://host:8428
	Client *http.Client
}

func (a AnalyzerAPI) String() string { return "flow analyzer API at " + a.URL }

// Breakers reads every circuit breaker's current state.
func (a AnalyzerAPI) Breakers(ctx context.Context) ([]api.Breaker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.URL, "/")+"/api/v1/breakers", nil)
	if err != nil {
		return nil, err
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
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

// AlertsAPI reads alerts from the rules evaluator's API (GET /api/v1/alerts).
type AlertsAPI struct {
	URL    string // http://host:9095
	Client *http.Client
}

func (a AlertsAPI) String() string { return "alerts API at " + a.URL }

// Alerts reads the pending, firing and recently resolved alerts.
func (a AlertsAPI) Alerts(ctx context.Context) ([]alertapi.Alert, error) {
	d, err := alertapi.Fetch(ctx, a.Client, a.URL)
	if err != nil {
		return nil, err
	}
	return d.Alerts, nil
}

// AlertList answers the alerts question: every alert of the evaluator, firing
// first (alertapi.Sort), only those in state when it is not empty.
// ErrNoAlerts without an alert source.
func (r Reader) AlertList(ctx context.Context, state string) ([]alertapi.Alert, error) {
	switch state {
	case "", "firing", "pending", "resolved":
	default:
		return nil, fmt.Errorf("%w: state %q: want firing, pending or resolved", ErrBadRequest, state)
	}
	if r.Alerts == nil {
		return nil, ErrNoAlerts
	}
	all, err := r.Alerts.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(r.Alerts), err)
	}
	alertapi.Sort(all)
	out := all[:0:0]
	for _, a := range all {
		if state == "" || a.State == state {
			out = append(out, a)
		}
	}
	return out, nil
}

// EdgeAlerts are the alerts (any state) whose labels name the edge client
// -> server of connection type conn ("" a plain call), firing first.
func (r Reader) EdgeAlerts(ctx context.Context, client, server, conn string) ([]alertapi.Alert, error) {
	all, err := r.AlertList(ctx, "")
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, a := range all {
		if k, ok := edgeOfLabels(a.Labels); ok && k.names(client, server, conn) {
			out = append(out, a)
		}
	}
	return out, nil
}
