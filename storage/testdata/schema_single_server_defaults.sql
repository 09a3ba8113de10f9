-- bootstrap
CREATE DATABASE IF NOT EXISTS `flowlens`;

CREATE TABLE IF NOT EXISTS `flowlens`.`flowlens_migrations` (
    Version UInt32,
    Name String,
    AppliedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY Version;

-- migration 1: otel_traces
CREATE TABLE IF NOT EXISTS `flowlens`.`otel_traces` (
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
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
    PROJECTION by_trace_id (SELECT * ORDER BY TraceId, Timestamp)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

-- migration 2: trace id index
CREATE TABLE IF NOT EXISTS `flowlens`.`otel_traces_trace_id_ts` (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`otel_traces_trace_id_ts_mv`
TO `flowlens`.`otel_traces_trace_id_ts`
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM `flowlens`.`otel_traces`
WHERE TraceId != ''
GROUP BY TraceId;

-- migration 3: otel_logs
CREATE TABLE IF NOT EXISTS `flowlens`.`otel_logs` (
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
) ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 2048, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream', min_compress_block_size = 16384, max_compress_block_size = 262144;

-- migration 4: flow_edges
CREATE TABLE IF NOT EXISTS `flowlens`.`flow_edges` (
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
) ENGINE = MergeTree
PARTITION BY toDate(Bucket)
ORDER BY (Bucket, Client, Server, ConnectionType)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

-- migration 5: flow_edges first and last call
ALTER TABLE `flowlens`.`flow_edges`
    ADD COLUMN IF NOT EXISTS FirstSeen DateTime64(3) CODEC(Delta(8), ZSTD(1)) AFTER Bucket,
    ADD COLUMN IF NOT EXISTS LastSeen DateTime64(3) CODEC(Delta(8), ZSTD(1)) AFTER FirstSeen;

-- migration 6: trace link index
CREATE TABLE IF NOT EXISTS `flowlens`.`flowlens_trace_links` (
    LinkedTraceId String CODEC(ZSTD(1)),
    LinkedSpanId String CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toStartOfWeek(Timestamp)
ORDER BY (LinkedTraceId, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`flowlens_trace_links_mv`
TO `flowlens`.`flowlens_trace_links`
AS SELECT
    Links.TraceId AS LinkedTraceId,
    Links.SpanId AS LinkedSpanId,
    Timestamp,
    TraceId,
    SpanId,
    ServiceName,
    SpanName
FROM `flowlens`.`otel_traces`
ARRAY JOIN Links
WHERE LinkedTraceId != '' AND LinkedTraceId != TraceId;

-- migration 7: flow_edges hourly tier
CREATE TABLE IF NOT EXISTS `flowlens`.`flow_edges_hourly` (
    Hour DateTime CODEC(Delta(4), ZSTD(1)),
    FirstSeen SimpleAggregateFunction(min, DateTime64(3)) CODEC(ZSTD(1)),
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
    BreakerTransitions SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, Client, Server, ConnectionType)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`flow_edges_hourly_mv`
TO `flowlens`.`flow_edges_hourly`
AS SELECT
    toStartOfHour(Bucket) AS Hour, Client, Server, ConnectionType,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`)
GROUP BY Hour, Client, Server, ConnectionType;

INSERT INTO `flowlens`.`flow_edges_hourly` (Hour, Client, Server, ConnectionType, FirstSeen, LastSeen,
    Requests, Failed, ServerLatencyBuckets, ServerLatencySum, ClientLatencyBuckets, ClientLatencySum,
    MessagesSent, MessagesReceived, DelayBuckets, DelaySum, Retries, Unpaired,
    BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerTransitions)
SELECT
    toStartOfHour(Bucket) AS Hour, Client, Server, ConnectionType,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`)
GROUP BY Hour, Client, Server, ConnectionType;

-- migration 8: flow_edges 10-minute, 6-hour and daily tiers
CREATE TABLE IF NOT EXISTS `flowlens`.`flow_edges_tiers` (
    Unit UInt32 CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta(4), ZSTD(1)),
    FirstSeen SimpleAggregateFunction(min, DateTime64(3)) CODEC(ZSTD(1)),
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
    BreakerTransitions SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Start)
ORDER BY (Unit, Start, Client, Server, ConnectionType)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`flow_edges_tiers_mv`
TO `flowlens`.`flow_edges_tiers`
AS SELECT
    Unit, toDateTime(intDiv(toUInt32(Bucket), Unit) * Unit, 'UTC') AS Start, Client, Server, ConnectionType,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`)
ARRAY JOIN [600, 21600, 86400] AS Unit
GROUP BY Unit, Start, Client, Server, ConnectionType;

-- once for each day of flow_edges rows, newest first, {day:Int64} its start (unix seconds, UTC)
INSERT INTO `flowlens`.`flow_edges_tiers` (Unit, Start, Client, Server, ConnectionType, FirstSeen, LastSeen,
    Requests, Failed, ServerLatencyBuckets, ServerLatencySum, ClientLatencyBuckets, ClientLatencySum,
    MessagesSent, MessagesReceived, DelayBuckets, DelaySum, Retries, Unpaired,
    BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerTransitions)
SELECT
    Unit, toDateTime(intDiv(toUInt32(Bucket), Unit) * Unit, 'UTC') AS Start, Client, Server, ConnectionType,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`
    WHERE Bucket >= toDateTime({day:Int64}, 'UTC') AND Bucket < toDateTime({day:Int64} + 86400, 'UTC'))
ARRAY JOIN [600, 21600, 86400] AS Unit
GROUP BY Unit, Start, Client, Server, ConnectionType;

-- migration 9: flow_edges messaging destination
ALTER TABLE `flowlens`.`flow_edges`
    ADD COLUMN IF NOT EXISTS Destination LowCardinality(String) CODEC(ZSTD(1)) AFTER ConnectionType;

ALTER TABLE `flowlens`.`flow_edges_hourly`
    ADD COLUMN IF NOT EXISTS Destination LowCardinality(String) CODEC(ZSTD(1)) AFTER ConnectionType,
    MODIFY ORDER BY (Hour, Client, Server, ConnectionType, Destination);

ALTER TABLE `flowlens`.`flow_edges_tiers`
    ADD COLUMN IF NOT EXISTS Destination LowCardinality(String) CODEC(ZSTD(1)) AFTER ConnectionType,
    MODIFY ORDER BY (Unit, Start, Client, Server, ConnectionType, Destination);

DROP VIEW IF EXISTS `flowlens`.`flow_edges_hourly_mv`;

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`flow_edges_hourly_mv`
TO `flowlens`.`flow_edges_hourly`
AS SELECT
    toStartOfHour(Bucket) AS Hour, Client, Server, ConnectionType, Destination,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`)
GROUP BY Hour, Client, Server, ConnectionType, Destination;

DROP VIEW IF EXISTS `flowlens`.`flow_edges_tiers_mv`;

CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`flow_edges_tiers_mv`
TO `flowlens`.`flow_edges_tiers`
AS SELECT
    Unit, toDateTime(intDiv(toUInt32(Bucket), Unit) * Unit, 'UTC') AS Start, Client, Server, ConnectionType, Destination,
    min(F) AS FirstSeen, max(L) AS LastSeen,
    sum(Requests) AS Requests, sum(Failed) AS Failed,
    sumForEachState(ServerLatencyBuckets) AS ServerLatencyBuckets, sum(ServerLatencySum) AS ServerLatencySum,
    sumForEachState(ClientLatencyBuckets) AS ClientLatencyBuckets, sum(ClientLatencySum) AS ClientLatencySum,
    sum(MessagesSent) AS MessagesSent, sum(MessagesReceived) AS MessagesReceived,
    sumForEachState(DelayBuckets) AS DelayBuckets, sum(DelaySum) AS DelaySum,
    sum(Retries) AS Retries, sum(Unpaired) AS Unpaired,
    sum(BreakerClosed) AS BreakerClosed, sum(BreakerOpen) AS BreakerOpen,
    sum(BreakerHalfOpen) AS BreakerHalfOpen, sum(BreakerTransitions) AS BreakerTransitions
FROM (SELECT *, if(Requests > 0, if(FirstSeen > 0, FirstSeen, toDateTime64(Bucket, 3)), toDateTime64(4102444800, 3, 'UTC')) AS F, if(Requests > 0, if(LastSeen > 0, LastSeen, toDateTime64(Bucket + 60, 3)), toDateTime64(0, 3, 'UTC')) AS L FROM `flowlens`.`flow_edges`)
ARRAY JOIN [600, 21600, 86400] AS Unit
GROUP BY Unit, Start, Client, Server, ConnectionType, Destination;

-- migration 10: loss ledger
CREATE TABLE IF NOT EXISTS `flowlens`.`flowlens_ledger_reports` (
    Interval DateTime CODEC(Delta(4), ZSTD(1)),
    Seconds UInt32,
    Host LowCardinality(String),
    Kind LowCardinality(String),
    Run String,
    Accepted UInt64,
    Acked UInt64,
    Dropped UInt64,
    Seq UInt64
) ENGINE = ReplacingMergeTree(Seq)
PARTITION BY toDate(Interval)
ORDER BY (Interval, Host, Kind, Run)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

CREATE TABLE IF NOT EXISTS `flowlens`.`flowlens_ledger_stored` (
    Interval DateTime CODEC(Delta(4), ZSTD(1)),
    Host LowCardinality(String),
    Kind LowCardinality(String),
    Stored UInt64,
    DeadLettered UInt64
) ENGINE = MergeTree
PARTITION BY toDate(Interval)
ORDER BY (Interval, Host, Kind)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000, merge_selector_base = 20, string_serialization_version = 'single_stream';

-- migration 11: trace id index spans the logs
CREATE MATERIALIZED VIEW IF NOT EXISTS `flowlens`.`otel_traces_trace_id_ts_logs_mv`
TO `flowlens`.`otel_traces_trace_id_ts`
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM `flowlens`.`otel_logs`
WHERE TraceId != ''
GROUP BY TraceId;

-- migration 12: String columns in one stream
ALTER TABLE `flowlens`.`otel_traces` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`otel_traces_trace_id_ts` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flowlens_trace_links` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`otel_logs` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flow_edges` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flow_edges_hourly` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flow_edges_tiers` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flowlens_ledger_reports` MODIFY SETTING string_serialization_version = 'single_stream';

ALTER TABLE `flowlens`.`flowlens_ledger_stored` MODIFY SETTING string_serialization_version = 'single_stream';

