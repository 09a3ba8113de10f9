package storeload

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// Large synthetic datasets for benchmarks, generated inside the engine with
// INSERT ... SELECT FROM numbers(): millions of rows in seconds, without
// the generator's realism (use Load for that).

const syntheticChunk = 2_000_000 // rows per INSERT

func table(st *storage.Store, name string) string { return "`" + st.Database() + "`.`" + name + "`" }

// SyntheticServices is the number of services SyntheticEdges spreads its
// edges over.
const SyntheticServices = 200

// SyntheticEdges stores flow_edges rollups of edges (at most 2,000) between
// SyntheticServices services, one row per edge per minute over [end-span,
// end) (end truncated to the minute): 100 requests per row, histograms
// filled, a few failures and retries. The hourly tier fills from them as it
// does from the analyzer's flushes.
func SyntheticEdges(ctx context.Context, st *storage.Store, edges int, end time.Time, span time.Duration) error {
	if edges < 1 || edges > 10*SyntheticServices {
		return fmt.Errorf("synthetic edges: %d edges: want 1 to %d", edges, 10*SyntheticServices)
	}
	// edge e: client e % 200, server client + 1 + e / 200 (mod 200): all distinct
	return syntheticEdges(ctx, st, SyntheticServices, edges, end, span,
		`number % {edges:UInt64} % {svc:UInt64}`,
		`(number % {edges:UInt64} % {svc:UInt64} + 1 + intDiv(number % {edges:UInt64}, {svc:UInt64})) % {svc:UInt64}`)
}

// SyntheticEdgesAmong stores rollups as SyntheticEdges does, of edges (at
// most 6 per service) among services shaped as a system is: 7 tiers of
// services, each edge from a service to one in a later tier (or later in its
// own), so calls flow one way, over at most a dozen hops.
func SyntheticEdgesAmong(ctx context.Context, st *storage.Store, services, edges int, end time.Time, span time.Duration) error {
	if services < 14 || edges < 1 || edges > 6*services {
		return fmt.Errorf("synthetic edges: %d edges among %d services: want at least 14 services and 1 to %d edges", edges, services, 6*services)
	}
	// a = e % services, b = a + 7 * (1 + e / services) (mod services): distinct
	// pairs; each goes from the one of lower (tier, index) to the other
	a := `(number % {edges:UInt64} % {svc:UInt64})`
	b := `((number % {edges:UInt64} % {svc:UInt64} + 7 * (1 + intDiv(number % {edges:UInt64}, {svc:UInt64}))) % {svc:UInt64})`
	key := func(x string) string { return `(intDiv(` + x + ` * 7, {svc:UInt64}) * {svc:UInt64} + ` + x + `)` }
	first := `if(` + key(a) + ` < ` + key(b) + `, ` + a + `, ` + b + `)`
	second := `if(` + key(a) + ` < ` + key(b) + `, ` + b + `, ` + a + `)`
	return syntheticEdges(ctx, st, services, edges, end, span, first, second)
}

// syntheticEdges stores the rollups of edges from service client(number) to
// service server(number), SQL over number (the row) with the parameters
// edges and svc.
func syntheticEdges(ctx context.Context, st *storage.Store, services, edges int, end time.Time, span time.Duration, client, server string) error {
	end = end.UTC().Truncate(time.Minute)
	minutes := int(span / time.Minute)
	total := minutes * edges
	nLat, nDel := len(flowmodel.LatencyBounds)+1, len(flowmodel.DelayBounds)+1
	q := `INSERT INTO ` + table(st, storage.EdgesTable) + ` (Bucket, Client, Server, ConnectionType, Requests, Failed,
    ServerLatencyBuckets, ServerLatencySum, ClientLatencyBuckets, ClientLatencySum,
    MessagesSent, MessagesReceived, DelayBuckets, DelaySum, Retries, Unpaired,
    BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerTransitions)
SELECT
    toDateTime({start:Int64} + intDiv(number, {edges:UInt64}) * 60, 'UTC'),
    concat('svc-', toString(` + client + `)),
    concat('svc-', toString(` + server + `)),
    '', 100, number % 3,
    arrayMap(i -> toUInt64(cityHash64(number, i) % 20), range({nlat:UInt8})), (number % 97) / 10.0,
    arrayMap(i -> toUInt64(cityHash64(number, i, 1) % 20), range({nlat:UInt8})), (number % 89) / 10.0,
    0, 0, arrayWithConstant({ndel:UInt8}, toUInt64(0)), 0, number % 2, 0,
    100, 0, 0, 0
FROM numbers({off:UInt64}, {cnt:UInt64})`
	start := end.Add(-time.Duration(minutes) * time.Minute).Unix()
	for off := 0; off < total; off += syntheticChunk {
		cnt := min(syntheticChunk, total-off)
		if err := st.Conn().Exec(ctx, q, clickhouse.Named("start", start), clickhouse.Named("edges", uint64(edges)), clickhouse.Named("svc", uint64(services)),
			clickhouse.Named("nlat", uint8(nLat)), clickhouse.Named("ndel", uint8(nDel)),
			clickhouse.Named("off", uint64(off)), clickhouse.Named("cnt", uint64(cnt))); err != nil {
			return fmt.Errorf("synthetic edges: %w", err)
		}
	}
	return nil
}

