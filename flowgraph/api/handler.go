package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
)

// EdgeQuerier reads the rollup table; *storage.Store implements it. An
// error wrapping flowmodel.ErrInvalidQuery is the caller's mistake (400).
type EdgeQuerier interface {
	QueryEdges(ctx context.Context, from, to time.Time, service string) ([]flowmodel.EdgeAggregate, error)
}

// Live is the running analyzer.
type Live interface {
	Edges() []edges.Edge
	Breakers() []breaker.Status
}

// Unflushed is an analyzer that writes rollups: it gives the rows it has
// counted and not stored yet; *flowgraph.Service implements it.
type Unflushed interface {
	// WithUnflushed calls fn with those rows while no flush runs, so the
	// store read inside fn holds exactly the rest.
	WithUnflushed(fn func(rows []flowmodel.EdgeRollup))
}

// Options of the handler. Store may be nil (memory only); Now defaults to time.Now.
type Options struct {
	Store EdgeQuerier
	Live  Live
	Now   func() time.Time
	Log   *zap.Logger
	// DefaultRange is the range when from is not given (default 1h).
	DefaultRange time.Duration
	// Unflushed, with Store, adds the counts not stored yet to the stored
	// ones: the graph is as fresh as the analyzer, not its last flush.
	Unflushed Unflushed
}

// Handler serves the API routes.
type Handler struct {
	opt Options
	mux *http.ServeMux
}

