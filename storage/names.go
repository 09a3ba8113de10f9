package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MaxNames bounds the names NodeNames and Operations return.
const MaxNames = 10000

// NodeNames returns the names of the graph's nodes over [from, to), sorted:
// every client and server of an edge (services, databases, virtual nodes,
// user). It reads the same tiers as QueryEdges, names only.
func (s *Store) NodeNames(ctx context.Context, from, to time.Time) (_ []string, err error) {
	defer func(start time.Time) { s.m.queryDone("node_names", start, err) }(time.Now())
	if !to.After(from) {
		return nil, fmt.Errorf("node names: %w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	reads, args := readTables(from, to, 0, nil)
	parts := make([]string, len(reads))
	for i, t := range reads {
		parts[i] = "SELECT Client, Server FROM " + s.l.Name(t.table) + " WHERE " + t.where
	}
	q := `SELECT DISTINCT arrayJoin([Client, Server]) AS name
FROM (
    ` + strings.Join(parts, "\n    UNION ALL\n    ") + `
)
WHERE name != ''
ORDER BY name
LIMIT ` + fmt.Sprint(MaxNames)
	names, err := s.queryStrings(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("node names: %w", err)
	}
	return names, nil
}

// Operations returns the span names of service over [from, to), sorted.
// ServiceName and SpanName lead otel_traces' primary key: the engine reads
// only the service's key ranges.
func (s *Store) Operations(ctx context.Context, service string, from, to time.Time) (_ []string, err error) {
	defer func(start time.Time) { s.m.queryDone("operations", start, err) }(time.Now())
	from, to, err = timeRange(from, to, time.Now())
	if err != nil {
		return nil, err
	}
	if service == "" {
		return nil, fmt.Errorf("operations: %w: no service", ErrInvalidQuery)
	}
	if err := checkFilter("service", service); err != nil {
		return nil, err
	}
	q := `SELECT DISTINCT SpanName FROM ` + s.l.Name(TracesTable) + `
WHERE ServiceName = {service:String}
  AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
ORDER BY SpanName
LIMIT ` + fmt.Sprint(MaxNames)
	ops, err := s.queryStrings(ctx, q, namedParams("service", service, "from", from.UnixNano(), "to", to.UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("operations of %s: %w", quoteForError(service), err)
	}
	return ops, nil
}

// Topic is a messaging destination a service sends to or receives from, as
// its producer and consumer spans name it (messaging.destination.name).
type Topic struct {
	Name   string `json:"name"`
	System string `json:"system,omitempty"` // messaging.system: kafka, rabbitmq, ...
	// Sends: the service has producer spans to it; Receives: consumer spans.
	Sends    bool `json:"sends"`
	Receives bool `json:"receives"`
}

// Topics returns the messaging destinations of service over [from, to),
// sorted by name.
func (s *Store) Topics(ctx context.Context, service string, from, to time.Time) (_ []Topic, err error) {
	if service == "" {
		return nil, fmt.Errorf("topics: %w: no service", ErrInvalidQuery)
	}
	st, err := s.ServiceTopics(ctx, service, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Topic, len(st))
	for i := range st {
		out[i] = st[i].Topic
	}
	return out, nil
}

// ServiceTopic is a messaging destination of one service.
type ServiceTopic struct {
	Service string `json:"service"`
	Topic
}

// ServiceTopics returns the messaging destinations each service ("" every
// one) sends to or receives from over [from, to), sorted by service and
// name. ServiceName leads otel_traces' primary key: for one service the
// engine reads only its key ranges.
func (s *Store) ServiceTopics(ctx context.Context, service string, from, to time.Time) (_ []ServiceTopic, err error) {
	defer func(start time.Time) { s.m.queryDone("topics", start, err) }(time.Now())
	from, to, err = timeRange(from, to, time.Now())
	if err != nil {
		return nil, err
	}
	if err := checkFilter("service", service); err != nil {
		return nil, err
	}
	q := `SELECT ServiceName, SpanAttributes['messaging.destination.name'] AS name, any(SpanAttributes['messaging.system']),
    countIf(SpanKind = 'Producer') > 0, countIf(SpanKind = 'Consumer') > 0
FROM ` + s.l.Name(TracesTable) + `
WHERE ({service:String} = '' OR ServiceName = {service:String})
  AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
  AND SpanKind IN ('Producer', 'Consumer') AND name != ''
GROUP BY ServiceName, name
ORDER BY ServiceName, name
LIMIT ` + fmt.Sprint(MaxNames)
	rows, err := s.conn.Query(ctx, q, namedParams("service", service, "from", from.UnixNano(), "to", to.UnixNano())...)
	if err != nil {
		return nil, fmt.Errorf("topics of %s: %w", orEvery(service), err)
	}
	defer rows.Close()
	out := []ServiceTopic{}
	for rows.Next() {
		var t ServiceTopic
		if err := rows.Scan(&t.Service, &t.Name, &t.System, &t.Sends, &t.Receives); err != nil {
			return nil, fmt.Errorf("topics of %s: %w", orEvery(service), err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// orEvery names a service filter in errors: the service, or "every service".
func orEvery(service string) string {
	if service == "" {
		return "every service"
	}
	return quoteForError(service)
}

func (s *Store) queryStrings(ctx context.Context, q string, args []any) ([]string, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
