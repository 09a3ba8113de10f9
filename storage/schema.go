package storage

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Table names. In cluster mode these are Distributed tables over
// <name>_local replicated tables; queries always use these names.
const (
	TracesTable     = "otel_traces"
	TraceIndexTable = "otel_traces_trace_id_ts"
	TraceIndexView  = "otel_traces_trace_id_ts_mv"
	// TraceIndexLogsView adds the times of a trace's logs to the index.
	TraceIndexLogsView = "otel_traces_trace_id_ts_logs_mv"
	TraceLinksTable    = "flowlens_trace_links"
	TraceLinksView     = "flowlens_trace_links_mv"
	LogsTable          = "otel_logs"
	EdgesTable         = "flow_edges"
	// EdgesHourlyTable holds flow_edges summed per hour, filled by
	// EdgesHourlyView: one of the tiers ranges are read from.
	EdgesHourlyTable = "flow_edges_hourly"
	EdgesHourlyView  = "flow_edges_hourly_mv"
	// EdgesTiersTable holds the same per 10 minutes, 6 hours and day,
	// filled by EdgesTiersView (see splitTiers).
	EdgesTiersTable = "flow_edges_tiers"
	EdgesTiersView  = "flow_edges_tiers_mv"
	MigrationsTable = "flowlens_migrations"
)

// Migration is one versioned step of the schema. Its DDL statements are
// idempotent (IF NOT EXISTS), so a step interrupted half-way is re-run
// whole; its backfills (INSERT ... SELECT into a new tier) are not: one
// interrupted after some of its rows were added adds them again.
type Migration struct {
	Version    int
	Name       string
	Statements []string
	// DailyBackfill runs after Statements once for each day that
	// flow_edges holds rows of, newest day first, with {day:Int64} bound
	// to the day's start (unix seconds, UTC): what a backfill holds in
	// memory is then one day's sums, not the whole table's.
	DailyBackfill []string
}

// dedupWindow is how many recent insert blocks a non-replicated table
// remembers for insert_deduplication_token (replicated tables remember
// replicated_deduplication_window blocks by default).
const dedupWindow = 1000

// layout renders DDL for one Config: single node or cluster.
type layout struct {
	DB      string // quoted database
	Cluster string // raw cluster name, empty for a single node
	TTL     TTLConfig
	// TracesGranularity is index_granularity of otel_traces.
	TracesGranularity int
	// TraceIDProjection adds the by-trace projection to otel_traces.
	TraceIDProjection bool
	// LogsGranularity and TraceIndexGranularity are index_granularity of
	// otel_logs and otel_traces_trace_id_ts.
	LogsGranularity, TraceIndexGranularity int
	// Extra is "k = v" settings for every storing table, sorted.
	Extra []string
}

func newLayout(cfg Config) layout {
	var extra []string
	for k, v := range cfg.MergeTreeSettings {
		extra = append(extra, k+" = "+v)
	}
	sort.Strings(extra)
	// Migrations is exported and may be given a config SetDefaults has not filled.
	return layout{DB: quoteIdent(cfg.Database), Cluster: cfg.Cluster, TTL: cfg.TTL,
		TracesGranularity:     cmp.Or(cfg.TracesGranularity, DefaultTracesGranularity),
		LogsGranularity:       cmp.Or(cfg.LogsGranularity, DefaultLogsGranularity),
		TraceIndexGranularity: cmp.Or(cfg.TraceIndexGranularity, DefaultTraceIndexGranularity),
		TraceIDProjection:     cfg.Projection(), Extra: extra}
}

// OnCluster is " ON CLUSTER `c`" in cluster mode.
func (l layout) OnCluster() string {
	if l.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + quoteIdent(l.Cluster)
}

// Local is the quoted, database-qualified name of the table that stores rows.
func (l layout) Local(name string) string {
	if l.Cluster == "" {
		return l.DB + "." + quoteIdent(name)
	}
	return l.DB + "." + quoteIdent(name+"_local")
}

// Name is the quoted, database-qualified name queries and inserts use.
func (l layout) Name(name string) string { return l.DB + "." + quoteIdent(name) }

