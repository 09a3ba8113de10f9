package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// BenchmarkEngineCostPerBatch stores 400k distinct spans into a fresh
// database per insert size and splits the CPU: the engine's threads during
// the inserts, the same plus 3 s of the background merges that follow, and
// Go (encoder, HTTP, endpoint). It is what the collector's batch defaults
// rest on: the engine's CPU per row falls steeply with the insert's size.
//
// The spans come in two shapes, the last part of the name: genTraces' (8
// services, 16 span names, one user agent, sessions from 1000) and
// wiretest's 200 services with URLs, user agents, sessions and users that
// never repeat.
//
// Schema variants, to measure what each part of the schema costs:
//
//	FLOWLENS_BENCH_BATCH=N             one insert size instead of 20k, 50k, 100k
//	FLOWLENS_BENCH_PROJECTION=0        without the trace-ID projection
//	FLOWLENS_BENCH_PROJECTION=offsets  a projection of TraceId and _part_offset instead
//	FLOWLENS_BENCH_LOGS_PROJECTION=full|offsets  otel_logs gets a projection by TraceId: a full copy or the offsets
//	FLOWLENS_BENCH_LZ4=1               LZ4 instead of ZSTD(1) in every codec
//	FLOWLENS_BENCH_NO_INDEXES=1        without otel_traces' skip indexes (or a,b: without those)
//	FLOWLENS_BENCH_GRANULARITY=N       otel_traces' index_granularity instead of the default
//	FLOWLENS_BENCH_NO_VIEWS=1          without the trace-ID and link views
//	FLOWLENS_BENCH_TABLE_SETTINGS=...  ALTER TABLE ... MODIFY SETTING ... of otel_traces, its index and otel_logs
//	FLOWLENS_BENCH_INSERT_SETTINGS=k=v;k=v  query settings of each insert (BenchmarkEngineProcessCost)
func BenchmarkEngineCostPerBatch(b *testing.B) {
	const total = 400_000
	sizes := []int{20000, 50000, 100000}
	if v, err := strconv.Atoi(os.Getenv("FLOWLENS_BENCH_BATCH")); err == nil {
		sizes = []int{v}
	}
	shapes := []struct {
		name string
		gen  func(i, batch int) ptrace.Traces
	}{
		{"services=8/strings=repeated", func(i, batch int) ptrace.Traces {
			return genTraces(uint64(i*batch/5+1), batch/5, 5, time.Now().Add(-time.Hour), time.Millisecond)
		}},
		{wiretest.ManyUnique.String(), func(i, batch int) ptrace.Traces {
			return wiretest.ShapedTraces(i*batch, batch, 5, wiretest.ManyUnique)
		}},
	}
	for _, batch := range sizes {
		for _, shape := range shapes {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, shape.name), func(b *testing.B) {
				benchEngineCost(b, total, batch, shape.gen)
			})
		}
	}
}

