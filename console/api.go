package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/conformance"
	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// maxRange bounds the time range of a request: a longer one is more likely
// a typo than a question, and reads every hourly row there is.
const maxRange = 366 * 24 * time.Hour

// maxParamBytes bounds every query parameter.
const maxParamBytes = 1024

// defaultPoints is the number of steps of a series unless points says.
const defaultPoints = 120

// The API: GET only, JSON. Times are RFC 3339, unix seconds or
// milliseconds, or now-<duration>; the range defaults to the last hour.
//
//	/api/v1/graph?from&to&service&depth&connection_type   the flow graph
//	/api/v1/series?from&to&client&server&service&connection_type&metric&points
//	/api/v1/destinations?from&to                          messaging destinations: sent, and received and delivery ratio per consumer
//	/api/v1/services?from&to                              node names
//	/api/v1/services/{name}/interface?from&to             operations and topics
//	/api/v1/traces?from&to&service&operation&min_duration&max_duration&status&attr=k=v&order&limit
//	/api/v1/traces/{id}                                   one trace
//	/api/v1/logs?from&to&service&severity&contains&trace_id&limit
//	/api/v1/alerts?state                                  alerts, firing first
//	/api/v1/edges/{client}/{server}/rules?connection_type   the rules watching one edge
//	/api/v1/conformance?from&to&service&target            the logging policy's figures per service
//	/api/v1/suggestions?from&to&window&min_rate           rules drafted from the rollups (from: default 7 days before to)
//	/api/v1/catalog?from&to&service&compare_to            the service catalog; compare_to (1d, previous) adds the changes
//	/api/v1/ledger?from&to&host&grace                     loss accounting per host: accepted, acked, stored, dead-lettered, missing
//	/api/v1/about                                         what is configured
func (c *Console) apiRoutes(mux *http.ServeMux) {
	route := func(pattern string, params []string, h func(r *http.Request, p *params) (any, error)) {
		mux.Handle("GET "+pattern, c.api(pattern, params, h))
	}
	rangeParams := []string{"from", "to"}
	route("/api/v1/graph", append(rangeParams, "service", "depth", "connection_type"), func(r *http.Request, p *params) (any, error) {
		return c.reader.Graph(r.Context(), query.GraphRequest{From: p.from, To: p.to, Service: p.str("service"),
			Depth: p.int("depth", 0), ConnectionType: p.str("connection_type")})
	})
	route("/api/v1/series", append(rangeParams, "client", "server", "service", "connection_type", "metric", "points"), func(r *http.Request, p *params) (any, error) {
		points := p.int("points", defaultPoints)
		if points < 1 || points > storage.MaxSeriesPoints {
			return nil, fmt.Errorf("%w: points %d: want 1 to %d", query.ErrBadRequest, points, storage.MaxSeriesPoints)
		}
		return c.reader.EdgeSeries(r.Context(), query.SeriesRequest{From: p.from, To: p.to, Step: query.Step(p.from, p.to, 0, int64(points)),
			Client: p.str("client"), Server: p.str("server"), Service: p.str("service"),
			ConnectionType: p.str("connection_type"), Metric: p.str("metric")})
	})
	route("/api/v1/destinations", rangeParams, func(r *http.Request, p *params) (any, error) {
		return c.reader.Destinations(r.Context(), p.from, p.to)
	})
	route("/api/v1/services", rangeParams, func(r *http.Request, p *params) (any, error) {
		return c.reader.Services(r.Context(), p.from, p.to)
	})
	route("/api/v1/services/{name}/interface", rangeParams, func(r *http.Request, p *params) (any, error) {
		name := r.PathValue("name")
		ops, err := c.reader.Operations(r.Context(), name, p.from, p.to)
		if err != nil {
			return nil, err
		}
		topics, err := c.reader.Topics(r.Context(), name, p.from, p.to)
		if err != nil {
			return nil, err
		}
		return map[string]any{"service": name, "operations": ops, "topics": topics}, nil
	})
	route("/api/v1/traces", append(rangeParams, "service", "operation", "min_duration", "max_duration", "status", "attr", "order", "limit"), func(r *http.Request, p *params) (any, error) {
		q := query.TraceSearch{From: p.from, To: p.to, Service: p.str("service"), Operation: p.str("operation"),
			Status: p.str("status"), Limit: p.int("limit", 0)}
		var err error
		if q.MinDuration, err = query.Duration("minimum duration", p.str("min_duration")); err != nil {
			return nil, err
		}
		if q.MaxDuration, err = query.Duration("maximum duration", p.str("max_duration")); err != nil {
			return nil, err
		}
		switch p.str("order") {
		case "", "newest":
		case "slowest":
			q.Slowest = true
		default:
			return nil, fmt.Errorf("%w: order %q: want newest or slowest", query.ErrBadRequest, p.str("order"))
		}
		for _, a := range p.all("attr") {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%w: attr %q: want key=value", query.ErrBadRequest, a)
			}
			if q.Attributes == nil {
				q.Attributes = map[string]string{}
			}
			q.Attributes[k] = v
		}
		return c.reader.SearchTraces(r.Context(), q)
	})
	route("/api/v1/traces/{id}", nil, func(r *http.Request, _ *params) (any, error) {
		return c.reader.Trace(r.Context(), r.PathValue("id"))
	})
	route("/api/v1/logs", append(rangeParams, "service", "severity", "contains", "trace_id", "limit"), func(r *http.Request, p *params) (any, error) {
		return c.reader.SearchLogs(r.Context(), storage.LogQuery{From: p.from, To: p.to, Service: p.str("service"),
			Severity: p.str("severity"), Contains: p.str("contains"), TraceID: p.str("trace_id"), Limit: p.int("limit", 0)})
	})
	route("/api/v1/alerts", []string{"state"}, func(r *http.Request, p *params) (any, error) {
		if c.reader.Alerts == nil {
			return map[string]any{"configured": false, "alerts": []any{}}, nil
		}
		list, err := c.reader.AlertList(r.Context(), p.str("state"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"configured": true, "alerts": list}, nil
	})
	route("/api/v1/edges/{client}/{server}/rules", []string{"connection_type"}, func(r *http.Request, p *params) (any, error) {
		if c.reader.Alerts == nil {
			return map[string]any{"configured": false, "rules": []any{}}, nil
		}
		conn := flowmodel.ConnectionOfName(p.str("connection_type"))
		rules, err := c.reader.EdgeRules(r.Context(), r.PathValue("client"), r.PathValue("server"), conn)
		if err != nil {
			return nil, err
		}
		return map[string]any{"configured": true, "rules": rules}, nil
	})
	route("/api/v1/conformance", append(rangeParams, "service", "target"), func(r *http.Request, p *params) (any, error) {
		return c.reader.Conformance(r.Context(), conformance.Request{From: p.from, To: p.to, Service: p.str("service"),
			Target: p.float("target", conformance.DefaultTarget)})
	})
	route("/api/v1/ledger", append(rangeParams, "host", "grace"), func(r *http.Request, p *params) (any, error) {
		grace, err := query.Duration("grace", p.str("grace"))
		if err != nil {
			return nil, err
		}
		if p.str("grace") == "" {
			grace = ledger.DefaultGrace
		}
		return c.reader.Ledger(r.Context(), query.LedgerRequest{From: p.from, To: p.to, Host: p.str("host"), Grace: grace})
	})
	route("/api/v1/suggestions", append(rangeParams, "window", "min_rate"), func(r *http.Request, p *params) (any, error) {
		req := query.SuggestRequest{From: p.from, To: p.to}
		if p.str("from") == "" {
			req.From = p.to.Add(-query.DefaultSuggestHistory)
		}
		var err error
		if req.Options.Window, err = query.Duration("window", p.str("window")); err != nil {
			return nil, err
		}
		if req.Options.MinRate = p.float("min_rate", 0); req.Options.MinRate < 0 {
			return nil, fmt.Errorf("%w: min_rate %g: want a rate per second, 0 or more", query.ErrBadRequest, req.Options.MinRate)
		}
		res, err := c.reader.SuggestRules(r.Context(), req)
		if err != nil {
			return nil, err
		}
		file, err := res.RuleFile()
		if err != nil {
			return nil, err
		}
		return map[string]any{"suggestions": res, "rule_file": string(file)}, nil
	})
	route("/api/v1/catalog", append(rangeParams, "service", "compare_to"), func(r *http.Request, p *params) (any, error) {
		req := query.CatalogRequest{From: p.from, To: p.to, Service: p.str("service")}
		switch cmp := p.str("compare_to"); cmp {
		case "":
		case "previous":
			req.BaselineFrom, req.BaselineTo = p.from.Add(-p.to.Sub(p.from)), p.from
		default:
			d, err := model.ParseDuration(cmp)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%w: compare_to %q: want previous or a duration like 1d", query.ErrBadRequest, cmp)
			}
			req.BaselineFrom, req.BaselineTo = p.from.Add(-time.Duration(d)), p.to.Add(-time.Duration(d))
		}
		return c.reader.Catalog(r.Context(), req)
	})
	route("/api/v1/about", nil, func(*http.Request, *params) (any, error) {
		// what the page may say about its sources: never addresses or credentials
		return map[string]any{"analyzer": c.reader.Breakers != nil, "alerts": c.reader.Alerts != nil,
			"connection_types": flowmodel.ConnectionFilters, "edge_metrics": query.EdgeMetrics}, nil
	})
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such API route: " + r.URL.Path})
	})
}

