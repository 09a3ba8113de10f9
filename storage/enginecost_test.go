package storage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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
//	FLOWLENS_BENCH_LZ4=1               LZ4 instead of ZSTD(1) in every codec
//	FLOWLENS_BENCH_NO_INDEXES=1        without otel_traces' skip indexes
//	FLOWLENS_BENCH_TABLE_SETTINGS=...  ALTER TABLE ... MODIFY SETTING ...
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

// variantStore opens a fresh, migrated database in the schema variant the
// environment asks for (see BenchmarkEngineCostPerBatch).
func variantStore(b *testing.B) *Store {
	ctx := context.Background()
	s := newStoreCfg(b, func(c *Config) { c.TraceIDProjection = ptr(os.Getenv("FLOWLENS_BENCH_PROJECTION") != "0") })
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
	if os.Getenv("FLOWLENS_BENCH_NO_INDEXES") != "" {
		for _, idx := range []string{"idx_trace_id", "idx_res_attr_key", "idx_res_attr_value", "idx_span_attr_key",
			"idx_span_attr_value", "idx_duration", "idx_lower_span_name"} {
			alters = append(alters, "ALTER TABLE "+s.l.Name(TracesTable)+" DROP INDEX "+idx)
		}
	}
	if set := os.Getenv("FLOWLENS_BENCH_TABLE_SETTINGS"); set != "" {
		for _, t := range []string{TracesTable, "otel_traces_trace_id_ts"} {
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
