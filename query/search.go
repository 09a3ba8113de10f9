package query

import (
	"context"
	"time"

	"github.com/flowlens/flowlens/storage"
)

// TraceSearch asks for traces with a span matching: storage.SpanQuery with
// the newest (or, with Slowest, the longest) matching span per trace.
type TraceSearch = storage.SpanQuery

// TraceHit is one trace found: the first matching span of it.
type TraceHit struct {
	TraceID   string        `json:"trace_id"`
	SpanID    string        `json:"span_id"`
	Start     time.Time     `json:"start"`
	Service   string        `json:"service"`
	Operation string        `json:"operation"`
	Duration  time.Duration `json:"duration_ns"`
	Status    string        `json:"status"`
}

// SearchTraces answers a trace search: one hit per trace, in the order of
// the matching spans (newest or slowest first).
func (r Reader) SearchTraces(ctx context.Context, q TraceSearch) ([]TraceHit, error) {
	if err := CheckLimit(q.Limit); err != nil {
		return nil, err
	}
	spans, err := r.Store.SearchSpans(ctx, q)
	if err != nil {
		return nil, err
	}
	out := []TraceHit{}
	seen := map[string]bool{}
	for _, sp := range spans {
		if seen[sp.TraceID] {
			continue
		}
		seen[sp.TraceID] = true
		out = append(out, TraceHit{TraceID: sp.TraceID, SpanID: sp.SpanID, Start: sp.Timestamp, Service: sp.ServiceName,
			Operation: sp.Name, Duration: sp.Duration, Status: sp.StatusCode})
	}
	return out, nil
}

// SearchLogs answers a log search (storage.SearchLogs): newest first.
func (r Reader) SearchLogs(ctx context.Context, q storage.LogQuery) ([]storage.LogRecord, error) {
	if err := CheckLimit(q.Limit); err != nil {
		return nil, err
	}
	recs, err := r.Store.SearchLogs(ctx, q)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []storage.LogRecord{}
	}
	return recs, nil
}

// Services are the graph's node names over [from, to).
func (r Reader) Services(ctx context.Context, from, to time.Time) ([]string, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	return r.Store.NodeNames(ctx, from, to)
}

// Operations are the span names of a service over [from, to).
func (r Reader) Operations(ctx context.Context, service string, from, to time.Time) ([]string, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	return r.Store.Operations(ctx, service, from, to)
}

// Topics are the messaging destinations a service sends to or receives
// from over [from, to).
func (r Reader) Topics(ctx context.Context, service string, from, to time.Time) ([]storage.Topic, error) {
	if err := CheckRange(from, to); err != nil {
		return nil, err
	}
	return r.Store.Topics(ctx, service, from, to)
}
