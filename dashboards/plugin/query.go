package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// Query is the JSON model of a query (querymodel.Query).
type Query = querymodel.Query

// panelQuery is a parsed Query with the panel's time range and resolution.
type panelQuery struct {
	Query
	RefID         string
	From, To      time.Time
	MaxDataPoints int64
	Interval      time.Duration
	minDur        time.Duration
	maxDur        time.Duration
}

// errBadQuery marks a query the user must change.
var errBadQuery = query.ErrBadRequest

// ConnectionTypes a query may filter on ("" is any): unset is a plain call.
var ConnectionTypes = querymodel.ConnectionTypes

// MaxDepth bounds Query.Depth.
const MaxDepth = query.MaxDepth

func parseQuery(dq backend.DataQuery) (panelQuery, error) {
	q := panelQuery{RefID: dq.RefID, From: dq.TimeRange.From.UTC(), To: dq.TimeRange.To.UTC(),
		MaxDataPoints: dq.MaxDataPoints, Interval: dq.Interval}
	if len(dq.JSON) > 0 {
		if err := json.Unmarshal(dq.JSON, &q.Query); err != nil {
			return q, fmt.Errorf("%w: %v", errBadQuery, err)
		}
	}
	if q.QueryType == "" {
		q.QueryType = dq.QueryType
	}
	// the range, depth and connection type, whichever query type reads them
	if err := (query.GraphRequest{From: q.From, To: q.To, Depth: q.Depth, ConnectionType: q.ConnectionType}).Validate(); err != nil {
		return q, err
	}
	if err := query.CheckLimit(q.Limit); err != nil {
		return q, err
	}
	var err error
	if q.minDur, err = query.Duration("minimum duration", q.MinDuration); err != nil {
		return q, err
	}
	if q.maxDur, err = query.Duration("maximum duration", q.MaxDuration); err != nil {
		return q, err
	}
	switch q.OrderBy {
	case "", "newest", "slowest":
	default:
		return q, fmt.Errorf("%w: orderBy %q: want newest or slowest", errBadQuery, q.OrderBy)
	}
	return q, nil
}

// errorResponse is the response for a failed query, with the status that
// says whose fault it was.
func errorResponse(err error) backend.DataResponse {
	status := backend.StatusInternal
	var conn *connError
	switch {
	case query.IsBadRequest(err), errors.Is(err, errSettings):
		status = backend.StatusBadRequest
	case errors.Is(err, storage.ErrTraceNotFound):
		status = backend.StatusNotFound
	case errors.As(err, &conn) && conn.auth:
		status = backend.StatusUnauthorized
	case errors.As(err, &conn):
		status = backend.StatusBadGateway
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		status = backend.StatusTimeout
	}
	return backend.ErrDataResponseWithSource(status, backend.ErrorSourceFromHTTPStatus(int(status)), err.Error())
}
