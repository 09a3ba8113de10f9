package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkLookupUnderIngest: trace lookups by ID while spans and logs are
// stored at a fixed rate (the collector's way: one insert per table per
// second, inserts of spans and logs at once), timing GetTrace, each of
// its queries alone (the index's range; spans and logs, each with the
// range read before it; links), and an empty query through the same
// endpoint (the per-request cost: HTTP, the guard, the engine's parse and plan;
// opening a session with its USE and SET when no kept one fits). Reports
// p50/p99 in ms of each and of the inserts (spans and logs side by side),
// and the active parts of otel_traces and otel_logs at the end.
//
// FLOWLENS_BENCH_RATE: spans/s and logs/s each (default 50000, what
// `bench-e2e --rate 4000` stores); FLOWLENS_BENCH_DURATION: how long (default
// 60s); FLOWLENS_BENCH_INSERT_NICE: Config.InsertNice of the store (default
// 0, the lookups' priority; 10 stores below them); FLOWLENS_BENCH_PLANS=1
// also times the way GetTrace ran its queries before (lookupplans_bench_test.go)
// under the same load. The schema's variant as BenchmarkEngineCostPerBatch's
// (e.g. FLOWLENS_BENCH_PROJECTION=offsets, FLOWLENS_BENCH_LOGS_PROJECTION=offsets);
// FLOWLENS_BENCH_LOGS_GRANULARITY and FLOWLENS_BENCH_TRACE_INDEX_GRANULARITY
// (e.g. 8192, the schema before) create otel_logs and the trace-ID
// index at another granularity (logscost_test.go);
// FLOWLENS_BENCH_LOOKUP_TABLE_SETTINGS (e.g. "prewarm_mark_cache = 1") is
// set on every table a lookup reads. Besides the latencies it reports what
// the engine loaded while the lookups ran (system.events over the run, the
// inserts' and merges' share included): marks and primary-index files
// loaded and the time queries waited for them, per lookup.
// Run it alone on a quiet machine, holding the bench lock:
//
//	flock /work/wt/bench.lock go test -run '^$' -bench LookupUnderIngest -benchtime 1x ./storage
func BenchmarkLookupUnderIngest(b *testing.B) {
	rate, dur := 50000, time.Minute
	if v := os.Getenv("FLOWLENS_BENCH_RATE"); v != "" {
		var err error
		if rate, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	if v := os.Getenv("FLOWLENS_BENCH_DURATION"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	insertNice := 0
	if v := os.Getenv("FLOWLENS_BENCH_INSERT_NICE"); v != "" {
		var err error
		if insertNice, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	kinds := lookupKinds
	if os.Getenv("FLOWLENS_BENCH_PLANS") == "1" {
		kinds = append(slices.Clone(lookupKinds), lookupPlans...)
	}
	for i := 0; i < b.N; i++ {
		s := variantStore(b, func(c *Config) {
			c.InsertNice = insertNice
			benchGranularities(b, c)
		})
		if set := os.Getenv("FLOWLENS_BENCH_LOOKUP_TABLE_SETTINGS"); set != "" {
			for _, t := range []string{TracesTable, TraceIndexTable, LogsTable, TraceLinksTable} {
				if err := s.conn.Exec(context.Background(), "ALTER TABLE "+s.l.Name(t)+" MODIFY SETTING "+set); err != nil {
					b.Fatal(err)
				}
			}
		}
		res := lookupUnderIngest(b, s, rate, dur, kinds)
		if i == b.N-1 {
			for _, k := range kinds {
				p50, p99 := sampleQuantilesMs(res.lat[k])
				b.ReportMetric(p50, k+"-p50-ms")
				b.ReportMetric(p99, k+"-p99-ms")
			}
			b.ReportMetric(float64(res.stored)/dur.Seconds(), "spans/s")
			p50, p99 := sampleQuantilesMs(res.inserts)
			b.ReportMetric(p50, "insert-p50-ms")
			b.ReportMetric(p99, "insert-p99-ms")
			b.ReportMetric(float64(res.spanParts), "traces-parts")
			b.ReportMetric(float64(res.logParts), "logs-parts")
			for _, ev := range lookupEvents {
				b.ReportMetric(res.events[ev]/float64(res.lookups), ev+"/lookup")
			}
		}
	}
}

// lookupKinds are what lookupUnderIngest times.
var lookupKinds = []string{"GetTrace", "range", "spans", "logs", "links", "select1"}

// lookupPlans are other orders of GetTrace's queries it can time.
var lookupPlans = []string{"GetTraceSubqueries"}

// lookupEvents are the engine's counters (system.events) that
// lookupUnderIngest reports per lookup: what a query loads the first time
// it reads a part (marks, the primary index), the time it waited for that,
// and the bytes it decompressed.
var lookupEvents = []string{"MarkCacheMisses", "LoadedMarksCount", "WaitMarksLoadMicroseconds",
	"LoadedPrimaryIndexFiles", "FileOpen", "CompressedReadBufferBytes"}

type lookupLoadResult struct {
	lat                 map[string][]time.Duration
	events              map[string]float64 // lookupEvents' increase over the lookups
	lookups             int                // rounds of kinds timed
	stored              int
	inserts             []time.Duration // each second's spans and logs, stored side by side
	spanParts, logParts uint64
}

// lookupUnderIngest stores rate spans/s and rate logs/s into s for dur
// (traces of 10 spans, 10 logs per trace, timestamps now) and meanwhile
// looks traces up that were stored at least a second before, one after the
// other, as a user in the UI would.
func lookupUnderIngest(b *testing.B, s *Store, rate int, dur time.Duration, kinds []string) lookupLoadResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const spansPer = 10
	nTraces := max(1, rate/spansPer)
	// One batch of each converted once; each second's batch gets fresh
	// trace IDs and times (the conversion would cost the engine its CPU).
	var spans SpanRows
	spans.AppendTraces(genTraces(1, nTraces, spansPer, baseTime, time.Second/time.Duration(nTraces)), nil)
	var logs LogRows
	for k := 0; k < spansPer; k++ {
		logs.AppendLogs(genLogs(1, nTraces, baseTime.Add(time.Duration(k)*time.Millisecond), time.Second/time.Duration(nTraces)), nil)
	}
	spanOffs, logOffs := offsetsFrom(spans.Timestamp), offsetsFrom(logs.Timestamp)
	logTrace := make([]int, logs.Len()) // trace of each log row in the batch
	for k := range logTrace {
		logTrace[k] = k % nTraces
	}

	var (
		mu     sync.Mutex
		ids    []string // stored trace IDs
		took   []time.Duration
		stored int
	)
	ingestErr := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for batch := uint64(0); ; batch++ {
			now := time.Now()
			first := 1 + batch*uint64(nTraces)
			batchIDs := make([]string, nTraces)
			for t := range batchIDs {
				batchIDs[t] = hexTraceID(traceIDOf(first + uint64(t)))
			}
			for j := range spans.TraceID {
				spans.TraceID[j] = batchIDs[j/spansPer]
				spans.Timestamp[j] = now.Add(spanOffs[j])
			}
			for j := range logs.TraceID {
				logs.TraceID[j] = batchIDs[logTrace[j]]
				logs.Timestamp[j] = now.Add(logOffs[j])
			}
			t0 := time.Now()
			var wg sync.WaitGroup
			var spanErr, logErr error
			wg.Add(1)
			go func() { defer wg.Done(); spanErr = s.InsertSpans(ctx, &spans, uniqueToken()) }()
			logErr = s.InsertLogs(ctx, &logs, uniqueToken())
			wg.Wait()
			if err := errors.Join(spanErr, logErr); err != nil {
				if ctx.Err() == nil {
					ingestErr <- err
				}
				return
			}
			mu.Lock()
			ids = append(ids, batchIDs...)
			stored += spans.Len()
			took = append(took, time.Since(t0))
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	res := lookupLoadResult{lat: map[string][]time.Duration{}}
	whole := func(get func(context.Context, string) (Trace, error)) func(id string) error {
		return func(id string) error {
			tr, err := get(ctx, id)
			if err == nil && (len(tr.Spans) != spansPer || len(tr.Logs) != spansPer) {
				err = fmt.Errorf("trace %s: %d spans and %d logs, want %d each", id, len(tr.Spans), len(tr.Logs), spansPer)
			}
			return err
		}
	}
	timed := map[string]func(id string) error{
		"GetTrace":           whole(s.GetTrace),
		"GetTraceSubqueries": whole(s.getTraceSubqueries),
		"range":              func(id string) error { _, err := s.traceRange(ctx, id); return err },
		"spans":              func(id string) error { _, err := s.traceSpansIndexed(ctx, id); return err },
		"logs":               func(id string) error { _, err := s.traceLogsIndexed(ctx, id); return err },
		"links":              func(id string) error { _, err := s.linkingSpans(ctx, id); return err },
		"select1": func(string) error {
			var one uint8
			return s.conn.QueryRow(ctx, "SELECT 1").Scan(&one)
		},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	before := engineEvents(b, s)
	b.ResetTimer()
	for end, iter := time.Now().Add(dur), 0; time.Now().Before(end); iter++ {
		select {
		case err := <-ingestErr:
			b.Fatal(err)
		default:
		}
		mu.Lock()
		n := len(ids)
		var id string
		if n > 0 {
			id = ids[rng.IntN(n)]
		}
		mu.Unlock()
		if n == 0 {
			time.Sleep(50 * time.Millisecond) // the first batch is not stored yet
			continue
		}
		// Each lookup in turn goes first: the ones after it find the
		// trace's granules in the caches.
		for j := range kinds {
			k := kinds[(j+iter)%len(kinds)]
			t0 := time.Now()
			if err := timed[k](id); err != nil {
				b.Fatalf("%s of %s: %v", k, id, err)
			}
			res.lat[k] = append(res.lat[k], time.Since(t0))
		}
		res.lookups++
		time.Sleep(20 * time.Millisecond) // a user's pace, not a loop that takes the engine's CPU
	}
	b.StopTimer()
	after := engineEvents(b, s)
	res.events = map[string]float64{}
	for _, k := range lookupEvents {
		res.events[k] = float64(after[k] - before[k])
	}
	cancel()
	mu.Lock()
	res.stored, res.inserts = stored, took
	mu.Unlock()
	for table, n := range map[string]*uint64{TracesTable: &res.spanParts, LogsTable: &res.logParts} {
		_ = s.conn.QueryRow(context.Background(), "SELECT count() FROM system.parts WHERE active AND database = {db:String} AND table = {t:String}",
			namedParams("db", s.cfg.Database, "t", table)...).Scan(n)
	}
	return res
}

// engineEvents reads every counter of the engine's system.events (the
// whole engine's: a benchmark runs alone in it).
func engineEvents(b testing.TB, s *Store) map[string]int64 {
	b.Helper()
	rows, err := s.conn.Query(context.Background(), "SELECT event, toInt64(value) FROM system.events")
	if err != nil {
		b.Fatalf("engine events: %v", err)
	}
	defer rows.Close()
	ev := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			b.Fatalf("engine events: %v", err)
		}
		ev[name] = v
	}
	if err := rows.Err(); err != nil {
		b.Fatalf("engine events: %v", err)
	}
	return ev
}

// offsetsFrom is each time's offset from the first.
func offsetsFrom(ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(ts[0])
	}
	return out
}

// sampleQuantilesMs is the p50 and p99 of d in milliseconds.
func sampleQuantilesMs(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	q := func(f float64) float64 { return float64(d[min(len(d)-1, int(f*float64(len(d))))]) / 1e6 }
	return q(0.5), q(0.99)
}
