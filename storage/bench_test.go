package storage

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// benchStore is one migrated database shared by the insert benchmarks.
var benchStores struct {
	sync.Mutex
	m map[string]*Store
}

func sharedStore(b *testing.B, key string) *Store { return sharedStoreG(b, key, 0) }

func sharedStoreG(b *testing.B, key string, granularity int) *Store {
	return sharedStoreCfg(b, key, func(c *Config) {
		if granularity > 0 {
			c.TracesGranularity = granularity
		}
	})
}

func sharedStoreCfg(b *testing.B, key string, mod func(c *Config)) *Store {
	benchStores.Lock()
	defer benchStores.Unlock()
	if s := benchStores.m[key]; s != nil {
		return s
	}
	cfg := Config{Addr: chtest.Addr(b), Database: chtest.Database(b)}
	cfg.Username, cfg.Password = chtest.Admin(b)
	cfg.SetDefaults()
	mod(&cfg)
	ctx := context.Background()
	s, err := Open(ctx, cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if benchStores.m == nil {
		benchStores.m = map[string]*Store{}
	}
	benchStores.m[key] = s
	return s
}

// BenchmarkAppendTraces measures pdata -> columnar rows alone.
func BenchmarkAppendTraces(b *testing.B) {
	td := genTraces(1, 2000, 5, baseTime, time.Millisecond) // 10k spans, 13 attributes each
	var r SpanRows
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Reset()
		r.AppendTraces(td, nil)
	}
	b.ReportMetric(float64(td.SpanCount()*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkInsertSpans measures the full client path: the Native encoder
// or clickhouse-go (columnar Append) -> HTTP endpoint -> engine, per batch size. The
// rows are converted outside the timer; see BenchmarkIngestSpans for
// conversion + insert.
//
// The last parts of the name are the rows' shape: rows=same re-inserts one
// converted batch of genTraces (8 services, 16 span names, one user agent,
// sessions from 1000); rows=fresh inserts new spans every time, from
// wiretest in its two shapes (6 services with repeating strings; 200
// services with URLs, user agents, sessions and users that never repeat).
//
// BENCH_CH_COMPRESSION (none, lz4, zstd) sets the store's compression;
// unset, the default for the engine's loopback address (none).
func BenchmarkInsertSpans(b *testing.B) {
	projection := os.Getenv("FLOWLENS_BENCH_PROJECTION") != "0"
	compression := os.Getenv("BENCH_CH_COMPRESSION")
	for _, batch := range []int{10000, 50000} {
		for _, path := range []string{"native", "client"} {
			for _, shape := range insertShapes {
				b.Run(fmt.Sprintf("batch=%d/projection=%v/insert=%s/%s", batch, projection, path, shape.name), func(b *testing.B) {
					s := sharedStoreCfg(b, fmt.Sprint("insert-", projection, compression), func(c *Config) {
						c.TraceIDProjection = &projection
						if compression != "" {
							c.Compression = compression
						}
					})
					s2 := *s
					s2.cfg.InsertWithClient = path == "client"
					benchInsertSpans(b, &s2, batch, shape.fresh)
				})
			}
		}
	}
}

// insertShapes are the rows BenchmarkInsertSpans inserts: fresh is nil for
// one batch of genTraces re-inserted, else it makes batch n of the run.
var insertShapes = []struct {
	name  string
	fresh func(n, batch int) ptrace.Traces
}{
	{"rows=same/services=8/strings=repeated", nil},
	{"rows=fresh/" + wiretest.Repeated.String(), func(n, batch int) ptrace.Traces {
		return wiretest.ShapedTraces(n*batch, batch, 5, wiretest.Repeated)
	}},
	{"rows=fresh/" + wiretest.ManyUnique.String(), func(n, batch int) ptrace.Traces {
		return wiretest.ShapedTraces(n*batch, batch, 5, wiretest.ManyUnique)
	}},
}

// freshBatches numbers the fresh batches of the whole run, so that no two
// carry the same spans, even across the rounds of one benchmark.
var freshBatches atomic.Int64

// benchInsertSpans inserts b.N batches (the same converted one when fresh
// is nil) and splits the CPU of the inserts between the engine's threads
// and Go (client, endpoint).
func benchInsertSpans(b *testing.B, s *Store, batch int, fresh func(n, batch int) ptrace.Traces) {
	var r SpanRows
	if fresh == nil {
		r.AppendTraces(genTraces(uint64(batch), batch/5, 5, baseTime, time.Millisecond), nil)
	}
	ctx := context.Background()
	var total, engine float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fresh != nil {
			b.StopTimer()
			r.Reset()
			r.AppendTraces(fresh(int(freshBatches.Add(1)), batch), nil)
			b.StartTimer()
		}
		cpu := chtest.SampleCPU()
		if err := s.InsertSpans(ctx, &r, uniqueToken()); err != nil {
			b.Fatal(err)
		}
		t, e := cpu.Since()
		total, engine = total+t, engine+e
	}
	per := 100_000 / float64(r.Len()*b.N)
	b.ReportMetric(float64(r.Len()*b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric((total-engine)*per, "go-cpu-s/100k")
	b.ReportMetric(engine*per, "engine-cpu-s/100k")
}

// BenchmarkIngestSpans is what the collector does per batch: convert pdata
// into reused rows, then insert.
func BenchmarkIngestSpans(b *testing.B) {
	const batch = 20000
	s := sharedStore(b, "insert")
	td := genTraces(7, batch/5, 5, baseTime, time.Millisecond)
	var r SpanRows
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Reset()
		r.AppendTraces(td, nil)
		if err := s.InsertSpans(ctx, &r, uniqueToken()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkInsertSpansRowAppend is the same insert with batch.Append per row,
// for comparison with the columnar path of InsertSpans.
func BenchmarkInsertSpansRowAppend(b *testing.B) {
	const batch = 10000
	s := sharedStore(b, "insert")
	var r SpanRows
	r.AppendTraces(genTraces(99, batch/5, 5, baseTime, time.Millisecond), nil)
	cols := r.columns()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": uniqueToken()}))
		bt, err := s.conn.PrepareBatch(c, "INSERT INTO "+s.l.Name(TracesTable)+" ("+strings.Join(spanColumns, ", ")+")")
		if err != nil {
			b.Fatal(err)
		}
		row := make([]any, len(cols))
		for j := 0; j < r.Len(); j++ {
			row[0], row[1], row[2], row[3], row[4], row[5], row[6] = r.Timestamp[j], r.TraceID[j], r.SpanID[j], r.ParentSpanID[j], r.TraceState[j], r.SpanName[j], r.SpanKind[j]
			row[7], row[8], row[9], row[10], row[11] = r.ServiceName[j], r.ResourceAttributes[j], r.ScopeName[j], r.ScopeVersion[j], r.SpanAttributes[j]
			row[12], row[13], row[14] = r.Duration[j], r.StatusCode[j], r.StatusMessage[j]
			row[15], row[16], row[17] = r.EventsTimestamp[j], r.EventsName[j], r.EventsAttributes[j]
			row[18], row[19], row[20], row[21] = r.LinksTraceID[j], r.LinksSpanID[j], r.LinksTraceState[j], r.LinksAttributes[j]
			if err := bt.Append(row...); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Send(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.Len()*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// lookupDataset stores n spans (10 per trace, 8-12 attributes each, traces
// spread evenly over 10 days = 10 daily partitions) generated inside the
// engine with INSERT ... SELECT FROM numbers(), and returns sample trace IDs.
func lookupDataset(b *testing.B, n, granularity int, projection string) (*Store, []string) {
	s := sharedStoreCfg(b, fmt.Sprintf("lookup-%d-%d-%v", n, granularity, projection), func(c *Config) {
		c.TracesGranularity, c.TraceIDProjection = granularity, ptr(projection == "true")
	})
	ctx := context.Background()
	var have uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.Name(TracesTable)).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == 0 && projection == "offsets" {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+s.l.Name(TracesTable)+" ADD PROJECTION IF NOT EXISTS by_trace_id (SELECT _part_offset ORDER BY TraceId)"); err != nil {
			b.Fatal(err)
		}
	}
	if have == 0 {
		start := time.Now()
		const chunk = 1000000
		nTraces := n / 10
		stepNs := int64(10*24*time.Hour) / int64(nTraces)
		for off := 0; off < n; off += chunk {
			cnt := min(chunk, n-off)
			q := `INSERT INTO ` + s.l.Name(TracesTable) + ` (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode)
SELECT
    fromUnixTimestamp64Nano(toInt64({t0:Int64} + intDiv(number, 10) * {step:Int64} + (number % 10) * 1000000)) AS ts,
    lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 1))) || hex(reinterpretAsFixedString(cityHash64(intDiv(number, 10), 2)))) AS tid,
    lower(hex(reinterpretAsFixedString(cityHash64(number, 3)))),
    if(number % 10 = 0, '', lower(hex(reinterpretAsFixedString(cityHash64(number - 1, 3))))),
    concat(['GET', 'POST'][number % 2 + 1], ' /api/v1/', toString(number % 37)),
    ['Server', 'Client'][number % 2 + 1],
    concat('svc-', toString((intDiv(number, 10) + number % 10) % 24)) AS svc,
    map('service.name', svc, 'host.name', concat('node-', toString(number % 17)), 'k8s.namespace.name', 'shop', 'service.version', '1.4.2'),
    'otelhttp', '0.58.0',
    map('http.request.method', ['GET', 'POST'][number % 2 + 1], 'url.path', concat('/api/v1/', toString(number % 37)),
        'http.response.status_code', toString([200, 200, 200, 500][number % 4 + 1]), 'server.address', concat(svc, '.shop.svc'),
        'server.port', '8080', 'user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) loadgen/1.0',
        'client.address', concat('10.0.', toString(number % 250), '.', toString(number % 199)), 'session.id', concat('sess-', toString(number % 5000))),
    (number % 97) * 1000000 + 500000,
    ['Ok', 'Ok', 'Ok', 'Error'][number % 4 + 1]
FROM numbers({off:UInt64}, {cnt:UInt64})`
			if err := s.conn.Exec(ctx, q, namedParams("t0", baseTime.UnixNano(), "step", stepNs, "off", off, "cnt", cnt)...); err != nil {
				b.Fatal(err)
			}
		}
		_ = s.conn.Exec(ctx, "OPTIMIZE TABLE "+s.l.Name(TraceIndexTable)+" FINAL")
		var parts, idxRows uint64
		_ = s.conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = {db:String} AND table = 'otel_traces'",
			namedParams("db", s.cfg.Database)...).Scan(&parts)
		_ = s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.Name(TraceIndexTable)).Scan(&idxRows)
		fmt.Fprintf(os.Stderr, "lookup dataset: %d spans in %s (%d active parts, %d trace index rows)\n", n, time.Since(start).Round(time.Millisecond), parts, idxRows)
	}
	rows, err := s.conn.Query(ctx, "SELECT TraceId FROM "+s.l.Name(TraceIndexTable)+" ORDER BY cityHash64(TraceId) LIMIT 1000")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		b.Fatal("no trace IDs in the dataset")
	}
	return s, ids
}

// BenchmarkTraceLookup: latency of fetching one trace's spans by ID via the
// trace-ID index (flowlens) vs the bloom filter alone (the exporter's
// approach), and of the whole GetTrace (spans + logs). Reports p50/p99.
// FLOWLENS_BENCH_SPANS sets the dataset size (default 1000000),
// FLOWLENS_BENCH_GRANULARITY the index_granularity of otel_traces (1024),
// FLOWLENS_BENCH_PROJECTION=0 leaves out the by-trace-ID projection.
func BenchmarkTraceLookup(b *testing.B) {
	n := 1000000
	if v := os.Getenv("FLOWLENS_BENCH_SPANS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	ways := []struct {
		name string
		get  func(s *Store, id string) (int, error)
	}{
		{"index", func(s *Store, id string) (int, error) { sp, err := s.traceSpansIndexed(ctx, id); return len(sp), err }},
		{"bloom-only", func(s *Store, id string) (int, error) { sp, err := s.traceSpansBloomOnly(ctx, id); return len(sp), err }},
		{"GetTrace", func(s *Store, id string) (int, error) { tr, err := s.GetTrace(ctx, id); return len(tr.Spans), err }},
	}
	gran := 1024
	if v := os.Getenv("FLOWLENS_BENCH_GRANULARITY"); v != "" {
		var err error
		if gran, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	projection := os.Getenv("FLOWLENS_BENCH_PROJECTION")
	if projection == "" {
		projection = "true"
	}
	for _, w := range ways {
		b.Run(fmt.Sprintf("spans=%d/granularity=%d/projection=%v/%s", n, gran, projection, w.name), func(b *testing.B) {
			s, ids := lookupDataset(b, n, gran, projection)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				got, err := w.get(s, ids[i%len(ids)])
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if got != 10 {
					b.Fatalf("trace %s: %d spans, want 10", ids[i%len(ids)], got)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
		})
	}
}

// BenchmarkInsertSpansParallel: two inserters at once (the collector's
// default), batches of 20k; reports total throughput.
func BenchmarkInsertSpansParallel(b *testing.B) {
	const batch = 20000
	s := sharedStore(b, "insert")
	var r SpanRows
	r.AppendTraces(genTraces(uint64(batch), batch/5, 5, baseTime, time.Millisecond), nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(1) // GOMAXPROCS goroutines: 2 on this machine
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.InsertSpans(ctx, &r, uniqueToken()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(r.Len()*b.N)/b.Elapsed().Seconds(), "spans/s")
}
