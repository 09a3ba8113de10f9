package collector_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/component/componenttest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(chtest.Main(m))
}

func chAddr(t testing.TB) string { return chtest.Addr(t) }

func testLogger(t testing.TB) *zap.Logger {
	if os.Getenv("COLLECTOR_TEST_LOG") != "" {
		return zaptest.NewLogger(t)
	}
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// startBroker runs the embedded broker on a temp data dir with the given
// partitions per topic.
func startBroker(t testing.TB, partitions int) *kafkabroker.Broker {
	t.Helper()
	return kafkatest.Start(t, kafkabroker.Config{DataDir: t.TempDir(), Topics: kafkawire.TopicsConfig{Partitions: partitions}})
}

// openStore opens a fresh database on the shared embedded engine (or on
// addr when not empty) with the schema applied (as admin), connected as
// the writer, as the collector is in production.
func openStore(t testing.TB, addr, db string) *storage.Store {
	t.Helper()
	if addr == "" {
		addr = chtest.Addr(t)
	}
	if db == "" {
		db = chtest.Database(t)
	}
	cfg := storage.Config{Addr: addr, Database: db, DialTimeout: 2 * time.Second, ReadTimeout: 20 * time.Second, Compression: os.Getenv("BENCH_CH_COMPRESSION")}
	cfg.SetDefaults()
	projection := os.Getenv("BENCH_PROJECTION") != "0"
	cfg.TraceIDProjection = &projection // a schema variant to measure
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := cfg
	admin.Username, admin.Password = chtest.Admin(t)
	if err := storage.MigrateAs(ctx, admin, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	cfg.Username, cfg.Password = chtest.Login(t, chserver.RoleWriter)
	st, err := storage.Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func collectorConfig(brokers []string) collector.Config {
	cfg := collector.Config{HTTP: listener.Config{Listen: listener.Off}, SessionTimeout: 6 * time.Second, RebalanceFlushTimeout: 3 * time.Second}
	cfg.Kafka.Brokers = brokers
	cfg.Batch.MaxAge = 200 * time.Millisecond
	cfg.Batch.MaxRows = 2000
	cfg.Retry.Max = time.Second
	cfg.SetDefaults()
	return cfg
}

func startCollector(t testing.TB, cfg collector.Config, st collector.RowStore) *collector.Collector {
	t.Helper()
	return startCollectorWithRegistry(t, cfg, st, prometheus.NewRegistry())
}

// startCollectorWithRegistry is startCollector with the registry the test
// reads the collector's metrics from.
func startCollectorWithRegistry(t testing.TB, cfg collector.Config, st collector.RowStore, reg *prometheus.Registry) *collector.Collector {
	t.Helper()
	c, err := collector.New(cfg, collector.Settings{Settings: component.Settings{Logger: testLogger(t), Registerer: reg}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	componenttest.Start(t, c)
	return c
}

// newWriter is a producer in batches of up to 500 messages.
func newWriter(t testing.TB, brokers []string, topic string) *kafka.Writer {
	w := kafkatest.Writer(t, brokers, topic)
	w.BatchSize, w.BatchBytes = 500, 32<<20
	return w
}

// produceSpans writes spans seq0..seq0+n-1 (5 per trace), in requests of
// perRequest spans split by trace ID, as the agent does.
func produceSpans(t testing.TB, brokers []string, seq0, n, perRequest int) {
	t.Helper()
	produceSpansTo(t, brokers, kafkawire.DefaultSpansTopic, seq0, n, perRequest)
}

func produceSpansTo(t testing.TB, brokers []string, topic string, seq0, n, perRequest int) {
	t.Helper()
	produceShapedSpansTo(t, brokers, topic, seq0, n, perRequest, wiretest.Repeated)
}

// produceShapedSpansTo is produceSpansTo with spans of the given shape.
func produceShapedSpansTo(t testing.TB, brokers []string, topic string, seq0, n, perRequest int, shape wiretest.Shape) {
	t.Helper()
	produce(t, brokers, topic, seq0, n, perRequest, func(seq0, n int) ptrace.Traces { return wiretest.ShapedTraces(seq0, n, 5, shape) },
		(*kafkawire.Encoder).AppendTraceMessages, "spans")
}

func produceLogs(t testing.TB, brokers []string, seq0, n, perRequest int) {
	t.Helper()
	produce(t, brokers, kafkawire.DefaultLogsTopic, seq0, n, perRequest, wiretest.Logs, (*kafkawire.Encoder).AppendLogMessages, "logs")
}

// produce writes records seq0..seq0+n-1 of what to topic, in requests of
// perRequest (made by gen) split by trace ID as the agent does (appendMsgs).
func produce[D any](t testing.TB, brokers []string, topic string, seq0, n, perRequest int, gen func(seq0, n int) D,
	appendMsgs func(*kafkawire.Encoder, []kafka.Message, D) ([]kafka.Message, error), what string) {
	t.Helper()
	w := newWriter(t, brokers, topic)
	defer w.Close()
	enc := kafkawire.Encoder{PartitionByTraceID: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var msgs []kafka.Message
	for i := 0; i < n; i += perRequest {
		k := min(perRequest, n-i)
		var err error
		msgs, err = appendMsgs(&enc, msgs[:0], gen(seq0+i, k))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce %s: %v", what, err)
		}
	}
}

type counts struct{ rows, distinct uint64 }

func (c counts) String() string { return fmt.Sprintf("%d rows, %d distinct", c.rows, c.distinct) }

func countRows(t testing.TB, st *storage.Store, table, attrs string) counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c counts
	q := fmt.Sprintf("SELECT count(), uniqExact(%s['seq']) FROM %s.%s", attrs, st.Database(), table)
	if err := st.Conn().QueryRow(ctx, q).Scan(&c.rows, &c.distinct); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return c
}

func spanCounts(t testing.TB, st *storage.Store) counts {
	return countRows(t, st, storage.TracesTable, "SpanAttributes")
}

func logCounts(t testing.TB, st *storage.Store) counts {
	return countRows(t, st, storage.LogsTable, "LogAttributes")
}

// waitExactly waits until the table holds want rows, then checks they are
// want distinct records and that no more arrive.
func waitExactly(t testing.TB, st *storage.Store, count func(testing.TB, *storage.Store) counts, want uint64, d time.Duration) {
	t.Helper()
	var got counts
	deadline := time.Now().Add(d)
	for got = count(t, st); got.rows < want; got = count(t, st) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v, want %d", d, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	got = count(t, st)
	if got.rows != want || got.distinct != want {
		t.Fatalf("got %v, want exactly %d", got, want)
	}
}
