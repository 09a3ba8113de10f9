package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// services answers a services query: the graph's node names over the time
// range, one string field, for template variables.
func (d *Datasource) services(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	names, err := d.reader(st).Services(ctx, q.From, q.To)
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: data.Frames{data.NewFrame("services", data.NewField("service", nil, names))}}
}

// operations answers an operations query: the span names of a service.
func (d *Datasource) operations(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	ops, err := d.reader(st).Operations(ctx, q.Service, q.From, q.To)
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: data.Frames{data.NewFrame("operations", data.NewField("operation", nil, ops))}}
}

// EdgeRef is one edge in the /edges resource.
type EdgeRef struct {
	Client         string `json:"client"`
	Server         string `json:"server"`
	ConnectionType string `json:"connectionType"`
}

// resourceMux serves the query editor's pickers (GET, JSON arrays; from and
// to are unix milliseconds, as the frontend's time range gives them,
// default the last hour):
//
//	/services?from=&to=             node names
//	/operations?service=&from=&to=  span names of a service
//	/edges?from=&to=                edges (client, server, connectionType)
//	/options                        query types, connection types, edge metrics
func (d *Datasource) resourceMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services", d.resource(func(ctx context.Context, st *storage.Store, r *http.Request, from, to time.Time) (any, error) {
		return st.NodeNames(ctx, from, to)
	}))
	mux.HandleFunc("GET /operations", d.resource(func(ctx context.Context, st *storage.Store, r *http.Request, from, to time.Time) (any, error) {
		return st.Operations(ctx, r.URL.Query().Get("service"), from, to)
	}))
	mux.HandleFunc("GET /edges", d.resource(func(ctx context.Context, st *storage.Store, r *http.Request, from, to time.Time) (any, error) {
		aggs, err := st.QueryEdges(ctx, from, to, "")
		if err != nil {
			return nil, err
		}
		out := []EdgeRef{}
		for _, a := range aggs {
			if a.Requests == 0 && a.ConnectionType == flowmodel.ConnectionUnset {
				continue // breaker transitions alone
			}
			out = append(out, EdgeRef{Client: a.Client, Server: a.Server, ConnectionType: a.ConnectionType})
		}
		return out, nil
	}))
	mux.HandleFunc("GET /options", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"queryTypes": QueryTypes, "connectionTypes": ConnectionTypes, "edgeMetrics": EdgeMetrics})
	})
	return mux
}

type resourceFunc func(ctx context.Context, st *storage.Store, r *http.Request, from, to time.Time) (any, error)

// resource opens the store, reads the time range and answers JSON; errors
// are {"error": "..."} with the status of errorResponse.
func (d *Datasource) resource(h resourceFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d.settings.Timeout())
		defer cancel()
		fail := func(err error) {
			writeJSON(w, int(errorResponse(err).Status), map[string]string{"error": err.Error()})
		}
		st, err := d.openStore(ctx)
		if err != nil {
			fail(err)
			return
		}
		now := d.now()
		to, err := msParam(r, "to", now)
		if err != nil {
			fail(err)
			return
		}
		from, err := msParam(r, "from", to.Add(-time.Hour))
		if err != nil {
			fail(err)
			return
		}
		if !to.After(from) {
			fail(fmt.Errorf("%w: from must be before to", errBadQuery))
			return
		}
		v, err := h(ctx, st, r, from, to)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", errTimeout, err)
			}
			fail(err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func msParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q: want unix milliseconds", errBadQuery, name, s)
	}
	return time.UnixMilli(n).UTC(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