// Engine is the MergeTree-family engine, replicated in cluster mode.
func (l layout) Engine(kind string) string {
	if l.Cluster == "" {
		return kind
	}
	return "Replicated" + kind
}

// Settings is the SETTINGS clause of a storing table.
func (l layout) Settings(ttlOnlyDropParts bool) string { return l.SettingsG(8192, ttlOnlyDropParts) }

// SettingsG is Settings with the given index_granularity.
func (l layout) SettingsG(granularity int, ttlOnlyDropParts bool) string {
	s := []string{fmt.Sprintf("index_granularity = %d", granularity)}
	if ttlOnlyDropParts {
		s = append(s, "ttl_only_drop_parts = 1")
	}
	if l.Cluster == "" {
		s = append(s, fmt.Sprintf("non_replicated_deduplication_window = %d", dedupWindow))
	}
	s = append(s, l.Extra...)
	return "SETTINGS " + strings.Join(s, ", ")
}

// storingTables are the tables that hold rows and take Config.MergeTreeSettings.
var storingTables = []string{TracesTable, TraceIndexTable, TraceLinksTable, LogsTable, EdgesTable,
	EdgesHourlyTable, EdgesTiersTable, LedgerReportsTable, LedgerStoredTable}

// settingsNamed is "k = v" for the names that settings has, in the order given.
func settingsNamed(settings map[string]string, names ...string) []string {
	var out []string
	for _, k := range names {
		if v, ok := settings[k]; ok {
			out = append(out, k+" = "+v)
		}
	}
	return out
}

// ModifySettings sets settings ("k = v") on the storing tables named; it
// renders nothing without settings.
func (l layout) ModifySettings(tables, settings []string) []string {
	if len(settings) == 0 {
		return nil
	}
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = "ALTER TABLE " + l.Local(t) + l.OnCluster() + " MODIFY SETTING " + strings.Join(settings, ", ")
	}
	return out
}

// LogsSettings is otel_logs' SETTINGS clause: LogsGranularity, and
// compressed blocks of 8 to 128 times it bytes (the engine's defaults at
// 8192), so that a small granule of a narrow column is not decoded inside a
// block of 64 KiB (see Config.LogsGranularity). merge_tree_settings naming
// either block size replaces both.
func (l layout) LogsSettings() string {
	s := l.SettingsG(l.LogsGranularity, true)
	for _, e := range l.Extra {
		if strings.HasPrefix(e, "min_compress_block_size ") || strings.HasPrefix(e, "max_compress_block_size ") {
			return s
		}
	}
	return s + fmt.Sprintf(", min_compress_block_size = %d, max_compress_block_size = %d", 8*l.LogsGranularity, 128*l.LogsGranularity)
}

// TTLClause is "TTL expr + toIntervalDay(days)" or "" for days == 0.
func (l layout) TTLClause(expr string, days int) string {
	if days <= 0 {
		return ""
	}
	return fmt.Sprintf("TTL %s + toIntervalDay(%d)\n", expr, days)
}

// Distributed creates the query-facing table over the local one in cluster
// mode; it renders nothing on a single node.
func (l layout) Distributed(name, shardingKey string) string {
	if l.Cluster == "" {
		return ""
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s\nENGINE = Distributed(%s, %s, %s, %s)",
		l.Name(name), l.OnCluster(), l.Local(name),
		quoteString(l.Cluster), quoteString(unquoteIdent(l.DB)), quoteString(name+"_local"), shardingKey)
}

// newColumn is a column added to an existing table.
type newColumn struct {
	Name, Type, Codec, After string
}

// AddColumns adds columns to a table: the storing one, and in cluster mode
// also the Distributed one over it (type only), so queries through it see
// them.
func (l layout) AddColumns(name string, columns []newColumn) []string {
	alter := func(table string, local bool) string {
		adds := make([]string, len(columns))
		for i, c := range columns {
			adds[i] = "\n    ADD COLUMN IF NOT EXISTS " + c.Name + " " + c.Type
			if local && c.Codec != "" {
				adds[i] += " CODEC(" + c.Codec + ")"
			}
			if c.After != "" {
				adds[i] += " AFTER " + c.After
			}
		}
		return "ALTER TABLE " + table + l.OnCluster() + strings.Join(adds, ",")
	}
	if l.Cluster == "" {
		return []string{alter(l.Local(name), true)}
	}
	return []string{alter(l.Local(name), true), alter(l.Name(name), false)}
}

