package collector_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/storage"
)

// BenchmarkKafkaToClickHouse: spans already in Kafka (200k per iteration or
// BENCH_SPANS, 14-19 attributes each, one message per trace of 5 spans)
// stored by the collector into the embedded engine, all in this process.
// Reports spans/s and CPU seconds per 100k spans: the whole process, the
// engine's own threads, and the rest (collector, broker, HTTP client and
// endpoint).
//
// Sub-benchmarks name the shape: topic partitions (1, as the embedded
// broker creates them, or 6, kafkawire's default for clusters: smaller
// inserts) and the spans' services and strings (wiretest.Shape: 6 services
// with repeating strings, or 200 with URLs, user agents, sessions and
// users that never repeat).
func BenchmarkKafkaToClickHouse(b *testing.B) {
	perIter := 200_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_SPANS")); err == nil {
		perIter = v
	}
	forEachShape(b, func(b *testing.B, partitions int, shape wiretest.Shape) {
		broker := startBroker(b, partitions)
		addrs := broker.Addrs()
		var spans int
		var elapsed time.Duration
		var cpuTotal, cpuEngine, inserts, insertSec float64
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			st := openStore(b, "", "")
			run := runCollector(b, benchConfig(addrs, i, partitions), perIter, shape, st)
			elapsed += run.elapsed
			cpuTotal += run.cpuTotal
			cpuEngine += run.cpuEngine
			spans += perIter
			n, _ := histogram(run.reg, "flowlens_collector_batch_rows")
			_, sec := histogram(run.reg, "flowlens_collector_batch_insert_seconds")
			inserts += n
			insertSec += sec
			if got := spanCounts(b, st); got.rows != uint64(perIter) || got.distinct != uint64(perIter) {
				b.Fatalf("stored %v, want %d", got, perIter)
			}
			b.StartTimer()
		}
		per100k := 100_000 / float64(spans)
		b.ReportMetric(float64(spans)/elapsed.Seconds(), "spans/s")
		b.ReportMetric(cpuTotal*per100k, "cpu-s/100k-total")
		b.ReportMetric(cpuEngine*per100k, "cpu-s/100k-engine")
		b.ReportMetric((cpuTotal-cpuEngine)*per100k, "cpu-s/100k-go")
		b.ReportMetric(float64(spans)/inserts, "rows/insert")
		b.ReportMetric(insertSec/inserts, "s/insert")
	})
}

// forEachShape runs fn as sub-benchmarks partitions=P/services=S/strings=X
// over the partition counts (benchPartitions) and span shapes.
func forEachShape(b *testing.B, fn func(b *testing.B, partitions int, shape wiretest.Shape)) {
	for _, partitions := range benchPartitions() {
		for _, shape := range []wiretest.Shape{wiretest.Repeated, wiretest.ManyUnique} {
			b.Run(fmt.Sprintf("partitions=%d/%s", partitions, shape), func(b *testing.B) { fn(b, partitions, shape) })
		}
	}
}

// benchConfig is the collector's config for iteration i of a benchmark:
// its own group and topics, production defaults unless BENCH_* overrides.
func benchConfig(brokers []string, i, partitions int) collector.Config {
	cfg := collector.Config{HTTP: listener.Config{Listen: listener.Off}, GroupID: fmt.Sprintf("bench-%d", i)}
	cfg.Kafka.Brokers = brokers
	cfg.Topics.Spans = fmt.Sprintf("bench_spans_%d", i)
	cfg.Topics.Logs = fmt.Sprintf("bench_logs_%d", i)
	cfg.Topics.Partitions = partitions
	benchBatchOverrides(&cfg)
	cfg.SetDefaults()
	return cfg
}

// collectorRun is what runCollector measured.
type collectorRun struct {
	reg                 *prometheus.Registry // the collector's metrics
	elapsed             time.Duration
	cpuTotal, cpuEngine float64 // CPU seconds of the process and of the engine's threads
}