// SyntheticSpans stores n spans, 10 per trace (a chain of 10 services),
// traces spread evenly over [end-span, end), attributes as an HTTP service
// has them, and returns up to 1,000 of the trace IDs (from the trace-ID
// index, in a random order).
func SyntheticSpans(ctx context.Context, st *storage.Store, n int, end time.Time, span time.Duration) ([]string, error) {
	traces := max(n/10, 1)
	step := int64(span) / int64(traces)
	q := `INSERT INTO ` + table(st, storage.TracesTable) + ` (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode)
SELECT
    fromUnixTimestamp64Nano(toInt64({t0:Int64} + intDiv(number, 10) * {step:Int64} + (number % 10) * 1000000)),
    lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 1))) || hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 2)))),
    lower(hex(reinterpretAsFixedString(cityHash64(number, 3)))),
    if(number % 10 = 0, '', lower(hex(reinterpretAsFixedString(cityHash64(number - 1, 3))))),
    concat(['GET', 'POST'][number % 2 + 1], ' /api/v1/', toString(number % 37)),
    ['Server', 'Client'][number % 2 + 1],
    concat('svc-', toString((intDiv(number, 10) + number % 10) % 24)) AS svc,
    map('service.name', svc, 'host.name', concat('node-', toString(number % 17)), 'service.version', '1.4.2'),
    'otelhttp', '0.58.0',
    map('http.request.method', ['GET', 'POST'][number % 2 + 1], 'url.path', concat('/api/v1/', toString(number % 37)),
        'http.response.status_code', toString([200, 200, 200, 500][number % 4 + 1]), 'server.address', concat(svc, '.shop.svc'),
        'client.address', concat('10.0.', toString(number % 250), '.', toString(number % 199))),
    (number % 97) * 1000000 + 500000,
    ['Ok', 'Ok', 'Ok', 'Error'][number % 4 + 1]
FROM numbers({off:UInt64}, {cnt:UInt64})`
	t0 := end.Add(-span).UnixNano()
	for off := 0; off < n; off += syntheticChunk {
		cnt := min(syntheticChunk, n-off)
		if err := st.Conn().Exec(ctx, q, clickhouse.Named("t0", t0), clickhouse.Named("step", step),
			clickhouse.Named("off", uint64(off)), clickhouse.Named("cnt", uint64(cnt))); err != nil {
			return nil, fmt.Errorf("synthetic spans: %w", err)
		}
	}
	rows, err := st.Conn().Query(ctx, "SELECT DISTINCT TraceId FROM "+table(st, storage.TraceIndexTable)+" ORDER BY cityHash64(TraceId) LIMIT 1000")
	if err != nil {
		return nil, fmt.Errorf("synthetic spans: trace IDs: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SyntheticTrace stores one trace of n spans (at most 100,000) starting at
// start: a tree in which span i is the child of span (i-1)/3, spread over 24
// services, each span starting 50 µs after its parent and lasting longer the
// nearer it is to the root, with one log record in every span. It returns
// the trace's ID.
func SyntheticTrace(ctx context.Context, st *storage.Store, n int, start time.Time) (string, error) {
	if n < 1 || n > 100_000 {
		return "", fmt.Errorf("synthetic trace: %d spans: want 1 to 100000", n)
	}
	id := fmt.Sprintf("%016x%016x", uint64(start.UnixNano()), uint64(n))
	spans := `INSERT INTO ` + table(st, storage.TracesTable) + ` (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
    ServiceName, ResourceAttributes, SpanAttributes, Duration, StatusCode)
SELECT
    fromUnixTimestamp64Nano(toInt64({t0:Int64} + floor(log2(number + 1)) * 50000 + number * 1000)),
    {id:String},
    lower(hex(reinterpretAsFixedString(cityHash64(number, {id:String})))),
    if(number = 0, '', lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number - 1, 3), {id:String}))))),
    concat(['GET', 'POST'][number % 2 + 1], ' /api/v1/', toString(number % 37)),
    ['Server', 'Client'][number % 2 + 1],
    concat('svc-', toString(number % 24)) AS svc,
    map('service.name', svc),
    map('http.route', concat('/api/v1/', toString(number % 37)), 'flowlens.seq', toString(number)),
    toUInt64(intDiv(200000000, number + 1) + 20000),
    ['Ok', 'Ok', 'Ok', 'Error'][number % 4 + 1]
FROM numbers({n:UInt64})`
	logs := `INSERT INTO ` + table(st, storage.LogsTable) + ` (Timestamp, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName, Body)
SELECT
    fromUnixTimestamp64Nano(toInt64({t0:Int64} + floor(log2(number + 1)) * 50000 + number * 1000 + 10000)),
    {id:String},
    lower(hex(reinterpretAsFixedString(cityHash64(number, {id:String})))),
    'INFO', 9,
    concat('svc-', toString(number % 24)),
    concat('handled request ', toString(number))
FROM numbers({n:UInt64})`
	for _, q := range []string{spans, logs} {
		if err := st.Conn().Exec(ctx, q, clickhouse.Named("t0", start.UnixNano()), clickhouse.Named("id", id), clickhouse.Named("n", uint64(n))); err != nil {
			return "", fmt.Errorf("synthetic trace: %w", err)
		}
	}
	return id, nil
}

// SyntheticLogs stores n log records spread evenly over [end-span, end)
// across the 24 services SyntheticSpans uses, as an agent forwards them
// (host.name on the resource, a severity, a short body); every tenth
// record of svc-3 has no trace ID, the others one trace ID per ten records.
func SyntheticLogs(ctx context.Context, st *storage.Store, n int, end time.Time, span time.Duration) error {
	step := int64(span) / int64(max(n, 1))
	q := `INSERT INTO ` + table(st, storage.LogsTable) + ` (Timestamp, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName,
    Body, ResourceAttributes, LogAttributes)
SELECT
    fromUnixTimestamp64Nano(toInt64({t0:Int64} + number * {step:Int64})),
    if(svc = 'svc-3' AND number % 10 = 3, '',
        lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 1))) || hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 2))))),
    lower(hex(reinterpretAsFixedString(cityHash64(number, 3)))),
    ['INFO', 'INFO', 'WARN', 'ERROR'][number % 4 + 1], [9, 9, 13, 17][number % 4 + 1],
    concat('svc-', toString(intDiv(number, 7) % 24)) AS svc,
    concat('handled request ', toString(number % 1000)),
    map('service.name', svc, 'host.name', concat('node-', toString(number % 17))),
    map('log.file.name', concat(svc, '.log'))
FROM numbers({off:UInt64}, {cnt:UInt64})`
	t0 := end.Add(-span).UnixNano()
	for off := 0; off < n; off += syntheticChunk {
		cnt := min(syntheticChunk, n-off)
		if err := st.Conn().Exec(ctx, q, clickhouse.Named("t0", t0), clickhouse.Named("step", step),
			clickhouse.Named("off", uint64(off)), clickhouse.Named("cnt", uint64(cnt))); err != nil {
			return fmt.Errorf("synthetic logs: %w", err)
		}
	}
	return nil
}
