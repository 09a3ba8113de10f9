// Package alertapi serves the evaluator's alerts over HTTP
// (GET /api/v1/alerts, a Prometheus-shaped envelope) and fetches them for
// `flowlens alerts`.
package alertapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Alert is one alert of a rule: pending, firing, or resolved (kept for a
// while after it ends so receivers and people see that it did).
type Alert struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Expr is the rule's PromQL expression.
	Expr        string            `json:"expr,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Value       float64           `json:"value"`
	ActiveAt    time.Time         `json:"activeAt"`
	FiredAt     *time.Time        `json:"firedAt,omitempty"`
	ResolvedAt  *time.Time        `json:"resolvedAt,omitempty"`
}

// Data is the payload of a response.
type Data struct {
	Alerts []Alert `json:"alerts"`
	// InvalidRules are the rule file problems that kept rules from running.
	InvalidRules []string `json:"invalidRules,omitempty"`
	// Rules are every alerting rule that runs, quiet ones too, when the
	// source lists them (RuleSource): what watches a flow.
	Rules []Rule `json:"rules,omitempty"`
}

// Rule is an alerting rule that runs.
type Rule struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
	// For is how long the condition holds before the alert fires.
	For string `json:"for,omitempty"`
	// Labels are the rule's own labels; a shorthand's name the flow it
	// watches (client and server, or destination).
	Labels map[string]string `json:"labels,omitempty"`
	// State is the rule's worst alert: inactive, pending or firing.
	State string `json:"state"`
	// Health is ok, err or unknown (not evaluated yet); LastError says why err.
	Health    string `json:"health"`
	LastError string `json:"lastError,omitempty"`
}

// RuleSource is a Source that lists its rules too; the evaluator is one.
type RuleSource interface {
	Rules() []Rule
}

// Response is the JSON body of GET /api/v1/alerts.
type Response struct {
	Status string `json:"status"` // success or error
	Data   Data   `json:"data"`
	Error  string `json:"error,omitempty"`
}

// Source is what the handler reads; the evaluator implements it.
type Source interface {
	Alerts() []Alert
	InvalidRules() []string
}

// Path is where the handler serves.
const Path = "/api/v1/alerts"

// Handler serves GET /api/v1/alerts; ?state=firing (or pending, resolved)
// filters the alerts. A source that lists its rules (RuleSource) adds them.
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		want := r.URL.Query().Get("state")
		alerts := []Alert{}
		for _, a := range src.Alerts() {
			if want == "" || a.State == want {
				alerts = append(alerts, a)
			}
		}
		Sort(alerts)
		d := Data{Alerts: alerts, InvalidRules: src.InvalidRules()}
		if rs, ok := src.(RuleSource); ok {
			d.Rules = rs.Rules()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Response{Status: "success", Data: d})
	})
}

// Sort orders alerts firing first, then pending, then resolved, then by
// name and labels.
func Sort(alerts []Alert) {
	rank := map[string]int{"firing": 0, "pending": 1, "resolved": 2}
	sort.SliceStable(alerts, func(i, j int) bool {
		a, b := alerts[i], alerts[j]
		if rank[a.State] != rank[b.State] {
			return rank[a.State] < rank[b.State]
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return LabelString(a.Labels) < LabelString(b.Labels)
	})
}

// LabelString prints labels as {a="x", b="y"} without alertname.
func LabelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// NoEvaluatorError is a Fetch from an address where nothing listens.
type NoEvaluatorError struct {
	URL string
	Err error
}

func (e *NoEvaluatorError) Error() string {
	return "no alerts evaluator at " + e.URL + " (nothing listens there)"
}

func (e *NoEvaluatorError) Unwrap() error { return e.Err }

// Fetch reads the alerts from a flowlens API base URL (http://host:port).
func Fetch(ctx context.Context, client *http.Client, baseURL string) (*Data, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+Path, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch alerts: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NoEvaluatorError{URL: baseURL, Err: err}
		}
		return nil, fmt.Errorf("fetch alerts from %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch alerts: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("fetch alerts: %s answers but serves no %s: is it the address of an alerts evaluator?", baseURL, Path)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch alerts from %s: %s: %s", baseURL, resp.Status, strings.TrimSpace(string(body)))
	}
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("fetch alerts from %s: decode: %w", baseURL, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("fetch alerts from %s: %s", baseURL, r.Error)
	}
	return &r.Data, nil
}