// params are a request's checked query parameters.
type params struct {
	from, to time.Time
	values   map[string][]string
	err      error // the first bad value of int
}

func (p *params) str(k string) string {
	if v := p.values[k]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func (p *params) all(k string) []string { return p.values[k] }

func (p *params) float(k string, def float64) float64 {
	s := p.str(k)
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if (err != nil || math.IsNaN(f) || math.IsInf(f, 0)) && p.err == nil {
		p.err = fmt.Errorf("%w: %s %q: want a number", query.ErrBadRequest, k, s)
	}
	return f
}

func (p *params) int(k string, def int) int {
	s := p.str(k)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%w: %s %q: want a whole number", query.ErrBadRequest, k, s)
	}
	return n
}

// parseParams checks r's query parameters against the route's known ones:
// an unknown or repeated one (attr may repeat), or one too long, is a bad
// request rather than silently ignored.
func (c *Console) parseParams(r *http.Request, known []string) (params, error) {
	q := r.URL.Query()
	p := params{values: q}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, k) {
			return p, fmt.Errorf("%w: unknown parameter %q; this route takes %s", query.ErrBadRequest, k, strings.Join(known, ", "))
		}
		if len(q[k]) > 1 && k != "attr" {
			return p, fmt.Errorf("%w: parameter %q given %d times", query.ErrBadRequest, k, len(q[k]))
		}
		if len(q[k]) > storage.MaxFilterAttrs {
			return p, fmt.Errorf("%w: %d values of %q (limit %d)", query.ErrBadRequest, len(q[k]), k, storage.MaxFilterAttrs)
		}
		for _, v := range q[k] {
			if len(v) > maxParamBytes {
				return p, fmt.Errorf("%w: parameter %q is %d bytes (limit %d)", query.ErrBadRequest, k, len(v), maxParamBytes)
			}
		}
	}
	now := c.set.Now().UTC()
	var err error
	if p.to, err = api.ParseTime(p.str("to"), now, now); err != nil {
		return p, fmt.Errorf("%w: to: %v", query.ErrBadRequest, err)
	}
	if p.from, err = api.ParseTime(p.str("from"), now, p.to.Add(-time.Hour)); err != nil {
		return p, fmt.Errorf("%w: from: %v", query.ErrBadRequest, err)
	}
	p.from, p.to = p.from.UTC(), p.to.UTC()
	if err := query.CheckRange(p.from, p.to); err != nil {
		return p, err
	}
	if p.to.Sub(p.from) > maxRange {
		return p, fmt.Errorf("%w: a range of %s: at most %s", query.ErrBadRequest, p.to.Sub(p.from).Round(time.Hour), maxRange)
	}
	return p, nil
}