// AddKeyColumns adds columns to an AggregatingMergeTree table and appends
// them to its sorting key (newKey: the whole new key), in one ALTER as
// ClickHouse requires: rows that differ in them are then never merged
// together. In cluster mode the Distributed table gets the columns alone.
func (l layout) AddKeyColumns(name string, columns []newColumn, newKey string) []string {
	s := l.AddColumns(name, columns)
	s[0] += ",\n    MODIFY ORDER BY (" + newKey + ")"
	return s
}

const tracesDDL = `CREATE TABLE IF NOT EXISTS {{.Local "otel_traces"}}{{.OnCluster}} (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8{{if .TraceIDProjection}},
    PROJECTION by_trace_id (SELECT * ORDER BY TraceId, Timestamp){{end}}
) ENGINE = {{.Engine "MergeTree"}}
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
{{.TTLClause "toDateTime(Timestamp)" .TTL.Traces}}{{.SettingsG .TracesGranularity true}}`

// The trace-ID index: one row per trace (per week) after merges, with the
// first and last span start, so a lookup reads only the partitions of
// otel_traces that hold the trace. Same columns as the exporter's table.
const traceIndexDDL = `CREATE TABLE IF NOT EXISTS {{.Local "otel_traces_trace_id_ts"}}{{.OnCluster}} (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
) ENGINE = {{.Engine "AggregatingMergeTree"}}
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
{{.TTLClause "Start" .TTL.TraceIndexDays}}{{.SettingsG .TraceIndexGranularity true}}`

const traceIndexViewDDL = `CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name "otel_traces_trace_id_ts_mv"}}{{.OnCluster}}
TO {{.Local "otel_traces_trace_id_ts"}}
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM {{.Local "otel_traces"}}
WHERE TraceId != ''
GROUP BY TraceId`

// The trace-ID index also spans the times of the trace's logs (migration
// 11): a lookup then reads the logs of exactly that range. Before, it read
// the spans' range widened by an hour, for the logs written after the last
// span started: at 50k logs/s that is 360M rows, whose every granule's
// bloom filter each lookup checked. A trace's range can only grow by this,
// so what reads the index for spans (Grafana's OTel mode, flowlens) still
// finds every span.
const traceIndexLogsViewDDL = `CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name "otel_traces_trace_id_ts_logs_mv"}}{{.OnCluster}}
TO {{.Local "otel_traces_trace_id_ts"}}
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM {{.Local "otel_logs"}}
WHERE TraceId != ''
GROUP BY TraceId`

// The reverse index of span links: a row per link, keyed by the trace it
// points to, so that a producer's trace finds the consumers (in other
// traces, as the messaging conventions link them) that link to it. Only
// spans with links make rows. Spans stored before this table existed are
// not in it.
const traceLinksDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flowlens_trace_links"}}{{.OnCluster}} (
    LinkedTraceId String CODEC(ZSTD(1)),
    LinkedSpanId String CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = {{.Engine "MergeTree"}}
PARTITION BY toStartOfWeek(Timestamp)
ORDER BY (LinkedTraceId, Timestamp)
{{.TTLClause "toDateTime(Timestamp)" .TTL.TraceIndexDays}}{{.Settings true}}`

const traceLinksViewDDL = `CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name "flowlens_trace_links_mv"}}{{.OnCluster}}
TO {{.Local "flowlens_trace_links"}}
AS SELECT
    Links.TraceId AS LinkedTraceId,
    Links.SpanId AS LinkedSpanId,
    Timestamp,
    TraceId,
    SpanId,
    ServiceName,
    SpanName
