package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

// benchSet is a database for benchmarks with the plugin served over gRPC.
type benchSet struct {
	st     *storage.Store
	plugin datasourcetest.TestPlugin
	cfg    settings
	end    time.Time
	ids    []string // trace IDs, for the trace benchmark
}

var benches struct {
	sync.Mutex
	sets map[string]*benchSet
}

// benchDatabase builds (once per process and name) a migrated database
// filled by fill, and serves the plugin over it.
func benchDatabase(b *testing.B, name string, fill func(ctx context.Context, s *benchSet) error) *benchSet {
	b.Helper()
	benches.Lock()
	defer benches.Unlock()
	if s, ok := benches.sets[name]; ok {
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cfg := storage.Config{Addr: chtest.Addr(b), Database: chtest.Database(b)}
	cfg.Username, cfg.Password = chtest.Admin(b)
	st, err := storeload.OpenMigrated(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	reader, readerPassword := chtest.Login(b, chserver.RoleReader)
	s := &benchSet{st: st, end: time.Now().UTC().Truncate(time.Minute),
		cfg: settings{JSON: map[string]any{"address": cfg.Addr, "database": cfg.Database, "timeoutSeconds": 600}, // its own UID
			Secure: map[string]string{"username": reader, "password": readerPassword}}}
	t0 := time.Now()
	if err := fill(ctx, s); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "%s: dataset stored in %s\n", name, time.Since(t0).Round(time.Millisecond))
	s.plugin = pluginServer(b)
	if benches.sets == nil {
		benches.sets = map[string]*benchSet{}
	}
	benches.sets[name] = s
	return s
}

// queryLatencies runs one query b.N times through the plugin's gRPC server
// and reports the p50 and p95 of a QueryData call.
func queryLatencies(b *testing.B, s *benchSet, q func(i int) (plugin.Query, time.Time, time.Time), check func(backend.DataResponse)) {
	b.Helper()
	ctx := context.Background()
	pc := s.cfg.pluginContext()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pq, from, to := q(i)
		raw, _ := json.Marshal(pq)
		t0 := time.Now()
		resp, err := s.plugin.Client.QueryData(ctx, &backend.QueryDataRequest{PluginContext: pc, Queries: []backend.DataQuery{{
			RefID: "A", QueryType: pq.QueryType, JSON: raw, MaxDataPoints: 1000, Interval: time.Minute,
			TimeRange: backend.TimeRange{From: from, To: to}}}})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		r := resp.Responses["A"]
		if r.Error != nil {
			b.Fatal(r.Error)
		}
		check(r)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*95+99)/100-1])/1e6, "p95-ms")
}

const benchEdges = 2000

// BenchmarkQueryDataNodeGraph: the nodegraph query through the plugin's
// gRPC server over 2,000 edges with a rollup row per edge per minute for 7
// days (20M rows; the hourly tier filled by its view), for ranges ending
// now. Target: p95 under 300 ms for every range.
// FLOWLENS_BENCH_EDGE_DAYS shortens the stored span (default 7).
func BenchmarkQueryDataNodeGraph(b *testing.B) {
	days := 7
	if v := os.Getenv("FLOWLENS_BENCH_EDGE_DAYS"); v != "" {
		var err error
		if days, err = strconv.Atoi(v); err != nil || days < 1 {
			b.Fatalf("FLOWLENS_BENCH_EDGE_DAYS=%q", v)
		}
	}
	s := benchDatabase(b, fmt.Sprintf("edges-%dd", days), func(ctx context.Context, s *benchSet) error {
		return storeload.SyntheticEdges(ctx, s.st, benchEdges, s.end, time.Duration(days)*24*time.Hour)
	})
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}} {
		if r.d > time.Duration(days)*24*time.Hour {
			continue
		}
		b.Run("range="+r.name, func(b *testing.B) {
			// a range ending at a second inside the last minute, as "now" does
			to := s.end.Add(-30 * time.Second)
			queryLatencies(b, s, func(int) (plugin.Query, time.Time, time.Time) {
				return plugin.Query{QueryType: plugin.QueryNodeGraph}, to.Add(-r.d), to
			}, func(resp backend.DataResponse) {
				if n := resp.Frames[1].Rows(); n != benchEdges {
					b.Fatalf("%d edges, want %d", n, benchEdges)
				}
			})
		})
	}
}

// BenchmarkQueryDataTrace: the trace query (one trace of 10 spans by ID,
// through the plugin's gRPC server) with FLOWLENS_BENCH_TRACE_SPANS spans
// stored over 10 days (default 1,000,000; set 10000000 for the 10M figure,
// which takes minutes to store). Target: p95 under 50 ms at 10M.
func BenchmarkQueryDataTrace(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("FLOWLENS_BENCH_TRACE_SPANS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("FLOWLENS_BENCH_TRACE_SPANS=%q", v)
		}
	}
	s := benchDatabase(b, fmt.Sprintf("spans-%d", n), func(ctx context.Context, s *benchSet) (err error) {
		s.ids, err = storeload.SyntheticSpans(ctx, s.st, n, s.end, 10*24*time.Hour)
		return err
	})
	b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
		queryLatencies(b, s, func(i int) (plugin.Query, time.Time, time.Time) {
			return plugin.Query{QueryType: plugin.QueryTrace, TraceID: s.ids[i%len(s.ids)]}, s.end.Add(-time.Hour), s.end
		}, func(resp backend.DataResponse) {
			if n := resp.Frames[0].Rows(); n != 10 {
				b.Fatalf("%d spans, want 10", n)
			}
		})
	})
}
