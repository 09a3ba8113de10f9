package query

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

// Rules reads the rules that run (none from an evaluator that does not
// list them).
func (a AlertsAPI) Rules(ctx context.Context) ([]alertapi.Rule, error) {
	d, err := alertapi.Fetch(ctx, a.Client, a.URL)
	if err != nil {
		return nil, err
	}
	return d.Rules, nil
}

// LocalAlerts reads the rules evaluator in this process (flowlens up's
// console): an AlertSource and a RuleSource without HTTP.
type LocalAlerts struct {
	Source alertapi.Source
}

func (l LocalAlerts) String() string { return "rules evaluator" }

// Alerts are the evaluator's pending, firing and recently resolved alerts.
func (l LocalAlerts) Alerts(context.Context) ([]alertapi.Alert, error) { return l.Source.Alerts(), nil }

// Rules are the rules that run, when the evaluator lists them.
func (l LocalAlerts) Rules(context.Context) ([]alertapi.Rule, error) {
	if rs, ok := l.Source.(alertapi.RuleSource); ok {
		return rs.Rules(), nil
	}
	return nil, nil
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

// Rule scopes: what a rule watching an edge watches.
const (
	ScopeEdge = "edge" // its labels name this edge (client and server, or the destination)
	ScopeAll  = "all"  // it names no single flow: every flow its expression selects (a breaker rule)
)

// WatchingRule is a rule that watches an edge, with its alerts about it.
type WatchingRule struct {
	alertapi.Rule
	Scope  string           `json:"scope"`
	Alerts []alertapi.Alert `json:"alerts"`
}

// EdgeRules are the rules that watch the edge client -> server of
// connection type conn ("" a plain call): those whose labels name it, those
// that name no single flow, and any rule with an alert about the edge,
// each with its alerts about the edge; rules with such alerts first.
// Without a RuleSource only rules with alerts about the edge are known.
func (r Reader) EdgeRules(ctx context.Context, client, server, conn string) ([]WatchingRule, error) {
	all, err := r.AlertList(ctx, "")
	if err != nil {
		return nil, err
	}
	var rules []alertapi.Rule
	if rs, ok := r.Alerts.(RuleSource); ok {
		if rules, err = rs.Rules(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", describe(r.Alerts), err)
		}
	}
	byName := map[string]*WatchingRule{}
	var out []*WatchingRule
	add := func(rule alertapi.Rule, scope string) *WatchingRule {
		if w, ok := byName[rule.Name]; ok {
			return w
		}
		w := &WatchingRule{Rule: rule, Scope: scope, Alerts: []alertapi.Alert{}}
		byName[rule.Name] = w
		out = append(out, w)
		return w
	}
	for _, rule := range rules {
		if k, ok := edgeOfLabels(rule.Labels); ok {
			if k.names(client, server, conn) {
				add(rule, ScopeEdge)
			}
		} else {
			add(rule, ScopeAll)
		}
	}
	for _, a := range all {
		if k, ok := edgeOfLabels(a.Labels); ok && k.names(client, server, conn) {
			w := add(alertapi.Rule{Name: a.Name, Expr: a.Expr, State: a.State}, ScopeEdge)
			w.Alerts = append(w.Alerts, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Alerts) > 0 && len(out[j].Alerts) == 0 })
	res := make([]WatchingRule, len(out))
	for i, w := range out {
		res[i] = *w
	}
	return res, nil
}