FROM {{.Local "otel_traces"}}
ARRAY JOIN Links
WHERE LinkedTraceId != '' AND LinkedTraceId != TraceId`

const logsDDL = `CREATE TABLE IF NOT EXISTS {{.Local "otel_logs"}}{{.OnCluster}} (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = {{.Engine "MergeTree"}}
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
{{.TTLClause "TimestampTime" .TTL.Logs}}{{.LogsSettings}}`

// flow_edges holds partial aggregates: each flush of each analyzer instance
// inserts one row per (bucket, client, server, connection type) it saw.
// Rows are never merged by the engine; a graph for any time range is one
// GROUP BY with sum() and sumForEach() (see QueryEdges), which is what lets
// several instances write the same bucket at once without coordination.
// Histogram arrays have len(bounds)+1 counts (the last is +Inf); the bounds
// are LatencyBounds and DelayBounds. Breaker* count the requests seen while
// the client's circuit breaker toward the server was in each state (every
// state explicit, so "no data" differs from "closed") and the state changes,
// so a state shorter than a bucket is not lost.
const edgesDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flow_edges"}}{{.OnCluster}} (
    Bucket DateTime CODEC(Delta(4), ZSTD(1)),
    Client LowCardinality(String) CODEC(ZSTD(1)),
    Server LowCardinality(String) CODEC(ZSTD(1)),
    ConnectionType LowCardinality(String) CODEC(ZSTD(1)),
    Requests UInt64 CODEC(T64, ZSTD(1)),
    Failed UInt64 CODEC(T64, ZSTD(1)),
    ServerLatencyBuckets Array(UInt64) CODEC(ZSTD(1)),
    ServerLatencySum Float64 CODEC(ZSTD(1)),
    ClientLatencyBuckets Array(UInt64) CODEC(ZSTD(1)),
    ClientLatencySum Float64 CODEC(ZSTD(1)),
    MessagesSent UInt64 CODEC(T64, ZSTD(1)),
    MessagesReceived UInt64 CODEC(T64, ZSTD(1)),
    DelayBuckets Array(UInt64) CODEC(ZSTD(1)),
    DelaySum Float64 CODEC(ZSTD(1)),
    Retries UInt64 CODEC(T64, ZSTD(1)),
    Unpaired UInt64 CODEC(T64, ZSTD(1)),
    BreakerClosed UInt64 CODEC(T64, ZSTD(1)),
    BreakerOpen UInt64 CODEC(T64, ZSTD(1)),
    BreakerHalfOpen UInt64 CODEC(T64, ZSTD(1)),
    BreakerTransitions UInt64 CODEC(T64, ZSTD(1))
) ENGINE = {{.Engine "MergeTree"}}
PARTITION BY toDate(Bucket)
ORDER BY (Bucket, Client, Server, ConnectionType)
{{.TTLClause "Bucket" .TTL.Edges}}{{.Settings true}}`

// edgesSeenColumns (migration 5) hold the start times of the first and last
// call a flow_edges row counts, so a graph's rates are over the time that
// has calls, not the whole range asked for (a range of an hour that has 44 s
// of calls). Rows written before them read 0: their bucket's bounds stand in.
var edgesSeenColumns = []newColumn{
	{Name: "FirstSeen", Type: "DateTime64(3)", Codec: "Delta(8), ZSTD(1)", After: "Bucket"},
	{Name: "LastSeen", Type: "DateTime64(3)", Codec: "Delta(8), ZSTD(1)", After: "FirstSeen"},
}

// edgesDestinationColumns (migration 9): the messaging destination (queue,
// topic) of an edge's messages, so that per-queue delivery ratios are kept
// over history; empty for other edges and rows stored before.
var edgesDestinationColumns = []newColumn{
	{Name: "Destination", Type: "LowCardinality(String)", Codec: "ZSTD(1)", After: "ConnectionType"},
}

// flow_edges_hourly is flow_edges summed per hour: a 24 h graph reads 24
// rows per edge instead of 1,440. The view adds each insert into flow_edges
// as partial sums (one row per hour, edge and insert); the engine merges
// rows of the same key in the background, and readers sum whatever is not
// merged yet, so the table is exact at any moment. Histogram arrays are
// sumForEach states (sumForEachMerge reads them); the counters are
// SimpleAggregateFunction(sum), read with sum(); FirstSeen and LastSeen
// are min and max of the calls' start times, with noCall as FirstSeen
// (and 0 as LastSeen) where a row counts no call, so that merging such a
// row changes neither. Everything here exists in ClickHouse 23.8.
const edgesHourlyDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flow_edges_hourly"}}{{.OnCluster}} (
    Hour DateTime CODEC(Delta(4), ZSTD(1)),
` + edgeSumColumns + `
) ENGINE = {{.Engine "AggregatingMergeTree"}}
PARTITION BY toDate(Hour)
ORDER BY (Hour, Client, Server, ConnectionType)
{{.TTLClause "Hour" .TTL.Edges}}{{.Settings true}}`

// edgeSumColumns are the columns of a tier table after its time: the
// edge and its partial sums.
const edgeSumColumns = `    FirstSeen SimpleAggregateFunction(min, DateTime64(3)) CODEC(ZSTD(1)),
    LastSeen SimpleAggregateFunction(max, DateTime64(3)) CODEC(ZSTD(1)),
    Client LowCardinality(String) CODEC(ZSTD(1)),
    Server LowCardinality(String) CODEC(ZSTD(1)),
    ConnectionType LowCardinality(String) CODEC(ZSTD(1)),
    Requests SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    Failed SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    ServerLatencyBuckets AggregateFunction(sumForEach, Array(UInt64)) CODEC(ZSTD(1)),
    ServerLatencySum SimpleAggregateFunction(sum, Float64) CODEC(ZSTD(1)),
    ClientLatencyBuckets AggregateFunction(sumForEach, Array(UInt64)) CODEC(ZSTD(1)),
    ClientLatencySum SimpleAggregateFunction(sum, Float64) CODEC(ZSTD(1)),
    MessagesSent SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    MessagesReceived SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    DelayBuckets AggregateFunction(sumForEach, Array(UInt64)) CODEC(ZSTD(1)),
    DelaySum SimpleAggregateFunction(sum, Float64) CODEC(ZSTD(1)),
    Retries SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    Unpaired SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    BreakerClosed SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    BreakerOpen SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    BreakerHalfOpen SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    BreakerTransitions SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))`

// noCall is the FirstSeen of hourly rows without a call (2100-01-01):
// later than any call, so min() passes it over.
const noCall = "toDateTime64(4102444800, 3, 'UTC')"

// callSeenExprs are the first and last call of flow_edges rows as their
// FirstSeen and LastSeen say, or their bucket's bounds for rows stored
// before those columns, or noCall and 0 for rows without a call. One place
// for the views, the backfills and the reader.
var callSeenExprs = [2]string{
	"if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), " + noCall + ")",
	"if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + " + strconv.Itoa(int(flowmodel.BucketWidth/time.Second)) + ", 3)), toDateTime64(0, 3, 'UTC'))",
}

// The columns that name an edge in the tier tables: before migration 9,
// and since (the messaging destination, so per-queue counts are kept).
const (
	edgeKeyBeforeDestination = "Client, Server, ConnectionType"
	edgeKey                  = edgeKeyBeforeDestination + ", Destination"
)

// edgeSumsSelect turns rows of flow_edges (source) into partial sums per
// unit of time and edge (edge: the key columns, edgeKey): keys are the
// unit's expressions ("... AS Hour"), then the query goes on with from
// (after the source: ARRAY JOIN ...) and groups by groupBy and the edge. A
// tier's view runs it on every insert, its migration over the rows stored
// before the view existed. The first and last call are computed in a
// subquery: beside sum(Requests) AS Requests, Requests would name the sum.
func edgeSumsSelect(edge, source, keys, from, groupBy string) string {
	return `SELECT
    ` + keys + `, ` + edge + `,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, ` + callSeenExprs[0] + ` AS F, ` + callSeenExprs[1] + ` AS L FROM ` + source + `)` + from + `