// New returns the API handler.
func New(opt Options) *Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	if opt.DefaultRange <= 0 {
		opt.DefaultRange = time.Hour
	}
	h := &Handler{opt: opt, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/v1/graph", h.graph)
	h.mux.HandleFunc("GET /api/v1/services/{name}/edges", h.serviceEdges)
	h.mux.HandleFunc("GET /api/v1/breakers", h.breakers)
	h.mux.HandleFunc("GET /api/v1/nodegraph", h.nodeGraph)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// ServiceEdges is the response of /api/v1/services/{name}/edges.
type ServiceEdges struct {
	Service  string    `json:"service"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Source   string    `json:"source"`
	Inbound  []Edge    `json:"inbound"`
	Outbound []Edge    `json:"outbound"`
}

// rangeParams are the query parameters of a time range: from and to
// (RFC 3339, unix seconds or now-<duration>), or since (a duration back
// from to) instead of from.
var (
	rangeParams = []string{"from", "to", "since"}
	graphParams = []string{"from", "to", "since", "service"}
)

// graphRequest checks r's query parameters against the route's known ones
// (an unknown or repeated one is a bad request, not silently ignored) and
// returns the graph's from, to and service.
func (h *Handler) graphRequest(r *http.Request, known ...string) (from, to, service string, err error) {
	q := r.URL.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, k) {
			return "", "", "", fmt.Errorf("%w: unknown query parameter %q; %s takes %s", errBadRequest, k, r.URL.Path, strings.Join(known, ", "))
		}
		if len(q[k]) > 1 {
			return "", "", "", fmt.Errorf("%w: query parameter %q given %d times", errBadRequest, k, len(q[k]))
		}
	}
	from, to, service = q.Get("from"), q.Get("to"), q.Get("service")
	if since := q.Get("since"); since != "" {
		if from != "" {
			return "", "", "", fmt.Errorf("%w: give from or since, not both", errBadRequest)
		}
		d, err := time.ParseDuration(strings.TrimPrefix(since, "now-"))
		if err != nil || d <= 0 {
			return "", "", "", fmt.Errorf("%w: since %q: want a positive duration like 15m", errBadRequest, since)
		}
		if from, err = FromSince(to, d, h.opt.Now()); err != nil {
			return "", "", "", fmt.Errorf("%w: to: %v", errBadRequest, err)
		}
	}
	return from, to, service, nil
}

// FromSince is the start of the range that ends at to (raw, as Graph takes
// it) and lasts d: relative to now when to is, so it moves with it.
func FromSince(to string, d time.Duration, now time.Time) (string, error) {
	if to = strings.TrimSpace(to); to == "" || to == "now" {
		return "now-" + d.String(), nil
	}
	t, err := ParseTime(to, now, now)
	if err != nil {
		return "", err
	}
	return t.Add(-d).Format(time.RFC3339Nano), nil
}

func (h *Handler) graph(w http.ResponseWriter, r *http.Request) {
	h.serveGraph(w, r, func(g Graph) any { return g })
}

// serveGraph answers r with view of the graph its query asks for.
func (h *Handler) serveGraph(w http.ResponseWriter, r *http.Request, view func(Graph) any) {
	from, to, service, err := h.graphRequest(r, graphParams...)
	if err != nil {
		h.fail(w, err)
		return
	}
	g, err := h.Graph(r.Context(), from, to, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, view(g))
}

func (h *Handler) serviceEdges(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	from, to, _, err := h.graphRequest(r, rangeParams...)
	if err != nil {
		h.fail(w, err)
		return
	}
	g, err := h.Graph(r.Context(), from, to, name)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := ServiceEdges{Service: name, From: g.From, To: g.To, Source: g.Source, Inbound: []Edge{}, Outbound: []Edge{}}
	for _, e := range g.Edges {
		if e.Server == name {
			out.Inbound = append(out.Inbound, e)
		}
		if e.Client == name {
			out.Outbound = append(out.Outbound, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) breakers(w http.ResponseWriter, r *http.Request) {
	if _, _, _, err := h.graphRequest(r); err != nil {
		h.fail(w, err)
		return
	}
	out := []Breaker{}
	if h.opt.Live != nil {
		for _, b := range h.opt.Live.Breakers() {
			out = append(out, BreakerOf(b))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// errBadRequest marks errors in the caller's parameters.
var errBadRequest = errors.New("bad request")

// Graph builds the graph for the raw from/to parameters; service, when not
// empty, keeps the edges it takes part in.
func (h *Handler) Graph(ctx context.Context, fromS, toS, service string) (Graph, error) {
	now := h.opt.Now()
	to, err := ParseTime(toS, now, now)
	if err != nil {
		return Graph{}, fmt.Errorf("%w: to: %v", errBadRequest, err)
	}
	from, err := ParseTime(fromS, now, to.Add(-h.opt.DefaultRange))
	if err != nil {
		return Graph{}, fmt.Errorf("%w: from: %v", errBadRequest, err)
	}
	if !to.After(from) {
		return Graph{}, fmt.Errorf("%w: from (%s) must be before to (%s)", errBadRequest, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	var brk []breaker.Status
	if h.opt.Live != nil {
		brk = h.opt.Live.Breakers()
	}
	if h.opt.Store != nil {
		var aggs []flowmodel.EdgeAggregate
		query := func(unflushed []flowmodel.EdgeRollup) {
			if aggs, err = h.opt.Store.QueryEdges(ctx, from, to, service); err == nil {
				aggs = flowmodel.SumRows(aggs, flowmodel.RowsIn(unflushed, from, to), service)
			}
		}
		source := "storage"
		if h.opt.Unflushed != nil {
			h.opt.Unflushed.WithUnflushed(query)
			source = "storage+memory"
		} else {
			query(nil)
		}
		if err != nil {
			return Graph{}, fmt.Errorf("query edges: %w", err)
		}
		return BuildGraph(aggs, brk, from, to, source), nil
	}
	if h.opt.Live == nil {
		return BuildGraph(nil, brk, from, to, "memory"), nil
	}
	// memory holds totals since the analyzer started: rates are over that span
	if st, ok := h.opt.Live.(interface{ Started() time.Time }); ok && st.Started().After(from) && st.Started().Before(to) {
		from = st.Started()
	}
	return BuildGraph(Aggregates(h.opt.Live.Edges(), service), brk, from, to, "memory"), nil
}

// Aggregates converts in-memory edges to the aggregates a range query
// answers (merging destinations), keeping those service takes part in when
// not empty.
func Aggregates(in []edges.Edge, service string) []flowmodel.EdgeAggregate {
	be := make([]edges.BucketEdge, 0, len(in))
	for i := range in {
		be = append(be, edges.BucketEdge{Edge: in[i]})
	}
	return flowmodel.SumRows(nil, edges.Rows(be), service)
}

// ParseTime reads RFC 3339, unix seconds (milliseconds above 10^12, as
// Grafana sends them), "now", or "now-1h" / "-1h" (relative to now). Empty
// gives def. Times RFC 3339 cannot write (outside the years 0000-9999) are
// refused: they could neither be answered in JSON nor sent back.
func ParseTime(s string, now, def time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := parseTime(s, now, def)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("%q: outside the years 0000-9999", s)
	}
	return t, nil
}

func parseTime(s string, now, def time.Time) (time.Time, error) {
	switch {
	case s == "":
		return def, nil
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now-") || strings.HasPrefix(s, "-"):
		ds := strings.TrimPrefix(strings.TrimPrefix(s, "now"), "-")
		d, err := time.ParseDuration(ds)
		if err != nil {
			// days and weeks, as Grafana and Prometheus write them (now-7d)
			var md model.Duration
			md, err = model.ParseDuration(ds)
			d = time.Duration(md)
		}
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q: want a duration like now-1h or now-7d", s)
		}
		return now.Add(-d), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 { // milliseconds, as Grafana sends them
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339, unix seconds or now-<duration>", s)
	}
	return t, nil
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, errBadRequest) || errors.Is(err, flowmodel.ErrInvalidQuery) {
		status = http.StatusBadRequest
	} else {
		h.opt.Log.Warn("api request failed", zap.Error(err))
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