func benchEngineCost(b *testing.B, total, batch int, gen func(i, batch int) ptrace.Traces) {
	ctx := context.Background()
	// Rows converted up front: only the inserts are measured.
	rows := make([]*SpanRows, total/batch)
	for i := range rows {
		rows[i] = new(SpanRows)
		rows[i].AppendTraces(gen(i, batch), nil)
	}
	var insertCPU, settledCPU, goCPU, elapsed float64
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		s := variantStore(b)
		cpu0, t0 := chtest.SampleCPU(), time.Now()
		b.StartTimer()
		for _, r := range rows {
			if err := s.InsertSpans(ctx, r, uniqueToken()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		elapsed += time.Since(t0).Seconds()
		tot, eng := cpu0.Since()
		insertCPU += eng
		goCPU += tot - eng
		time.Sleep(3 * time.Second)
		_, eng = cpu0.Since()
		settledCPU += eng
	}
	per := 100_000 / float64(total*b.N)
	b.ReportMetric(insertCPU*per, "engine-cpu-s/100k")
	b.ReportMetric(settledCPU*per, "engine+merges-cpu-s/100k")
	b.ReportMetric(goCPU*per, "go-cpu-s/100k")
	b.ReportMetric(float64(total*b.N)/elapsed, "spans/s")
}

// BenchmarkEngineProcessCost is what the engine's process (`flowlens
// clickhouse`: the engine and its HTTP endpoint) spends per 100k spans of
// wiretest's ManyUnique shape, in 50k-row inserts as the collector sends
// them: the Native bodies are encoded (uncompressed, as storage.Config's
// default is toward a loopback engine) before the clock starts, so the
// process's CPU is the endpoint's and the engine's alone. BenchmarkEngineCostPerBatch
// splits by thread names instead, which miscounts an insert without views
// (the engine then runs it on the calling Go thread).
//
// insert-cpu-s/100k is the process's CPU for 400k spans in 8 inserts and
// until no merge runs; merge-cpu-s/100k is OPTIMIZE ... FINAL of those 8
// parts into one afterwards: what each level of background merges costs
// per row (merges of 50k-row parts come soon: 17 of them were merged
// within a 2M-span run). Schema variants as BenchmarkEngineCostPerBatch's;
// FLOWLENS_BENCH_COMPRESS=1 sends them lz4-compressed.
//
// FLOWLENS_BENCH_INSERTS=N sends N inserts instead of 8 (the 8 bodies
// again and again, each under a token of its own), so that the background
// merges run as they do in a long stream: insert-cpu-s/100k then counts
// them, and merged-rows-per-row is how many times the merges rewrote each
// row of otel_traces (before the OPTIMIZE), e.g. to compare merge
// policies (FLOWLENS_BENCH_TABLE_SETTINGS=merge_selector_base=N).
func BenchmarkEngineProcessCost(b *testing.B) {
	const batch, distinct = 50000, 8
	ctx := context.Background()
	lz4 := os.Getenv("FLOWLENS_BENCH_COMPRESS") == "1"
	inserts := distinct
	if v, err := strconv.Atoi(os.Getenv("FLOWLENS_BENCH_INSERTS")); err == nil && v > 0 {
		inserts = v
	}
	bodies := make([][]byte, distinct)
	for i := range bodies {
		var r SpanRows
		r.AppendTraces(wiretest.ShapedTraces(i*batch, batch, 5, wiretest.ManyUnique), nil)
		var blk nativeBlock
		if err := blk.encode(TracesTable, spanColumns, r.columns()); err != nil {
			b.Fatal(err)
		}
		body := blk.buf.Buf
		if lz4 {
			cw := compress.NewWriter(compress.LevelZero, compress.LZ4)
			if err := cw.Compress(body); err != nil {
				b.Fatal(err)
			}
			body = cw.Data
		}
		bodies[i] = append([]byte(nil), body...)
	}
	insertSettings := map[string]string{}
	if set := os.Getenv("FLOWLENS_BENCH_INSERT_SETTINGS"); set != "" {
		for _, kv := range strings.Split(set, ";") {
			k, v, _ := strings.Cut(kv, "=")
			insertSettings[k] = v
		}
	}
	per := 100_000 / float64(batch*inserts*b.N)
	var insertCPU, mergeCPU, mergedRows float64
	b.StopTimer()
	for n := 0; n < b.N; n++ {
		s := variantStore(b)
		post := func(body []byte) {
			q := url.Values{}
			q.Set("query", "INSERT INTO "+s.l.Name(TracesTable)+" ("+strings.Join(spanColumns, ", ")+") FORMAT Native")
			if lz4 {
				q.Set("decompress", "1")
			}
			q.Set("insert_deduplication_token", uniqueToken())
			for k, v := range insertSettings {
				q.Set(k, v)
			}
			u := s.native.base
			u.RawQuery = q.Encode()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("X-ClickHouse-User", s.native.user)
			req.Header.Set("X-ClickHouse-Key", s.native.password)
			resp, err := s.native.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := responseError(resp, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		ev0 := engineEvents(b, s)
		cpu0 := chtest.SampleCPU()
		for i := range inserts {
			post(bodies[i%distinct])
		}
		waitNoMerges(b, s)
		tot, _ := cpu0.Since()
		insertCPU += tot
		b.StopTimer()
		fmt.Fprintf(os.Stderr, "after the inserts: %s\n", partsSummary(b, s))
		// Parts merged away stay in system.parts (inactive) for
		// old_parts_lifetime, minutes: every part above level 0 is rows
		// a merge wrote.
		var merged uint64
		if err := s.conn.QueryRow(ctx, "SELECT sum(rows) FROM system.parts WHERE database = ? AND table = ? AND level > 0",
			s.cfg.Database, TracesTable).Scan(&merged); err != nil {
			b.Fatal(err)
		}
		mergedRows += float64(merged)
		ev1 := engineEvents(b, s)
		b.StartTimer()
		cpu0 = chtest.SampleCPU()
		if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+s.l.Name(TracesTable)+" FINAL"); err != nil {
			// A background merge may have begun after the quiet
			// second: once it is done, the parts can be merged.
			waitNoMerges(b, s)
			if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+s.l.Name(TracesTable)+" FINAL"); err != nil {
				b.Fatal(err)
			}
		}
		tot, _ = cpu0.Since()
		mergeCPU += tot
		b.StopTimer()
		fmt.Fprintf(os.Stderr, "after the merge: %s\n", partsSummary(b, s))
		if os.Getenv("FLOWLENS_BENCH_EVENTS") != "" {
			ev2 := engineEvents(b, s)
			for _, name := range slices.Sorted(maps.Keys(ev2)) {
				if d1, d2 := ev1[name]-ev0[name], ev2[name]-ev1[name]; d1 != 0 || d2 != 0 {
					fmt.Fprintf(os.Stderr, "event\t%s\t%d\t%d\n", name, d1, d2)
				}
			}
		}
		_ = s.conn.Exec(ctx, "DROP DATABASE "+s.cfg.Database)
	}
	b.ReportMetric(insertCPU*per, "insert-cpu-s/100k")
	b.ReportMetric(mergeCPU*per, "merge-cpu-s/100k")
	b.ReportMetric(mergedRows/float64(batch*inserts*b.N), "merged-rows-per-row")
}

// partsSummary says how many active parts otel_traces has, of which
// type and level, and how many files they are (the projection's included).
func partsSummary(b *testing.B, s *Store) string {
	ctx := context.Background()
	rows, err := s.conn.Query(ctx, `SELECT part_type, level, count(), sum(rows), sum(files)
		FROM system.parts WHERE database = ? AND table = ? AND active GROUP BY part_type, level ORDER BY level, part_type`,
		s.cfg.Database, TracesTable)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ string
		var level uint32
		var parts, rs, files uint64
		if err := rows.Scan(&typ, &level, &parts, &rs, &files); err != nil {
			b.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s parts of level %d (%d rows, %d files)", parts, typ, level, rs, files))
	}
	return strings.Join(out, ", ")
}

// waitNoMerges polls until s's database has had no merge running for a
// second (at most a minute).
func waitNoMerges(b *testing.B, s *Store) {
	ctx := context.Background()
	quiet := 0
	for deadline := time.Now().Add(time.Minute); quiet < 3 && time.Now().Before(deadline); {
		var running uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", s.cfg.Database).Scan(&running); err != nil {
			b.Fatal(err)
		}
		if running == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// variantStore opens a fresh, migrated database in the schema variant the
// environment asks for (see BenchmarkEngineCostPerBatch), after mods.
func variantStore(b testing.TB, mods ...func(c *Config)) *Store {
	ctx := context.Background()
	s := newStoreCfg(b, func(c *Config) {
		for _, mod := range mods {
			mod(c)
		}
		c.TraceIDProjection = ptr(os.Getenv("FLOWLENS_BENCH_PROJECTION") == "")
		if g, err := strconv.Atoi(os.Getenv("FLOWLENS_BENCH_GRANULARITY")); err == nil {
			c.TracesGranularity = g
		}
	})
	cfg := s.cfg
	var alters []string
	if os.Getenv("FLOWLENS_BENCH_LZ4") != "" {
		rows, err := s.conn.Query(ctx, "SELECT table, name, type, compression_codec FROM system.columns WHERE database = ? AND compression_codec LIKE '%ZSTD%'", cfg.Database)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var table, name, typ, codec string
			if err := rows.Scan(&table, &name, &typ, &codec); err != nil {
				b.Fatal(err)
			}
			alters = append(alters, fmt.Sprintf("ALTER TABLE `%s`.`%s` MODIFY COLUMN `%s` %s %s",
				cfg.Database, table, name, typ, strings.ReplaceAll(codec, "ZSTD(1)", "LZ4")))
		}
		rows.Close()
	}
	if os.Getenv("FLOWLENS_BENCH_PROJECTION") == "offsets" {
		alters = append(alters, "ALTER TABLE "+s.l.Name(TracesTable)+" ADD PROJECTION by_trace_id (SELECT _part_offset ORDER BY TraceId)")
	}
	switch os.Getenv("FLOWLENS_BENCH_LOGS_PROJECTION") {
	case "full":
		alters = append(alters, "ALTER TABLE "+s.l.Name(LogsTable)+" ADD PROJECTION by_trace_id (SELECT * ORDER BY TraceId, Timestamp)")
	case "offsets":
		alters = append(alters, "ALTER TABLE "+s.l.Name(LogsTable)+" ADD PROJECTION by_trace_id (SELECT _part_offset ORDER BY TraceId)")
	}
	if drop := os.Getenv("FLOWLENS_BENCH_NO_INDEXES"); drop != "" {
		idxs := []string{"idx_trace_id", "idx_res_attr_key", "idx_res_attr_value", "idx_span_attr_key",
			"idx_span_attr_value", "idx_duration", "idx_lower_span_name"}
		if drop != "1" {
			idxs = strings.Split(drop, ",")
		}
		for _, idx := range idxs {
			alters = append(alters, "ALTER TABLE "+s.l.Name(TracesTable)+" DROP INDEX "+idx)
		}
	}
	if os.Getenv("FLOWLENS_BENCH_NO_VIEWS") != "" {
		for _, v := range []string{TraceIndexView, TraceLinksView} {
			alters = append(alters, "DROP VIEW "+s.l.Name(v))
		}
	}
	if set := os.Getenv("FLOWLENS_BENCH_TABLE_SETTINGS"); set != "" {
		for _, t := range []string{TracesTable, TraceIndexTable, LogsTable} {
			alters = append(alters, "ALTER TABLE "+s.l.Name(t)+" MODIFY SETTING "+set)
		}
	}
	for _, a := range alters {
		if err := s.conn.Exec(ctx, a); err != nil {
			b.Fatalf("%s: %v", a, err)
		}
	}
	return s
}
