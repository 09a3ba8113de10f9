package storage

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// A new schema stores otel_logs in granules of 2,048 rows and the trace-ID
// index in granules of 1,024 (a lookup decodes the granules holding the
// trace, whole), otel_logs with compressed blocks sized to them; both granularities are settings of
// the store, and a lookup still finds every log of the trace.
func TestNewSchemaStoresLogsAndTraceIndexInSmallGranules(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		mod                    func(c *Config)
		logs, index, minBlock  int
		mergeTreeSettingsBlock bool
	}{
		{name: "defaults", logs: 2048, index: 1024, minBlock: 16384},
		{name: "set", mod: func(c *Config) { c.LogsGranularity, c.TraceIndexGranularity = 1024, 512 }, logs: 1024, index: 512, minBlock: 8192},
		// merge_tree_settings naming a block size replaces the derived ones
		// (the engine refuses a setting given twice).
		{name: "merge_tree_settings", mod: func(c *Config) { c.MergeTreeSettings = map[string]string{"min_compress_block_size": "4096"} },
			logs: 2048, index: 1024, minBlock: 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStoreCfg(t, tc.mod)
			ctx := testCtx(t)
			const n = 8192 // whole granules of each size tried
			var lr LogRows
			lr.AppendLogs(genLogs(1, n, time.Now().Add(-time.Minute), time.Millisecond), nil)
			if err := s.InsertLogs(ctx, &lr, ""); err != nil {
				t.Fatal(err)
			}
			var sr SpanRows
			sr.AppendTraces(genTraces(1, n, 1, time.Now().Add(-time.Minute), time.Millisecond), nil)
			if err := s.InsertSpans(ctx, &sr, ""); err != nil {
				t.Fatal(err)
			}
			granule := func(table string) uint64 {
				t.Helper()
				var rows, marks uint64
				if err := s.conn.QueryRow(ctx, `SELECT sum(rows), toUInt64(sum(marks) - count()) FROM system.parts
WHERE database = ? AND table = ? AND active`, s.cfg.Database, table).Scan(&rows, &marks); err != nil {
					t.Fatal(err)
				}
				if marks == 0 {
					t.Fatalf("%s: no granules", table)
				}
				return rows / marks // marks less the final one per part
			}
			if g := granule(LogsTable); g != uint64(tc.logs) {
				t.Errorf("otel_logs: %d rows per granule, want %d", g, tc.logs)
			}
			if g := granule(TraceIndexTable); g != uint64(tc.index) {
				t.Errorf("trace index: %d rows per granule, want %d", g, tc.index)
			}
			var settings string
			if err := s.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
				s.cfg.Database, LogsTable).Scan(&settings); err != nil {
				t.Fatal(err)
			}
			if want := "min_compress_block_size = " + strconv.Itoa(tc.minBlock); !strings.Contains(settings, want) {
				t.Errorf("otel_logs settings %q lack %q", settings, want)
			}
			tr, err := s.GetTrace(ctx, traceIDOf(n/2).String())
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Logs) != 1 || len(tr.Spans) != 1 {
				t.Errorf("trace %d: %d logs and %d spans, want 1 and 1", n/2, len(tr.Logs), len(tr.Spans))
			}
		})
	}
}

func TestGranularitiesValidated(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(c *Config)
	}{
		{"logs_granularity", func(c *Config) { c.LogsGranularity = 100 }},
		{"logs_granularity", func(c *Config) { c.LogsGranularity = 1 << 17 }},
		{"trace_index_granularity", func(c *Config) { c.TraceIndexGranularity = -1 }},
		{"trace_index_granularity", func(c *Config) { c.TraceIndexGranularity = 65537 }},
	} {
		var c Config
		c.SetDefaults()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	var c Config
	c.SetDefaults()
	if c.LogsGranularity != 2048 || c.TraceIndexGranularity != 1024 {
		t.Errorf("defaults: logs %d, trace index %d, want 2048 and 1024", c.LogsGranularity, c.TraceIndexGranularity)
	}
}
