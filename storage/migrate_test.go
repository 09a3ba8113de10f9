package storage

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// sizeStreams lists the columns of table's active parts that keep a
// String's lengths in a stream of their own (ClickHouse 26's default),
// with the streams.
func sizeStreams(t *testing.T, s *Store, table string) []string {
	t.Helper()
	ctx := testCtx(t)
	rows, err := s.conn.Query(ctx, `SELECT DISTINCT column, arrayStringConcat(substreams, ' ')
		FROM system.parts_columns WHERE database = {db:String} AND table = {t:String} AND active
		AND arrayExists(x -> endsWith(x, '.size'), substreams) ORDER BY column`,
		namedParams("db", s.cfg.Database, "t", table)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var col, streams string
		if err := rows.Scan(&col, &streams); err != nil {
			t.Fatal(err)
		}
		out = append(out, col+" ("+streams+")")
	}
	return out
}

// insertSpansAndLogs stores a few traces' spans and logs, each in a part of its own.
func insertSpansAndLogs(t *testing.T, s *Store, first uint64) {
	t.Helper()
	ctx := testCtx(t)
	start := time.Now().Add(-time.Hour)
	var spans SpanRows
	spans.AppendTraces(genTraces(first, 20, 5, start, time.Millisecond), nil)
	if err := s.InsertSpans(ctx, &spans, ""); err != nil {
		t.Fatal(err)
	}
	var logs LogRows
	logs.AppendLogs(genLogs(first, 20, start, time.Millisecond), nil)
	if err := s.InsertLogs(ctx, &logs, ""); err != nil {
		t.Fatal(err)
	}
}

// Parts keep each String column in one stream: a part of otel_traces is
// 204 files instead of 260, and the engine creates, writes and merges the
// fewer (storage/README.md, engine process per 100k spans).
func TestStringColumnsInOneStream(t *testing.T) {
	s := newStore(t)
	insertSpansAndLogs(t, s, 1)
	for _, table := range []string{TracesTable, LogsTable} {
		if got := sizeStreams(t, s, table); len(got) > 0 {
			t.Errorf("%s: String columns with a stream of lengths: %v", table, got)
		}
	}
}

// Migration 12 gives tables created before it one stream per String
// column: their parts written afterwards have no stream of lengths.
func TestMigrationStringColumnsInOneStream(t *testing.T) {
	ctx := testCtx(t)
	before := newStoreCfg(t, func(c *Config) {
		c.MergeTreeSettings = map[string]string{"string_serialization_version": "'with_size_stream'"}
	})
	if err := before.conn.Exec(ctx, "ALTER TABLE "+before.l.Local(MigrationsTable)+" DELETE WHERE Version = 12 SETTINGS mutations_sync = 1"); err != nil {
		t.Fatal(err)
	}
	insertSpansAndLogs(t, before, 1)
	if got := sizeStreams(t, before, TracesTable); len(got) == 0 {
		t.Fatal("the tables made as before migration 12 have no streams of lengths: the test shows nothing")
	}
	s, err := before.WithSchema(func(c *Config) { c.MergeTreeSettings = nil })
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := s.Migrate(ctx); err != nil || !reflect.DeepEqual(applied, []int{12}) {
		t.Fatalf("migrate applied %v, %v; want [12]", applied, err)
	}
	for _, table := range storingTables {
		var ddl string
		if err := s.conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
			namedParams("db", s.cfg.Database, "t", table)...).Scan(&ddl); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if !strings.Contains(ddl, "string_serialization_version = 'single_stream'") {
			t.Errorf("%s after migration 12:\n%s", table, ddl)
		}
	}
	insertSpansAndLogs(t, s, 100)
	for _, table := range []string{TracesTable, LogsTable} {
		var before uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.Name(table)).Scan(&before); err != nil {
			t.Fatal(err)
		}
		// The parts of both layouts merged into one.
		if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+s.l.Name(table)+" FINAL"); err != nil {
			t.Fatal(err)
		}
		if got := sizeStreams(t, s, table); len(got) > 0 {
			t.Errorf("%s after migration 12 and a merge: String columns with a stream of lengths: %v", table, got)
		}
		var after uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.Name(table)).Scan(&after); err != nil || after != before {
			t.Errorf("%s: %d rows after the merge, %d before (%v)", table, after, before, err)
		}
	}
	if _, err := s.GetTrace(ctx, hexTraceID(traceIDOf(1))); err != nil {
		t.Errorf("a trace stored before migration 12: %v", err)
	}
}

// Migration 12 alters the replicated tables on every node of a cluster,
// and on a server without the setting it has nothing to do.
func TestMigrationStringColumnsInOneStreamStatements(t *testing.T) {
	known := map[string]bool{"string_serialization_version": true}
	cfg := Config{Database: "flowlens", Cluster: "prod"}
	cfg.SetDefaults()
	ms, err := Migrations(withDefaultSettings(cfg, known))
	if err != nil {
		t.Fatal(err)
	}
	m := ms[len(ms)-1]
	if m.Version != 12 || len(m.Statements) != len(storingTables) {
		t.Fatalf("last migration %d with %d statements, want 12 with one per storing table:\n%s", m.Version, len(m.Statements), strings.Join(m.Statements, "\n"))
	}
	if want := "ALTER TABLE `flowlens`.`otel_traces_local` ON CLUSTER `prod` MODIFY SETTING string_serialization_version = 'single_stream'"; m.Statements[0] != want {
		t.Errorf("got  %s\nwant %s", m.Statements[0], want)
	}
	ms, err = Migrations(withDefaultSettings(cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	if m := ms[len(ms)-1]; m.Version != 12 || len(m.Statements) != 0 {
		t.Errorf("on a server without the setting: migration %d, statements %q", m.Version, m.Statements)
	}
}