GROUP BY ` + groupBy + `, ` + edge
}

// edgeSumsInsert is the INSERT of a backfill into a tier table whose time
// columns are keys (comma-separated).
func edgeSumsInsert(edge, table, keys string) string {
	return `INSERT INTO {{.Name "` + table + `"}} (` + keys + `, ` + edge + `, FirstSeen, LastSeen,
    Requests, Failed, ServerLatencyBuckets, ServerLatencySum, ClientLatencyBuckets, ClientLatencySum,
    MessagesSent, MessagesReceived, DelayBuckets, DelaySum, Retries, Unpaired,
    BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerTransitions)
`
}

// edgesHourlyViewDDL is the hourly tier's view for the edge key edge.
func edgesHourlyViewDDL(edge string) string {
	return `CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name "flow_edges_hourly_mv"}}{{.OnCluster}}
TO {{.Local "flow_edges_hourly"}}
AS ` + edgeSumsSelect(edge, `{{.Local "flow_edges"}}`, "toStartOfHour(Bucket) AS Hour", "", "Hour")
}

// edgesHourlyBackfill adds the rows flow_edges held before the view
// existed. It runs right after the view is created: a flush stored in
// between (milliseconds; none when Migrate runs before the analyzers start,
// as `flowlens up` does) would count twice in the hourly tier.
var edgesHourlyBackfill = edgeSumsInsert(edgeKeyBeforeDestination, EdgesHourlyTable, "Hour") +
	edgeSumsSelect(edgeKeyBeforeDestination, `{{.Name "flow_edges"}}`, "toStartOfHour(Bucket) AS Hour", "", "Hour")

// tierUnits are the units of flow_edges_tiers, in seconds: 10 minutes, 6
// hours and a day (hours are flow_edges_hourly's).
var tierUnits = []time.Duration{10 * time.Minute, 6 * time.Hour, 24 * time.Hour}

// flow_edges_tiers (migration 8) is flow_edges summed per 10 minutes, per
// 6 hours and per day, laid out as flow_edges_hourly: a row is the sums of
// [Start, Start + Unit seconds). One table and one view for the three:
// a flush of the analyzer writes one part more, not three, and a query
// reads them in one pass. Units start at multiples of Unit since the Unix
// epoch, in UTC whatever the server's time zone (days at UTC midnight), as
// readers split ranges. Granules are small: a range reads a few 10-minute
// units at each end, and 8,192-row granules would be several times that.
var edgesTiersDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flow_edges_tiers"}}{{.OnCluster}} (
    Unit UInt32 CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta(4), ZSTD(1)),
` + edgeSumColumns + `
) ENGINE = {{.Engine "AggregatingMergeTree"}}
PARTITION BY toDate(Start)
ORDER BY (Unit, Start, Client, Server, ConnectionType)
{{.TTLClause "Start" .TTL.Edges}}{{.SettingsG 1024 true}}`

