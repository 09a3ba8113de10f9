package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/storage"
)

// Query is the JSON model of a query (querymodel.Query).
type Query = querymodel.Query

// query is a parsed Query with the panel's time range and resolution.
type query struct {
	Query
	RefID         string
	From, To      time.Time
	MaxDataPoints int64
	Interval      time.Duration
	minDur        time.Duration
	maxDur        time.Duration
}

// errBadQuery marks a query the user must change.
var errBadQuery = errors.New("bad query")

// ConnectionTypes a query may filter on ("" is any): unset is a plain call.
var ConnectionTypes = querymodel.ConnectionTypes

// MaxDepth bounds Query.Depth.
const MaxDepth = 20

func parseQuery(dq backend.DataQuery) (query, error) {
	q := query{RefID: dq.RefID, From: dq.TimeRange.From.UTC(), To: dq.TimeRange.To.UTC(),
		MaxDataPoints: dq.MaxDataPoints, Interval: dq.Interval}
	if len(dq.JSON) > 0 {
		if err := json.Unmarshal(dq.JSON, &q.Query); err != nil {
			return q, fmt.Errorf("%w: %v", errBadQuery, err)
		}
	}
	if q.QueryType == "" {
		q.QueryType = dq.QueryType
	}
	if !q.To.After(q.From) {
		return q, fmt.Errorf("%w: empty time range %s - %s", errBadQuery, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if q.Depth < 0 || q.Depth > MaxDepth {
		return q, fmt.Errorf("%w: depth %d: want 0 (everything) to %d", errBadQuery, q.Depth, MaxDepth)
	}
	if q.ConnectionType != "" && !slices.Contains(ConnectionTypes, q.ConnectionType) {
		return q, fmt.Errorf("%w: connection type %q: want one of %s", errBadQuery, q.ConnectionType, strings.Join(ConnectionTypes, ", "))
	}
	if q.Limit < 0 || q.Limit > storage.MaxSearchLimit {
		return q, fmt.Errorf("%w: limit %d: want 1 to %d", errBadQuery, q.Limit, storage.MaxSearchLimit)
	}
	var err error
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"minimum duration", q.MinDuration, &q.minDur}, {"maximum duration", q.MaxDuration, &q.maxDur}} {
		if strings.TrimSpace(d.in) == "" {
			continue
		}
		if *d.out, err = time.ParseDuration(strings.TrimSpace(d.in)); err != nil || *d.out < 0 {
			return q, fmt.Errorf("%w: %s %q: want a duration like 250ms or 1.5s", errBadQuery, d.name, d.in)
		}
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
	case errors.Is(err, errBadQuery), errors.Is(err, storage.ErrInvalidQuery), errors.Is(err, storage.ErrInvalidTraceID),
		errors.Is(err, errSettings):
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
