package storage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/chtest"
)

// BenchmarkLogsProcessCost is what the process (the engine in it, and the
// Go encoder, the same for every variant) spends per 100k logs shaped like
// the agent's (a trace and span ID each, two resource and three log
// attributes, a short body), in 50k-row inserts as the collector sends
// them: insert-cpu-s/100k for 400k logs in 8 inserts and until no merge
// runs, merge-cpu-s/100k for OPTIMIZE ... FINAL of those parts into one,
// what each level of background merges costs per row. The granularity as
// FLOWLENS_BENCH_LOGS_GRANULARITY says (benchGranularities), so that
//
//	FLOWLENS_BENCH_LOGS_GRANULARITY=8192 go test -run '^$' -bench LogsProcessCost -count 5 ./storage
//
// against the same without it compares the schema before with the default.
func BenchmarkLogsProcessCost(b *testing.B) {
	const batch, inserts = 50000, 8
	ctx := context.Background()
	rows := make([]LogRows, inserts)
	for i := range rows {
		rows[i].AppendLogs(agentLikeLogs(uint64(i*batch), batch, time.Now()), nil)
	}
	per := 100_000 / float64(batch*inserts*b.N)
	var insertCPU, mergeCPU, insertEngine, mergeEngine float64
	b.StopTimer()
	for n := 0; n < b.N; n++ {
		s := variantStore(b, func(c *Config) { benchGranularities(b, c) })
		b.StartTimer()
		cpu0 := chtest.SampleCPU()
		for i := range rows {
			if err := s.InsertLogs(ctx, &rows[i], uniqueToken()); err != nil {
				b.Fatal(err)
			}
		}
		waitNoMerges(b, s)
		tot, eng := cpu0.Since()
		insertCPU, insertEngine = insertCPU+tot, insertEngine+eng
		cpu0 = chtest.SampleCPU()
		if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+s.l.Name(LogsTable)+" FINAL"); err != nil {
			b.Fatal(err)
		}
		tot, eng = cpu0.Since()
		mergeCPU, mergeEngine = mergeCPU+tot, mergeEngine+eng
		b.StopTimer()
		_ = s.conn.Exec(ctx, "DROP DATABASE "+s.cfg.Database)
	}
	b.ReportMetric(insertCPU*per, "insert-cpu-s/100k")
	b.ReportMetric(insertEngine*per, "insert-engine-cpu-s/100k")
	b.ReportMetric(mergeCPU*per, "merge-cpu-s/100k")
	b.ReportMetric(mergeEngine*per, "merge-engine-cpu-s/100k")
}

// agentLikeLogs are n log records from first on, 10 per trace, 20 µs
// apart from t0, with the attributes the agent gives a log line of a file
// (as a bench-e2e run stores them: about 250 bytes a row decoded).
func agentLikeLogs(first uint64, n int, t0 time.Time) plog.Logs {
	bodies := []string{"request handled: POST /verify", "redis answered: GET session", "order accepted", "payment authorized by provider"}
	ld := plog.NewLogs()
	for i := 0; i < n; i++ {
		k := first + uint64(i)
		svc := services[int(k/10)%len(services)]
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", "bench")
		rl.Resource().Attributes().PutStr("service.name", svc)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("flowlens-agent")
		sl.Scope().SetVersion("dev")
		r := sl.LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * 20 * time.Microsecond)))
		r.SetTraceID(traceIDOf(k / 10))
		r.SetSpanID(spanIDOf(k/10, int(k%10)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.SetSeverityText("info")
		r.Body().SetStr(bodies[k%uint64(len(bodies))])
		r.Attributes().PutStr("seq", strconv.FormatUint(k, 10))
		r.Attributes().PutStr("flowlens.run", "09afe96d92b7")
		r.Attributes().PutStr("log.file.name", fmt.Sprintf("%s.log", svc))
	}
	return ld
}

// benchGranularities sets the granularities of otel_logs and of the
// trace-ID index that FLOWLENS_BENCH_LOGS_GRANULARITY and
// FLOWLENS_BENCH_TRACE_INDEX_GRANULARITY ask for (e.g. 8192 and 8192, the
// schema before: now 2048 and 1024), for the benchmarks that compare them.
func benchGranularities(b testing.TB, c *Config) {
	for env, field := range map[string]*int{
		"FLOWLENS_BENCH_LOGS_GRANULARITY":        &c.LogsGranularity,
		"FLOWLENS_BENCH_TRACE_INDEX_GRANULARITY": &c.TraceIndexGranularity,
	} {
		if v := os.Getenv(env); v != "" {
			g, err := strconv.Atoi(v)
			if err != nil {
				b.Fatalf("%s: %v", env, err)
			}
			*field = g
		}
	}
}