// edgesTiersSelect is edgeSumsSelect for flow_edges_tiers: every row of
// source once per unit.
func edgesTiersSelect(edge, source string) string {
	units := make([]string, len(tierUnits))
	for i, u := range tierUnits {
		units[i] = strconv.Itoa(int(u / time.Second))
	}
	return edgeSumsSelect(edge, source, "Unit, toDateTime(intDiv(toUInt32(Bucket), Unit) * Unit, 'UTC') AS Start",
		"\nARRAY JOIN ["+strings.Join(units, ", ")+"] AS Unit", "Unit, Start")
}

// edgesTiersViewDDL is the view of flow_edges_tiers for the edge key edge.
func edgesTiersViewDDL(edge string) string {
	return `CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name "flow_edges_tiers_mv"}}{{.OnCluster}}
TO {{.Local "flow_edges_tiers"}}
AS ` + edgesTiersSelect(edge, `{{.Local "flow_edges"}}`)
}

// edgesTiersBackfill adds the rows flow_edges held before the view existed,
// one day at a time ({day:Int64}, see Migration.DailyBackfill).
var edgesTiersBackfill = edgeSumsInsert(edgeKeyBeforeDestination, EdgesTiersTable, "Unit, Start") + edgesTiersSelect(edgeKeyBeforeDestination, `{{.Name "flow_edges"}}
    WHERE Bucket >= toDateTime({day:Int64}, 'UTC') AND Bucket < toDateTime({day:Int64} + 86400, 'UTC')`)

