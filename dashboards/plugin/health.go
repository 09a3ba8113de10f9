package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

var (
	// errSettings marks settings the user must change.
	errSettings = errors.New("settings")
	// errTimeout marks a query that ran out of the configured time.
	errTimeout = errors.New("timed out")
)

// connError is a failure to reach ClickHouse, or its refusal of the
// credentials (auth).
type connError struct {
	addr string
	user string
	auth bool
	err  error
}

func (e *connError) Error() string {
	if e.auth {
		user := e.user
		if user == "" {
			user = "default"
		}
		return fmt.Sprintf("ClickHouse at %s refused the credentials of user %q (check username and password): %v", e.addr, user, e.err)
	}
	return fmt.Sprintf("ClickHouse at %s is unreachable: %v", e.addr, e.err)
}

func (e *connError) Unwrap() error { return e.err }

// Authentication error codes of ClickHouse: UNKNOWN_USER, WRONG_PASSWORD,
// REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED, AUTHENTICATION_FAILED.
var authCodes = map[int32]bool{192: true, 193: true, 194: true, 195: true, 516: true}

// classifyConnError tells refused credentials from an unreachable server.
func classifyConnError(s Settings, err error) error {
	ce := &connError{addr: redact(s.Address), user: s.Username, err: err}
	var ex *clickhouse.Exception
	var he *clickhouse.HTTPError
	switch {
	case errors.As(err, &ex) && authCodes[ex.Code]:
		ce.auth = true
	case errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden):
		ce.auth = true
	}
	return ce
}

// redact drops a password from a DSN for messages.
func redact(addr string) string {
	c := storage.Config{Addr: addr}
	return strings.TrimSuffix(c.String(), "/")
}

// HealthCheck names one thing the health check looked at.
type HealthCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CheckHealth says exactly what is wrong, in this order: the settings,
// ClickHouse unreachable or refusing the credentials, the database missing,
// the schema older than this plugin, the flow analyzer's API and the alerts
// API (when configured) unreachable. JSONDetails lists every check.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d.settings.Timeout())
	defer cancel()
	var checks []HealthCheck
	fail := func(name string, err error) (*backend.CheckHealthResult, error) {
		checks = append(checks, HealthCheck{Name: name, Detail: err.Error()})
		details, _ := json.Marshal(map[string]any{"checks": checks})
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error(), JSONDetails: details,
			ErrorSource: backend.ErrorSourceDownstream}, nil
	}
	pass := func(name, detail string) { checks = append(checks, HealthCheck{Name: name, OK: true, Detail: detail}) }
	if d.settingsErr != nil {
		return fail("settings", d.settingsErr)
	}
	pass("settings", "")
	st, err := d.openStore(ctx)
	if err != nil {
		return fail("clickhouse", err)
	}
	addr := redact(d.settings.Address)
	if err := st.Conn().Ping(ctx); err != nil {
		return fail("clickhouse", classifyConnError(d.settings, err))
	}
	pass("clickhouse", addr)
	ok, err := st.DatabaseExists(ctx)
	if err != nil {
		return fail("database", classifyConnError(d.settings, err))
	}
	if !ok {
		return fail("database", fmt.Errorf("database %q does not exist on ClickHouse at %s: create the schema with `flowlens migrate --clickhouse %s`",
			d.settings.Database, addr, addr))
	}
	pass("database", d.settings.Database)
	pending, err := st.PendingMigrations(ctx)
	if err != nil {
		return fail("schema", err)
	}
	if len(pending) > 0 {
		var names []string
		for _, m := range pending {
			names = append(names, fmt.Sprintf("%d (%s)", m.Version, m.Name))
		}
		return fail("schema", fmt.Errorf("database %q lacks schema versions %s: apply them with `flowlens migrate --clickhouse %s`",
			d.settings.Database, strings.Join(names, ", "), addr))
	}
	all, _ := storage.Migrations(storage.Config{Database: d.settings.Database})
	version := all[len(all)-1].Version
	pass("schema", fmt.Sprintf("version %d", version))
	msg := fmt.Sprintf("ClickHouse at %s, database %s, schema version %d", addr, d.settings.Database, version)
	if u := d.settings.AnalyzerURL; u != "" {
		if _, err := (query.AnalyzerAPI{URL: u, Client: d.client}).Breakers(ctx); err != nil {
			return fail("analyzer", fmt.Errorf("flow analyzer API at %s is unreachable: %w", u, err))
		}
		pass("analyzer", u)
		msg += "; flow analyzer at " + u
	}
	if u := d.settings.AlertsURL; u != "" {
		if _, err := (query.AlertsAPI{URL: u, Client: d.client}).Alerts(ctx); err != nil {
			return fail("alerts", fmt.Errorf("alerts API at %s is unreachable: %w", u, err))
		}
		pass("alerts", u)
		msg += "; alerts at " + u
	}
	details, _ := json.Marshal(map[string]any{"checks": checks})
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: "Connected to " + msg, JSONDetails: details}, nil
}
