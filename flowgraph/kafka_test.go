package flowgraph

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

// startBroker runs the embedded broker with 6 partitions per topic and
// returns its addresses.
func startBroker(t testing.TB) []string {
	t.Helper()
	return kafkatest.Start(t, kafkabroker.Config{Topics: kafkawire.TopicsConfig{Partitions: 6}}).Addrs()
}

// traceMessages are one message per request of the topology, keyed by the
// request's trace ID (the consumer's spans travel with their producer's trace).
func traceMessages(t testing.TB, tp topology, base time.Time) ([]kafka.Message, int) {
	t.Helper()
	var msgs []kafka.Message
	n := 0
	for i := 0; i < tp.Traces; i++ {
		spans := tp.traceSpans(base, i, nil)
		n += len(spans)
		buf, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, toTraces(spans))
		if err != nil {
			t.Fatal(err)
		}
		id := traceID(i, 1)
		msgs = append(msgs, kafka.Message{Key: []byte(hex.EncodeToString(id[:])), Value: buf})
	}
	return msgs, n
}

func newKafkaService(t *testing.T, name string, brokers []string, st Store) *Service {
	t.Helper()
	cfg := testConfig()
	cfg.Instance = name
	cfg.Kafka.Brokers = brokers
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Shards = 2
	cfg.Store.Wait = 500 * time.Millisecond
	cfg.Rollup.FlushInterval = 200 * time.Millisecond
	cfg.Rollup.MaxLateness = 24 * 365 * time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t).Named(name)}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Two analyzers in one group; the second joins in the middle of the stream
// (a rebalance), then the first leaves (another). The rolled-up graph in
// storage is exact: every message counted once.
func TestTwoInstancesRebalanceGraphIsExact(t *testing.T) {
	brokers := startBroker(t)
	st := storetest.Migrated(t)
	ctx := context.Background()
	tp := topology{Traces: 600, DropEvery: 20, Retries: 7}
	base := time.Now().UTC().Truncate(time.Minute)
	msgs, total := traceMessages(t, tp, base)

	w := kafkatest.Writer(t, brokers, kafkawire.DefaultSpansTopic)
	produce := func(ms []kafka.Message) {
		for len(ms) > 0 {
			n := min(50, len(ms))
			if err := w.WriteMessages(ctx, ms[:n]...); err != nil {
				t.Fatalf("produce: %v", err)
			}
			ms = ms[n:]
			time.Sleep(5 * time.Millisecond) // a stream, not one burst
		}
	}

	a := newKafkaService(t, "a", brokers, st)
	produce(msgs[:200])
	polltest.Until(t, "a to consume the first third", 30*time.Second, func() bool { return a.Analyzer().Stats().Spans > 0 })

	b := newKafkaService(t, "b", brokers, st)
	polltest.Until(t, "both to hold partitions", 30*time.Second, func() bool { return a.Assigned() > 0 && b.Assigned() > 0 })
	produce(msgs[200:400])
	spans := func() uint64 { return a.Analyzer().Stats().Spans + b.Analyzer().Stats().Spans }
	polltest.Until(t, "b to consume", 30*time.Second, func() bool { return b.Analyzer().Stats().Spans > 0 })

	// a leaves in the middle of the last third: b takes every partition
	done := make(chan struct{})
	go func() { defer close(done); produce(msgs[400:]) }()
	time.Sleep(100 * time.Millisecond)
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown a: %v", err)
	}
	<-done
	polltest.Until(t, "every span consumed", 60*time.Second, func() bool { return spans() >= uint64(total) })
	// breaker log records on otlp_logs
	logs, err := kafkawire.MarshalLogs(kafkawire.EncodingProto, breakerLogs(base, "closed", "open", "closed"))
	if err != nil {
		t.Fatal(err)
	}
	lw := kafkatest.Writer(t, brokers, kafkawire.DefaultLogsTopic)
	if err := lw.WriteMessages(ctx, kafka.Message{Value: logs}); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the breaker from logs", 30*time.Second, func() bool {
		for _, br := range b.Analyzer().Breakers() {
			if br.Target == "orders_db" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond) // a re-read would show up here
	if got := spans(); got != uint64(total) {
		t.Errorf("spans processed %d, produced %d: messages were read twice across the rebalances", got, total)
	}
	// b's HTTP endpoints serve what it computed
	for path, want := range map[string]string{
		"/metrics":         `traces_service_graph_request_total{client="checkout",connection_type="",instance="b",server="payments"}`,
		"/api/v1/graph":    `"source": "storage+memory"`,
		"/api/v1/breakers": `"target": "payments"`,
		"/healthz":         "ok",
	} {
		resp, err := http.Get("http://" + b.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body lacks %s:\n%.2000s", path, resp.Status, want, body)
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown b: %v", err)
	}

	checkStoredGraph(ctx, t, st, base, tp)
}

// checkStoredGraph reads the graph of the two hours around base from st and
// checks that its edges are tp's, counted to the one; the graph is returned
// for further checks.
func checkStoredGraph(ctx context.Context, t *testing.T, st *storage.Store, base time.Time, tp topology) api.Graph {
	t.Helper()
	g, err := api.New(api.Options{Store: st}).Graph(ctx, base.Add(-time.Hour).Format(time.RFC3339), base.Add(time.Hour).Format(time.RFC3339), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]edgeWant{}
	for _, e := range g.Edges {
		got[fmt.Sprintf("%s>%s|%s", e.Client, e.Server, e.ConnectionType)] = edgeWant{e.Requests, e.Failed, e.MessagesSent, e.MessagesReceived, e.Retries, e.Unpaired}
	}
	want := tp.expected()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("edge %s: stored %+v, want %+v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stored edges %v", got)
	}
	return g
}