// The loss ledger (storage/ledger.go). Reports are replaced by a later
// Seq of the same run; readers take argMax anyway, as merges come late.
// Both keep as long as the rollups (ttl.edges).
const ledgerReportsDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flowlens_ledger_reports"}}{{.OnCluster}} (
    Interval DateTime CODEC(Delta(4), ZSTD(1)),
    Seconds UInt32,
    Host LowCardinality(String),
    Kind LowCardinality(String),
    Run String,
    Accepted UInt64,
    Acked UInt64,
    Dropped UInt64,
    Seq UInt64
) ENGINE = {{.Engine "ReplacingMergeTree"}}(Seq)
PARTITION BY toDate(Interval)
ORDER BY (Interval, Host, Kind, Run)
{{.TTLClause "Interval" .TTL.Edges}}{{.Settings true}}`

const ledgerStoredDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flowlens_ledger_stored"}}{{.OnCluster}} (
    Interval DateTime CODEC(Delta(4), ZSTD(1)),
    Host LowCardinality(String),
    Kind LowCardinality(String),
    Stored UInt64,
    DeadLettered UInt64
) ENGINE = {{.Engine "MergeTree"}}
PARTITION BY toDate(Interval)
ORDER BY (Interval, Host, Kind)
{{.TTLClause "Interval" .TTL.Edges}}{{.Settings true}}`

const migrationsDDL = `CREATE TABLE IF NOT EXISTS {{.Local "flowlens_migrations"}}{{.OnCluster}} (
    Version UInt32,
    Name String,
    AppliedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/flowlens/{database}/flowlens_migrations', '{shard}-{replica}'){{else}}ReplacingMergeTree{{end}}
ORDER BY Version`

// Migrations returns the schema steps for cfg, oldest first. Versions are
// never renumbered: a new schema change is a new, higher version.
func Migrations(cfg Config) ([]Migration, error) {
	l := newLayout(cfg)
	r := &renderer{l: l}
	ms := []Migration{
		{Version: 1, Name: "otel_traces", Statements: []string{
			r.render(tracesDDL),
			l.Distributed(TracesTable, "cityHash64(TraceId)"),
		}},
		{Version: 2, Name: "trace id index", Statements: []string{
			r.render(traceIndexDDL),
			l.Distributed(TraceIndexTable, "cityHash64(TraceId)"),
			r.render(traceIndexViewDDL),
		}},
		{Version: 3, Name: "otel_logs", Statements: []string{
			r.render(logsDDL),
			l.Distributed(LogsTable, "rand()"),
		}},
		{Version: 4, Name: "flow_edges", Statements: []string{
			r.render(edgesDDL),
			l.Distributed(EdgesTable, "cityHash64(Client, Server)"),
		}},
		{Version: 5, Name: "flow_edges first and last call", Statements: l.AddColumns(EdgesTable, edgesSeenColumns)},
		{Version: 6, Name: "trace link index", Statements: []string{
			r.render(traceLinksDDL),
			l.Distributed(TraceLinksTable, "cityHash64(LinkedTraceId)"),
			r.render(traceLinksViewDDL),
		}},
		{Version: 7, Name: "flow_edges hourly tier", Statements: []string{
			r.render(edgesHourlyDDL),
			l.Distributed(EdgesHourlyTable, "cityHash64(Client, Server)"),
			r.render(edgesHourlyViewDDL(edgeKeyBeforeDestination)),
			r.render(edgesHourlyBackfill),
		}},
		// The view exists before the backfill runs, and the newest day is
		// backfilled first: a flush stored between the view's creation and
		// its day's backfill (milliseconds, for today's buckets; none when
		// Migrate runs before the analyzers start) would count twice, as in
		// migration 7.
		{Version: 8, Name: "flow_edges 10-minute, 6-hour and daily tiers", Statements: []string{
			r.render(edgesTiersDDL),
			l.Distributed(EdgesTiersTable, "cityHash64(Client, Server)"),
			r.render(edgesTiersViewDDL(edgeKeyBeforeDestination)),
		}, DailyBackfill: []string{r.render(edgesTiersBackfill)}},
		// The messaging destination becomes part of every edge table's
		// key. The views are dropped and created again, grouping by it: a
		// flush stored between the two (milliseconds; none when Migrate
		// runs before the analyzers start) would be missing from the
		// tiers. Rows stored before have an empty destination.
		{Version: 9, Name: "flow_edges messaging destination", Statements: slices.Concat(
			l.AddColumns(EdgesTable, edgesDestinationColumns),
			l.AddKeyColumns(EdgesHourlyTable, edgesDestinationColumns, "Hour, "+edgeKey),
			l.AddKeyColumns(EdgesTiersTable, edgesDestinationColumns, "Unit, Start, "+edgeKey),
			[]string{
				"DROP VIEW IF EXISTS " + l.Name("flow_edges_hourly_mv") + l.OnCluster(),
				r.render(edgesHourlyViewDDL(edgeKey)),
				"DROP VIEW IF EXISTS " + l.Name("flow_edges_tiers_mv") + l.OnCluster(),
				r.render(edgesTiersViewDDL(edgeKey)),
			})},
		{Version: 10, Name: "loss ledger", Statements: []string{
			r.render(ledgerReportsDDL),
			l.Distributed(LedgerReportsTable, "cityHash64(Host)"),
			r.render(ledgerStoredDDL),
			l.Distributed(LedgerStoredTable, "cityHash64(Host)"),
		}},
		// Logs stored before this step are not in the index: GetTrace
		// finds those within logMargin of their trace's spans.
		{Version: 11, Name: "trace id index spans the logs", Statements: []string{
			r.render(traceIndexLogsViewDDL),
		}},
		// The tables created before get the settings of
		// serverDefaultSettings that came after them. Parts written from
		// then on take them; older parts when they are merged. On a server
		// that does not know a setting (cfg does not hold it then) there
		// is nothing to change.
		{Version: 12, Name: "String columns in one stream", Statements: l.ModifySettings(storingTables,
			settingsNamed(cfg.MergeTreeSettings, "string_serialization_version"))},
	}
	if r.err != nil {
		return nil, r.err
	}
	for i := range ms {
		ms[i].Statements = compact(ms[i].Statements)
	}
	return ms, nil
}

