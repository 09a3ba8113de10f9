// Package plugin is the backend of flowlens's Grafana data source plugin
// (plugin ID flowlens-flowlens-datasource): the flow graph for Grafana's
// Node Graph panel, traces for its trace view, trace and log search, and
// per-edge time series that Grafana alerting can evaluate, all read from
// flowlens's ClickHouse tables through the storage package, with live
// breaker states from the flow analyzer's API and firing flow alerts from
// the rules evaluator's API when those are configured.
//
// The executable (cmd/gpx_flowlens) serves it with datasource.Manage; the
// SDK's instance manager builds one Datasource per data source and
// settings version, and disposes it when the settings change.
package plugin

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// ID is the plugin's ID in plugin.json.
const ID = querymodel.ID

// Query types (the queryType of a query): see package querymodel.
const (
	QueryNodeGraph  = querymodel.NodeGraph
	QueryTrace      = querymodel.Trace
	QueryTraces     = querymodel.Traces
	QueryLogs       = querymodel.Logs
	QueryEdges      = querymodel.Edges
	QueryServices   = querymodel.Services
	QueryOperations = querymodel.Operations
	QueryAlerts     = querymodel.Alerts
)

// QueryTypes lists every query type the backend answers.
var QueryTypes = querymodel.QueryTypes

// Datasource is one configured data source.
type Datasource struct {
	settings    Settings
	settingsErr error
	uid, name   string
	client      *http.Client
	now         func() time.Time
	log         *zap.Logger
	queries     *datasource.QueryTypeMux
	resources   backend.CallResourceHandler

	mu    sync.Mutex
	store *storage.Store // opened on first use; nil until then
}

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory for datasource.Manage. Settings
// that cannot be used do not fail the factory: every query and the health
// check then say what is wrong with them.
func NewDatasource(_ context.Context, in backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	s, err := LoadSettings(in)
	d := &Datasource{settings: s, settingsErr: err, uid: in.UID, name: in.Name,
		client: &http.Client{Timeout: s.Timeout()}, now: time.Now, log: zap.NewNop()}
	d.queries = datasource.NewQueryTypeMux()
	for typ, h := range map[string]queryFunc{
		QueryNodeGraph: d.nodeGraph, QueryTrace: d.trace, QueryTraces: d.traces, QueryLogs: d.logs,
		QueryEdges: d.edgeSeries, QueryServices: d.services, QueryOperations: d.operations, QueryAlerts: d.alerts,
	} {
		d.queries.HandleFunc(typ, d.each(h))
	}
	d.queries.HandleFunc("", d.each(d.fallback))
	d.resources = httpadapter.New(d.resourceMux())
	return d, nil
}

// Dispose closes the ClickHouse connections (the settings changed or the
// data source was deleted).
func (d *Datasource) Dispose() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store != nil {
		_ = d.store.Close()
		d.store = nil
	}
}

// openStore returns the instance's store, connecting on first use. A failed
// connection is tried again on the next call.
func (d *Datasource) openStore(ctx context.Context) (*storage.Store, error) {
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store != nil {
		return d.store, nil
	}
	cfg, err := d.settings.storageConfig()
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(ctx, cfg, d.log)
	if err != nil {
		return nil, classifyConnError(d.settings, err)
	}
	d.store = st
	return st, nil
}

// QueryData answers each query by its query type.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	return d.queries.QueryData(ctx, req)
}

// CallResource serves the query editor's pickers (see resourceMux).
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.resources.CallResource(ctx, req, sender)
}

// reader answers queries from st and the configured APIs.
func (d *Datasource) reader(st *storage.Store) query.Reader {
	r := query.Reader{Store: st}
	if u := d.settings.AnalyzerURL; u != "" {
		r.Breakers = query.AnalyzerAPI{URL: u, Client: d.client}
	}
	if u := d.settings.AlertsURL; u != "" {
		r.Alerts = query.AlertsAPI{URL: u, Client: d.client}
	}
	return r
}

// queryFunc answers one query.
type queryFunc func(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse

// each turns a queryFunc into a handler of every query of a request: the
// settings and the connection are checked once, each query gets the
// configured timeout, and a failure stays in its own response.
func (d *Datasource) each(h queryFunc) backend.QueryDataHandlerFunc {
	return func(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
		resp := backend.NewQueryDataResponse()
		st, err := d.openStore(ctx)
		for _, dq := range req.Queries {
			if err != nil {
				resp.Responses[dq.RefID] = errorResponse(err)
				continue
			}
			q, perr := parseQuery(dq)
			if perr != nil {
				resp.Responses[dq.RefID] = errorResponse(perr)
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, d.settings.Timeout())
			resp.Responses[dq.RefID] = h(qctx, st, q)
			cancel()
		}
		return resp, nil
	}
}

// fallback answers a query without a query type (a new panel's query) with
// the node graph, and refuses a type it does not know.
func (d *Datasource) fallback(ctx context.Context, st *storage.Store, q panelQuery) backend.DataResponse {
	if q.QueryType == "" {
		return d.nodeGraph(ctx, st, q)
	}
	return backend.ErrDataResponse(backend.StatusBadRequest,
		fmt.Sprintf("unknown query type %q: want one of %v", q.QueryType, QueryTypes))
}