// runCollector produces perIter spans of shape into cfg's topics with the
// timer stopped, then times a collector over them into store, from its
// Start until it counts every span stored, and shuts it down. The timer
// is stopped on return.
func runCollector(b *testing.B, cfg collector.Config, perIter int, shape wiretest.Shape, store collector.RowStore) collectorRun {
	b.StopTimer()
	if err := ensureTopics(cfg); err != nil {
		b.Fatal(err)
	}
	produceShapedSpansTo(b, cfg.Kafka.Brokers, cfg.Topics.Spans, 0, perIter, 500, shape)
	reg := prometheus.NewRegistry()
	c, err := collector.New(cfg, collector.Settings{Settings: component.Settings{Logger: testLogger(b), Registerer: reg}, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	cpu0, t0 := chtest.SampleCPU(), time.Now()
	b.StartTimer()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	// Poll the collector's own counter: a count distinct over the
	// attributes every 50 ms would be measured as engine CPU (it was a
	// fifth of it).
	for gauge(reg, "flowlens_collector_rows_stored_total") < float64(perIter) {
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	run := collectorRun{reg: reg, elapsed: time.Since(t0)}
	run.cpuTotal, run.cpuEngine = cpu0.Since()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = c.Shutdown(ctx)
	cancel()
	return run
}

// discardStore stores nothing: it isolates the collector's own cost
// (fetch, decode, convert to rows, commit).
type discardStore struct{}

func (discardStore) InsertSpans(context.Context, *storage.SpanRows, string) error { return nil }
func (discardStore) InsertLogs(context.Context, *storage.LogRows, string) error   { return nil }
func (discardStore) RowLimits() storage.RowLimits                                 { return storage.RowLimits{} }

// BenchmarkCollectorWithoutStorage: the same spans through the collector
// into a store that discards them, in the same shapes.
func BenchmarkCollectorWithoutStorage(b *testing.B) {
	const perIter = 200_000
	forEachShape(b, func(b *testing.B, partitions int, shape wiretest.Shape) {
		broker := startBroker(b, partitions)
		addrs := broker.Addrs()
		var elapsed time.Duration
		var cpu float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			run := runCollector(b, benchConfig(addrs, i, partitions), perIter, shape, discardStore{})
			elapsed += run.elapsed
			cpu += run.cpuTotal
			b.StartTimer()
		}
		b.ReportMetric(float64(b.N*perIter)/elapsed.Seconds(), "spans/s")
		b.ReportMetric(cpu*100_000/float64(b.N*perIter), "cpu-s/100k")
	})
}

func gauge(g prometheus.Gatherer, name string) float64 {
	mfs, _ := g.Gather()
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// histogram sums the observation count and the observed values of a
// histogram over its labels.
func histogram(g prometheus.Gatherer, name string) (count, sum float64) {
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				count += float64(m.GetHistogram().GetSampleCount())
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return count, sum
}

func ensureTopics(cfg collector.Config) error {
	client, err := cfg.Kafka.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kafkawire.EnsureTopics(ctx, client, cfg.Topics.Specs())
}

// BenchmarkRSSWhileStorageDown runs the collector in a child process with
// storage unreachable while 400k spans are produced, and reports the
// child's peak RSS: it must stay bounded however much the topic grows.
func BenchmarkRSSWhileStorageDown(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		broker := startBroker(b, 6)
		direct := openStore(b, "", "")
		px := newProxy(b, chAddr(b))
		addrFile := filepath.Join(b.TempDir(), "http-addr")
		child := startChildProcess(b, broker.Addrs(), px.addr, direct.Database(), "CHILD_HTTP=127.0.0.1:0", "CHILD_HTTP_ADDR_FILE="+addrFile)
		var metricsAddr string
		polltest.Until(b, "the child to serve /metrics", time.Minute, func() bool {
			data, err := os.ReadFile(addrFile)
			metricsAddr = string(data)
			return err == nil
		})
		// storage opened and every partition of both topics assigned
		polltest.Until(b, "the child to join the group", time.Minute, func() bool {
			return scrape(b, metricsAddr, "flowlens_collector_assigned_partitions") == 12
		})
		px.Stop()
		b.StartTimer()
		peak := 0.0
		done := make(chan struct{})
		go func() {
			defer close(done)
			produceSpans(b, broker.Addrs(), 0, 400_000, 500)
		}()
		tick := time.NewTicker(250 * time.Millisecond)
	sample:
		for {
			select {
			case <-done:
				break sample
			case <-tick.C:
				peak = max(peak, rssMB(child.Process.Pid))
			}
		}
		for j := 0; j < 40; j++ { // keep sampling while it retries
			time.Sleep(250 * time.Millisecond)
			peak = max(peak, rssMB(child.Process.Pid))
		}
		tick.Stop()
		b.StopTimer()
		b.ReportMetric(peak, "peak-RSS-MB")
		b.ReportMetric(scrape(b, metricsAddr, "flowlens_collector_buffered_bytes")/(1<<20), "held-est-MB")
		b.ReportMetric(scrape(b, metricsAddr, "flowlens_collector_rows_consumed_total"), "spans-held")
		_ = child.Process.Kill()
		_, _ = child.Process.Wait()
		b.StartTimer()
	}
}

func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// benchPartitions are the topics' partition counts to measure:
// BENCH_PARTITIONS alone, or 1 (as the embedded broker creates them: one
// collector gets the largest inserts that way) and 6 (kafkawire's default
// for clusters, which cuts them small).
func benchPartitions() []int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_PARTITIONS")); err == nil {
		return []int{v}
	}
	return []int{1, 6}
}

// benchBatchOverrides lets a tuning run change the batch settings
// (BENCH_BATCH_ROWS, BENCH_BATCH_MB, BENCH_BATCH_AGE, BENCH_MAX_BUFFERED_MB,
// BENCH_INSERT_CONCURRENCY); unset
// means the production defaults.
func benchBatchOverrides(cfg *collector.Config) {
	if v, err := strconv.Atoi(os.Getenv("BENCH_BATCH_ROWS")); err == nil {
		cfg.Batch.MaxRows = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_BATCH_AGE")); err == nil {
		cfg.Batch.MaxAge = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_BATCH_MB")); err == nil {
		cfg.Batch.MaxBytes = bytesize.Size(v) << 20
	}
	if v, err := strconv.ParseInt(os.Getenv("BENCH_MAX_BUFFERED_MB"), 10, 64); err == nil {
		cfg.MaxBufferedBytes = bytesize.Size(v) << 20
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_INSERT_CONCURRENCY")); err == nil {
		cfg.InsertConcurrency = v
	}
}

// scrape reads one metric (summed over its labels) from a /metrics page.
func scrape(t testing.TB, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Logf("scrape %s: %v", addr, err)
		return -1
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func (discardStore) InsertLedgerReports(context.Context, []storage.LedgerReport, string) error {
	return nil
}
func (discardStore) InsertLedgerCounts(context.Context, []storage.LedgerCount, string) error {
	return nil
}
func (discardStore) Ledger(context.Context, time.Time, time.Time, string) ([]storage.LedgerRow, error) {
	return nil, nil
}