// bootstrapStatements create the database and the migrations table.
func bootstrapStatements(cfg Config) ([]string, error) {
	l := newLayout(cfg)
	r := &renderer{l: l}
	s := compact([]string{
		"CREATE DATABASE IF NOT EXISTS " + l.DB + l.OnCluster(),
		// In cluster mode every replica of every shard shares one
		// replication path, so each node holds the whole history locally.
		r.render(migrationsDDL),
	})
	return s, r.err
}

// SchemaSQL renders the whole schema as one SQL script, for review and for
// applying by hand (`flowlens migrate --print`).
func SchemaSQL(cfg Config) (string, error) {
	boot, err := bootstrapStatements(cfg)
	if err != nil {
		return "", err
	}
	ms, err := Migrations(cfg)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("-- bootstrap\n")
	for _, s := range boot {
		b.WriteString(s + ";\n\n")
	}
	for _, m := range ms {
		fmt.Fprintf(&b, "-- migration %d: %s\n", m.Version, m.Name)
		for _, s := range m.Statements {
			b.WriteString(s + ";\n\n")
		}
		if len(m.DailyBackfill) > 0 {
			b.WriteString("-- once for each day of flow_edges rows, newest first, {day:Int64} its start (unix seconds, UTC)\n")
			for _, s := range m.DailyBackfill {
				b.WriteString(s + ";\n\n")
			}
		}
	}
	return b.String(), nil
}

type renderer struct {
	l   layout
	err error
}

func (r *renderer) render(tmpl string) string {
	t, err := template.New("ddl").Parse(tmpl)
	if err != nil {
		r.err = fmt.Errorf("parse DDL template: %w", err)
		return ""
	}
	var b bytes.Buffer
	if err := t.Execute(&b, r.l); err != nil {
		r.err = fmt.Errorf("render DDL: %w", err)
		return ""
	}
	return b.String()
}

func compact(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// quoteIdent quotes a ClickHouse identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}

func unquoteIdent(s string) string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "`"), "`")
	return strings.NewReplacer("\\`", "`", `\\`, `\`).Replace(s)
}

// quoteString quotes a ClickHouse string literal (only for names from Config,
// which Validate restricts; user values are always bound parameters).
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
