package storage

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// newStore opens a Store on a fresh database of the embedded engine, migrated.
func newStore(t testing.TB) *Store { return newStoreCfg(t, nil) }

// newStoreCfg is newStore with the config changed by mod (may be nil).
func newStoreCfg(t testing.TB, mod func(c *Config)) *Store {
	t.Helper()
	cfg := Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	cfg.SetDefaults()
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	s := newStore(t) // first application
	ctx := testCtx(t)
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", applied)
	}
	got, err := s.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations(s.cfg)
	for _, m := range ms {
		if !got[m.Version] {
			t.Errorf("version %d (%s) not recorded", m.Version, m.Name)
		}
	}
	// Every table exists, under the names Grafana's OTel mode expects.
	for _, table := range []string{TracesTable, TraceIndexTable, TraceIndexView, TraceIndexLogsView, TraceLinksTable, TraceLinksView, LogsTable, EdgesTable,
		EdgesHourlyTable, EdgesHourlyView, EdgesTiersTable, EdgesTiersView, MigrationsTable} {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
			namedParams("db", s.cfg.Database, "t", table)...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s: found %d", table, n)
		}
	}
}

// The TTL variant of the single-node DDL is accepted by the engine too, the
// TTLs end up on the tables, and the engine drops what is older than them
// while keeping what is not. The data is placed relative to now: a fixed
// date would fall out of the 7-day TTL a week after it was written.
func TestMigrateWithTTL(t *testing.T) {
	cfg := Config{Addr: chtest.Addr(t), Database: chtest.Database(t), TTL: TTLConfig{Traces: 7, Logs: 3, Edges: 90},
		TraceIDProjection: ptr(true)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	cfg.SetDefaults()
	ctx := testCtx(t)
	s, err := Open(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{
		TracesTable:     "toIntervalDay(7)",
		TraceIndexTable: "toIntervalDay(7)",
		LogsTable:       "toIntervalDay(3)",
		EdgesTable:      "toIntervalDay(90)",
	} {
		var ddl string
		if err := s.conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
			namedParams("db", cfg.Database, "t", table)...).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, "TTL") || !strings.Contains(ddl, want) {
			t.Errorf("%s: no TTL %s in\n%s", table, want, ddl)
		}
		if table == TracesTable && !strings.Contains(ddl, "PROJECTION by_trace_id") {
			t.Errorf("no projection in\n%s", ddl)
		}
	}

	// An hour old: within every TTL. Eight days old (spans) and four days
	// old (logs): past theirs.
	now := time.Now().UTC()
	td, ld, want, _ := fullTraceAt(now.Add(-time.Hour))
	var sr SpanRows
	sr.AppendTraces(td, nil)
	sr.AppendTraces(genTraces(1, 3, 2, now.Add(-8*24*time.Hour), time.Second), nil)
	if err := s.InsertSpans(ctx, &sr, ""); err != nil {
		t.Fatal(err)
	}
	var lr LogRows
	lr.AppendLogs(ld, nil)
	lr.AppendLogs(genLogs(1, 3, now.Add(-4*24*time.Hour), time.Second), nil)
	if err := s.InsertLogs(ctx, &lr, ""); err != nil {
		t.Fatal(err)
	}
	// TTLs are applied when parts merge; a final merge makes it happen now.
	for _, table := range []string{TracesTable, TraceIndexTable, LogsTable} {
		if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+cfg.Database+"."+table+" FINAL"); err != nil {
			t.Fatalf("optimize %s: %v", table, err)
		}
	}

	// Lookups work the same with the projection, and the fresh trace keeps
	// its spans and logs.
	tr, err := s.GetTrace(ctx, want[0].TraceID)
	if err != nil || len(tr.Spans) != 2 || len(tr.Logs) != 2 {
		t.Errorf("fresh trace: %d spans, %d logs, %v; want 2 and 2", len(tr.Spans), len(tr.Logs), err)
	}
	for _, c := range []struct {
		table string
		want  uint64
	}{{TracesTable, 2}, {LogsTable, 2}} {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+cfg.Database+"."+c.table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s holds %d rows after the TTL merge, want the %d fresh ones", c.table, n, c.want)
		}
	}
	if _, err := s.GetTrace(ctx, hexTraceID(traceIDOf(1))); !errors.Is(err, ErrTraceNotFound) {
		t.Errorf("a trace past its TTL: %v, want %v", err, ErrTraceNotFound)
	}
}

// The tables get the merge selector base that suits a stream of small
// parts, unless the config names one.
func TestMigrateMergeSelectorBase(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"default", nil, "merge_selector_base = " + DefaultMergeSelectorBase},
		{"named in the config", map[string]string{"merge_selector_base": "5"}, "merge_selector_base = 5"},
		{"other settings kept", map[string]string{"min_bytes_for_wide_part": "0"}, "min_bytes_for_wide_part = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStoreCfg(t, func(c *Config) { c.MergeTreeSettings = tc.settings })
			ctx := testCtx(t)
			for _, table := range []string{TracesTable, LogsTable, TraceIndexTable, EdgesTable} {
				var ddl string
				if err := s.conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
					namedParams("db", s.cfg.Database, "t", table)...).Scan(&ddl); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(ddl, tc.want) {
					t.Errorf("%s: no %q in\n%s", table, tc.want, ddl)
				}
			}
			if len(tc.settings) > 0 && s.cfg.MergeTreeSettings["merge_selector_base"] != tc.settings["merge_selector_base"] {
				t.Errorf("the store's config changed: %v", s.cfg.MergeTreeSettings)
			}
		})
	}
}