// api serves one route: parameters checked, the configured timeout, the
// answer as JSON. Errors the user can fix say what to fix; others are
// logged and answered without their detail, which may name hosts.
func (c *Console) api(route string, known []string, h func(r *http.Request, p *params) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		p, err := c.parseParams(r, known)
		var v any
		if err == nil {
			v, err = h(r, &p)
		}
		if err == nil {
			err = p.err
		}
		status := http.StatusOK
		if err != nil {
			status, v = c.failure(route, err)
		}
		c.metrics.requests.WithLabelValues(route, strconv.Itoa(status/100)+"xx").Inc()
		writeJSON(w, status, v)
	})
}

func (c *Console) failure(route string, err error) (int, any) {
	switch {
	case query.IsBadRequest(err):
		return http.StatusBadRequest, map[string]string{"error": err.Error()}
	case errors.Is(err, storage.ErrTraceNotFound):
		return http.StatusNotFound, map[string]string{"error": "trace not found"}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, map[string]string{"error": fmt.Sprintf("no answer within %s: narrow the time range or the search", c.cfg.Timeout)}
	}
	c.set.Logger.Warn("console request failed", zap.String("route", route), zap.Error(err))
	return http.StatusBadGateway, map[string]string{"error": "the query failed; the console's log says why"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
