package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What the service catalog reads from the spans of a window: the
// operations each service serves and calls, with their protocols, its
// instances and versions, and who calls each operation.

// MaxCatalogRows bounds each catalog query's rows.
const MaxCatalogRows = 100000

// SpanOperation is one kind of span of a service over a window: an
// operation it serves (Server, Consumer) or calls (Client, Producer).
type SpanOperation struct {
	Service string `json:"service"`
	Kind    string `json:"kind"` // Server, Consumer, Client, Producer
	Name    string `json:"name"` // span name
	// Protocol is what the semantic conventions name: the rpc.system
	// (grpc, ...), the messaging.system (kafka, ...), the db.system
	// (postgresql, ...), or http; "" when the span names none. Family is
	// rpc, messaging, database or http.
	Protocol string `json:"protocol,omitempty"`
	Family   string `json:"family,omitempty"`
	// Peer is what a client or producer span names as the other side, as
	// the flow analyzer names a peer that records nothing: peer.service,
	// db.name (db.namespace), db.system, server.address; "" for others.
	Peer string `json:"peer,omitempty"`
	// Destination is a messaging span's messaging.destination.name.
	Destination string    `json:"destination,omitempty"`
	Spans       uint64    `json:"spans"`
	Errors      uint64    `json:"errors"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
}

// protocolSQL and familySQL read a span's protocol from the semantic
// conventions' attributes, the first that is set.
const (
	protocolSQL = `multiIf(SpanAttributes['rpc.system'] != '', SpanAttributes['rpc.system'],
        SpanAttributes['messaging.system'] != '', SpanAttributes['messaging.system'],
        SpanAttributes['db.system'] != '', SpanAttributes['db.system'],
        SpanAttributes['db.system.name'] != '', SpanAttributes['db.system.name'],
        SpanAttributes['http.request.method'] != '' OR SpanAttributes['http.method'] != '', 'http', '')`
	familySQL = `multiIf(SpanAttributes['rpc.system'] != '', 'rpc',
        SpanAttributes['messaging.system'] != '', 'messaging',
        SpanAttributes['db.system'] != '' OR SpanAttributes['db.system.name'] != '', 'database',
        SpanAttributes['http.request.method'] != '' OR SpanAttributes['http.method'] != '', 'http', '')`
	peerSQL = `if(SpanKind IN ('Client', 'Producer'), multiIf(SpanAttributes['peer.service'] != '', SpanAttributes['peer.service'],
        SpanAttributes['db.name'] != '', SpanAttributes['db.name'],
        SpanAttributes['db.namespace'] != '', SpanAttributes['db.namespace'],
        SpanAttributes['db.system'] != '', SpanAttributes['db.system'],
        SpanAttributes['server.address'] != '', SpanAttributes['server.address'], ''), '')`
)

// catalogRange checks a catalog query's window and service filter.
func catalogRange(from, to time.Time, service string) error {
	if !to.After(from) {
		return fmt.Errorf("%w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	return checkFilter("service", service)
}

// SpanOperations groups the spans of [from, to) by service, kind, name,
// protocol, peer and destination: one scan of the window's spans (of one
// service, "" every one), reading their names and a few attributes.
func (s *Store) SpanOperations(ctx context.Context, from, to time.Time, service string) (_ []SpanOperation, err error) {
	defer func(start time.Time) { s.m.queryDone("span_operations", start, err) }(time.Now())
	if err := catalogRange(from, to, service); err != nil {
		return nil, fmt.Errorf("span operations: %w", err)
	}
	// the attributes read are taken out of each span's map once, so the
	// lookups below search a few keys instead of every attribute
	q := `SELECT ServiceName, SpanKind, SpanName, ` + strings.ReplaceAll(protocolSQL, "SpanAttributes", "a") + ` AS protocol,
    ` + strings.ReplaceAll(familySQL, "SpanAttributes", "a") + ` AS family,
    ` + strings.ReplaceAll(peerSQL, "SpanAttributes", "a") + ` AS peer, a['messaging.destination.name'] AS dest,
    count(), countIf(StatusCode = 'Error'), min(Timestamp), max(Timestamp)
FROM (
    SELECT ServiceName, SpanKind, SpanName, StatusCode, Timestamp,
        mapFilter((k, v) -> k IN ('rpc.system', 'messaging.system', 'db.system', 'db.system.name', 'http.request.method',
            'http.method', 'peer.service', 'db.name', 'db.namespace', 'server.address', 'messaging.destination.name'), SpanAttributes) AS a
    FROM ` + s.l.Name(TracesTable) + `
    WHERE ({service:String} = '' OR ServiceName = {service:String})
      AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
      AND SpanKind IN ('Server', 'Consumer', 'Client', 'Producer')
)
GROUP BY ServiceName, SpanKind, SpanName, protocol, family, peer, dest
ORDER BY ServiceName, SpanKind, SpanName, peer, dest
LIMIT ` + strconv.Itoa(MaxCatalogRows)
	rows, err := s.conn.Query(ctx, q, namedParams("service", service, "from", from.UnixNano(), "to", to.UnixNano())...)
	if err != nil {
		return nil, fmt.Errorf("span operations of %s: %w", orEvery(service), err)
	}
	defer rows.Close()
	out := []SpanOperation{}
	for rows.Next() {
		var o SpanOperation
		if err := rows.Scan(&o.Service, &o.Kind, &o.Name, &o.Protocol, &o.Family, &o.Peer, &o.Destination,
			&o.Spans, &o.Errors, &o.First, &o.Last); err != nil {
			return nil, fmt.Errorf("span operations of %s: %w", orEvery(service), err)
		}
		o.First, o.Last = o.First.UTC(), o.Last.UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// ServiceResource is what the spans' resources say of a service over a
// window: its instances and versions.
type ServiceResource struct {
	Service string `json:"service"`
	// Instances are the first of the instance attributes each span's
	// resource has (see ServiceResources); Versions its service.version.
	// Both sorted, at most MaxResourceValues each.
	Instances []string  `json:"instances"`
	Versions  []string  `json:"versions"`
	Spans     uint64    `json:"spans"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// MaxResourceValues bounds the instances and versions of a service.
const MaxResourceValues = 100

// ServiceResources reads, per service ("" every one), the instances and
// versions of its spans over [from, to); an instance is the first of
// instanceKeys the resource has.
func (s *Store) ServiceResources(ctx context.Context, from, to time.Time, service string, instanceKeys []string) (_ []ServiceResource, err error) {
	defer func(start time.Time) { s.m.queryDone("service_resources", start, err) }(time.Now())
	if err := catalogRange(from, to, service); err != nil {
		return nil, fmt.Errorf("service resources: %w", err)
	}
	if len(instanceKeys) == 0 || len(instanceKeys) > MaxInstanceKeys {
		return nil, fmt.Errorf("service resources: %w: %d instance attributes (want 1 to %d)", ErrInvalidQuery, len(instanceKeys), MaxInstanceKeys)
	}
	args := namedParams("service", service, "from", from.UnixNano(), "to", to.UnixNano())
	var instance, keys []string
	for i, k := range instanceKeys {
		p := "k" + strconv.Itoa(i)
		instance = append(instance, "r[{"+p+":String}] != '', r[{"+p+":String}]")
		keys = append(keys, "{"+p+":String}")
		args = append(args, namedParams(p, k)...)
	}
	max := strconv.Itoa(MaxResourceValues)
	// the attributes read are taken out of each resource's map once
	q := `SELECT ServiceName,
    arraySort(arrayFilter(x -> x != '', groupUniqArray(` + max + `)(multiIf(` + strings.Join(instance, ", ") + `, '')))),
    arraySort(arrayFilter(x -> x != '', groupUniqArray(` + max + `)(r['service.version']))),
    count(), min(Timestamp), max(Timestamp)
FROM (
    SELECT ServiceName, Timestamp, mapFilter((k, v) -> k IN ('service.version', ` + strings.Join(keys, ", ") + `), ResourceAttributes) AS r
    FROM ` + s.l.Name(TracesTable) + `
    WHERE ({service:String} = '' OR ServiceName = {service:String})
      AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
)
GROUP BY ServiceName
ORDER BY ServiceName
LIMIT ` + strconv.Itoa(MaxNames)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("resources of %s: %w", orEvery(service), err)
	}
	defer rows.Close()
	out := []ServiceResource{}
	for rows.Next() {
		var r ServiceResource
		if err := rows.Scan(&r.Service, &r.Instances, &r.Versions, &r.Spans, &r.First, &r.Last); err != nil {
			return nil, fmt.Errorf("resources of %s: %w", orEvery(service), err)
		}
		r.First, r.Last = r.First.UTC(), r.Last.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// OperationCaller counts the calls of one operation (a server or
// consumer span name) by one caller over a window.
type OperationCaller struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Kind      string `json:"kind"` // Server or Consumer
	// Root: the span has no parent (a request from outside, or a consumer
	// that starts a trace of its own). Otherwise Caller is the service of
	// the client or producer span that is its parent, "" when that span
	// was not recorded.
	Root   bool   `json:"root"`
	Caller string `json:"caller,omitempty"`
	Calls  uint64 `json:"calls"`
}

// callerMargin widens the window the callers' spans are read from: a
// client span starts before its server span.
const callerMargin = time.Minute

// OperationCallers pairs each server and consumer span of [from, to) with
// its parent span, in the same trace, and counts the calls per operation
// and calling service: of every service, or (service given) the calls it
// serves and the calls it makes. The parents are held in the engine's
// memory as a hash table (one row per client or producer span of the
// window, of the service's traces when service is given): the window
// bounds what it costs.
func (s *Store) OperationCallers(ctx context.Context, from, to time.Time, service string) (_ []OperationCaller, err error) {
	defer func(start time.Time) { s.m.queryDone("operation_callers", start, err) }(time.Now())
	if err := catalogRange(from, to, service); err != nil {
		return nil, fmt.Errorf("operation callers: %w", err)
	}
	const window = `Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})`
	const wide = `Timestamp >= fromUnixTimestamp64Nano({cfrom:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})`
	traces, calls := "", ""
	if service != "" {
		traces = `
      AND TraceId IN (SELECT TraceId FROM ` + s.l.Name(TracesTable) + ` WHERE ServiceName = {service:String} AND ` + wide + `)`
		calls = `
WHERE srv.ServiceName = {service:String} OR cli.ServiceName = {service:String}`
	}
	q := `SELECT srv.ServiceName, srv.SpanName, srv.SpanKind, srv.ParentSpanId = '' AS root, cli.ServiceName AS caller, count()
FROM (
    SELECT TraceId, ParentSpanId, ServiceName, SpanName, SpanKind FROM ` + s.l.Name(TracesTable) + `
    WHERE ` + window + ` AND SpanKind IN ('Server', 'Consumer')` + traces + `
) AS srv
LEFT ANY JOIN (
    SELECT TraceId, SpanId, ServiceName FROM ` + s.l.Name(TracesTable) + `
    WHERE ` + wide + ` AND SpanKind IN ('Client', 'Producer')` + traces + `
) AS cli ON srv.TraceId = cli.TraceId AND srv.ParentSpanId = cli.SpanId` + calls + `
GROUP BY srv.ServiceName, srv.SpanName, srv.SpanKind, root, caller
ORDER BY srv.ServiceName, srv.SpanName, caller
LIMIT ` + strconv.Itoa(MaxCatalogRows)
	rows, err := s.conn.Query(ctx, q, namedParams("service", service, "from", from.UnixNano(), "to", to.UnixNano(),
		"cfrom", from.Add(-callerMargin).UnixNano())...)
	if err != nil {
		return nil, fmt.Errorf("callers of %s: %w", orEvery(service), err)
	}
	defer rows.Close()
	out := []OperationCaller{}
	for rows.Next() {
		var c OperationCaller
		if err := rows.Scan(&c.Service, &c.Operation, &c.Kind, &c.Root, &c.Caller, &c.Calls); err != nil {
			return nil, fmt.Errorf("callers of %s: %w", orEvery(service), err)
		}
		if c.Root {
			c.Caller = ""
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
