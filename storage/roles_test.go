package storage

import (
	"errors"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// The embedded endpoint's roles, as flowlens uses them: the schema is
// applied as admin, the collector's Native inserts go in as the writer,
// Grafana and the CLI read as the reader. Each is refused what the next
// one may do.
func TestEmbeddedEndpointRoles(t *testing.T) {
	ctx := testCtx(t)
	db := chtest.Database(t)
	as := func(role chserver.Role) Config {
		cfg := Config{Addr: chtest.Addr(t), Database: db}
		cfg.Username, cfg.Password = chtest.Login(t, role)
		cfg.SetDefaults()
		return cfg
	}
	code := func(err error) int32 {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) {
			return ex.Code
		}
		return -1
	}

	if err := MigrateAs(ctx, as(chserver.RoleWriter), zaptest.NewLogger(t)); code(err) != 497 {
		t.Fatalf("migrate as writer: %v, want ACCESS_DENIED", err)
	}
	if err := MigrateAs(ctx, as(chserver.RoleAdmin), zaptest.NewLogger(t)); err != nil {
		t.Fatalf("migrate as admin: %v", err)
	}

	writer, err := Open(ctx, as(chserver.RoleWriter), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	td, ld, wantSpans, _ := fullTrace()
	var sr SpanRows
	sr.AppendTraces(td, nil)
	var lr LogRows
	lr.AppendLogs(ld, nil)
	if err := writer.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatalf("writer's span insert: %v", err)
	}
	if err := writer.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatalf("writer's log insert: %v", err)
	}

	reader, err := Open(ctx, as(chserver.RoleReader), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tr, err := reader.GetTrace(ctx, wantSpans[0].TraceID)
	if err != nil || len(tr.Spans) != 2 || len(tr.Logs) != 2 {
		t.Fatalf("reader's trace lookup: %d spans, %d logs, %v", len(tr.Spans), len(tr.Logs), err)
	}
	sr.Reset()
	sr.AppendTraces(td, nil)
	if err := reader.InsertSpans(ctx, &sr, ""); code(err) != 164 {
		t.Fatalf("reader's insert: %v, want READONLY", err)
	}

	// Grafana's ClickHouse data source in OTel mode: Map access,
	// parameters, time functions, and an ad hoc filter, which it sends
	// as additional_table_filters.
	grafana := []string{
		`SELECT toStartOfInterval(Timestamp, INTERVAL 1 minute) AS t, ServiceName, count() AS n,
			quantile(0.95)(Duration / 1e6) AS p95
		FROM ` + db + `.otel_traces
		WHERE Timestamp >= {from:DateTime64(9)} - INTERVAL 1 DAY AND SpanAttributes['http.method'] = {method:String}
		GROUP BY t, ServiceName ORDER BY t`,
		`WITH {trace:String} AS trace_id
		SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
			SpanName AS operationName, Timestamp AS startTime, multiply(Duration, 0.000001) AS duration,
			arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
			arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags
		FROM ` + db + `.otel_traces WHERE TraceId = trace_id ORDER BY startTime ASC`,
		`SELECT Timestamp, Body, LogAttributes FROM ` + db + `.otel_logs WHERE TraceId = {trace:String}
		ORDER BY Timestamp DESC LIMIT 100
		SETTINGS additional_table_filters = {'` + db + `.otel_logs': 'ServiceName = \'checkout\''}`,
	}
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"from": wantSpans[0].Timestamp.Format("2006-01-02 15:04:05.000000000"), "method": "POST", "trace": wantSpans[0].TraceID,
	}))
	for _, q := range grafana {
		rows, err := reader.Conn().Query(pctx, q)
		if err != nil {
			t.Fatalf("Grafana query as reader: %v\n%s", err, q)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil || n == 0 {
			t.Fatalf("Grafana query as reader: %d rows, %v\n%s", n, err, q)
		}
		rows.Close()
	}
}
