package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/component/componenttest"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// The whole path of the ledger: real agents (OTLP over HTTP, disk buffer,
// forwarder), the embedded broker, the collector and the embedded engine.

// A clean run: every record two agents accepted is stored, and the ledger
// says so for each host and kind, with nothing missing and nothing extra.
func TestCleanRunShowsNothingMissing(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	st := openStore(t)
	startCollector(t, b.Addrs(), st, prometheus.NewRegistry(), 0)
	hosts := map[string]*runningAgent{"host-a": startAgent(t, "host-a", b.Addrs()), "host-b": startAgent(t, "host-b", b.Addrs())}
	for _, a := range hosts {
		a.sendTraces(t, 12, 4)
		a.sendLogs(t, 5, 10)
	}
	for _, a := range hosts {
		a.stop(t) // its buffer sent, its last counts reported
	}
	rep := waitSettled(t, st, map[string]uint64{"host-a": 48 + 50, "host-b": 48 + 50})
	for _, h := range rep.Hosts {
		c := h.Closed
		if c.Accepted != 98 || c.Acked != 98 || c.Stored != 98 || c.Missing != 0 || c.Extra != 0 || c.LostBeforeKafka != 0 || c.LostAfterKafka != 0 {
			t.Errorf("%s: %+v; want 98 accepted, acknowledged and stored, nothing missing or extra", h.Name, c)
		}
		for _, iv := range h.Intervals {
			if !iv.Reported || iv.Missing != 0 || iv.Extra != 0 {
				t.Errorf("%s %s %s: %+v", h.Name, iv.Start.Format(time.TimeOnly), iv.Kind, iv)
			}
		}
	}
}

// Messages deleted from Kafka before the collector read them (DeleteRecords
// through the broker's admin API) show as missing on the host that sent
// them, to the record, after Kafka; the other host is whole. The
// collector's metric says the same.
func TestRecordsDeletedInKafkaAreMissingOnTheirHost(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	st := openStore(t)
	// host-a's span messages are offsets 0-9 of the spans topic's one
	// partition, one trace of 3 spans each; host-b's follow
	a := startAgent(t, "host-a", b.Addrs())
	a.sendTraces(t, 10, 3)
	a.sendLogs(t, 2, 5)
	a.stop(t)
	bb := startAgent(t, "host-b", b.Addrs())
	bb.sendTraces(t, 10, 3)
	bb.stop(t)
	kafkatest.DeleteRecords(t, b.Addrs(), kafkawire.DefaultSpansTopic, 0, 4) // 4 messages of host-a: 12 spans

	reg := prometheus.NewRegistry()
	startCollector(t, b.Addrs(), st, reg, 100*time.Millisecond)
	rep := waitSettled(t, st, map[string]uint64{"host-a": 18 + 10, "host-b": 30})
	want := map[string]ledger.Counts{
		"host-a": {Accepted: 40, Acked: 40, Stored: 28, Missing: 12, LostAfterKafka: 12},
		"host-b": {Accepted: 30, Acked: 30, Stored: 30},
	}
	for _, h := range rep.Hosts {
		if h.Closed != want[h.Name] {
			t.Errorf("%s: %+v\nwant %+v", h.Name, h.Closed, want[h.Name])
		}
		var spansMissing uint64
		for _, iv := range h.Intervals {
			if iv.Kind == kafkawire.LedgerSpans {
				spansMissing += iv.Missing
			} else if iv.Missing != 0 {
				t.Errorf("%s: logs missing in %+v", h.Name, iv)
			}
		}
		if spansMissing != want[h.Name].Missing {
			t.Errorf("%s: %d spans missing, want %d", h.Name, spansMissing, want[h.Name].Missing)
		}
	}
	polltest.Until(t, "flowlens_ledger_missing_records to show host-a's 12 spans", time.Minute, func() bool {
		return gauge(reg, "host-a") == 12 && gauge(reg, "host-b") == 0
	})
}

// An agent whose buffer is lost with records Kafka never took (the disk
// died, the data folder was wiped): its reports reached the ledger, so the
// records show as missing before Kafka.
func TestLostAgentBufferShowsAsMissingBeforeKafka(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	st := openStore(t)
	startCollector(t, b.Addrs(), st, prometheus.NewRegistry(), 0)
	refuseProduce(b, kafkawire.DefaultSpansTopic) // the agent keeps its spans in its buffer
	a := startAgent(t, "host-c", b.Addrs())
	a.sendTraces(t, 5, 4)
	polltest.Until(t, "host-c's report of 20 accepted spans stored", time.Minute, func() bool {
		rep := readLedger(t, st)
		return len(rep.Hosts) == 1 && rep.Hosts[0].Closed.Accepted == 20
	})
	a.stop(t) // Kafka still refuses: the spans stay in the buffer...
	if err := os.RemoveAll(a.dataDir); err != nil {
		t.Fatal(err) // ...which is lost
	}
	rep := readLedger(t, st)
	want := ledger.Counts{Accepted: 20, Missing: 20, LostBeforeKafka: 20}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Name != "host-c" || rep.Hosts[0].Closed != want {
		t.Fatalf("ledger %+v\nwant host-c %+v", rep.Hosts, want)
	}
}

// A collector that stores batches and their counts and dies before it
// commits, and a successor that cuts its batches differently: the batches
// are stored again under the same tokens, and the ledger stays exact, no
// record counted twice.
func TestRedeliveredBatchesCountOnce(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	st := openStore(t)
	a := startAgent(t, "host-a", b.Addrs())
	a.sendTraces(t, 40, 5)
	a.sendLogs(t, 10, 7)
	a.stop(t)

	dying := &countsThenDies{Store: st, died: make(chan struct{})}
	c1 := newCollector(t, b.Addrs(), dying, prometheus.NewRegistry(), 0, 30)
	select {
	case <-dying.died:
	case <-time.After(time.Minute):
		t.Fatal("the first collector never stored a batch's counts")
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c1.Shutdown(canceled) // no flush, no commit
	t.Logf("the first collector stored a batch's counts %d times before dying", dying.calls())

	newCollector(t, b.Addrs(), st, prometheus.NewRegistry(), 0, 77)
	rep := waitSettled(t, st, map[string]uint64{"host-a": 200 + 70})
	want := ledger.Counts{Accepted: 270, Acked: 270, Stored: 270}
	if rep.Hosts[0].Closed != want {
		t.Fatalf("host-a: %+v\nwant %+v", rep.Hosts[0].Closed, want)
	}
}

// countsThenDies stores every batch's counts and answers with a connection
// reset, as if the collector had died after the engine stored them and
// before it could commit; the collector retries (same token) until it is
// stopped.
type countsThenDies struct {
	*storage.Store
	mu   sync.Mutex
	n    int
	once sync.Once
	died chan struct{}
}

func (s *countsThenDies) InsertLedgerCounts(ctx context.Context, rows []storage.LedgerCount, token string) error {
	if err := s.Store.InsertLedgerCounts(ctx, rows, token); err != nil {
		return err
	}
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	s.once.Do(func() { close(s.died) })
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func (s *countsThenDies) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// refuseProduce makes the broker refuse every produce to topic with a
// retriable error, as a cluster without enough replicas does.
func refuseProduce(b *kafkabroker.Broker, topic string) {
	b.Cluster().ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		req := r.(*kmsg.ProduceRequest)
		refuse := false
		for _, t := range req.Topics {
			refuse = refuse || t.Topic == topic
		}
		if !refuse {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.NotEnoughReplicas.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// openStore migrates a database of its own and opens it as the collector
// does, with the writer role (which also reads the ledger back).
func openStore(t *testing.T) *storage.Store {
	t.Helper()
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	admin, err := storeload.OpenMigrated(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()
	cfg.Username, cfg.Password = chtest.Login(t, chserver.RoleWriter)
	cfg.SetDefaults()
	st, err := storage.Open(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startCollector(t *testing.T, brokers []string, st collector.RowStore, reg *prometheus.Registry, checkEvery time.Duration) {
	newCollector(t, brokers, st, reg, checkEvery, 0)
}

func newCollector(t *testing.T, brokers []string, st collector.RowStore, reg *prometheus.Registry, checkEvery time.Duration, maxRows int) *collector.Collector {
	t.Helper()
	cfg := collector.Config{HTTP: listener.Config{Listen: listener.Off}, SessionTimeout: 6 * time.Second, RebalanceFlushTimeout: 3 * time.Second}
	cfg.Kafka.Brokers = brokers
	cfg.Batch.MaxAge = 200 * time.Millisecond
	cfg.Batch.MaxRows = maxRows
	cfg.Retry.Max = 500 * time.Millisecond
	cfg.Ledger.CheckEvery = checkEvery
	cfg.Ledger.Grace = time.Millisecond // the test's intervals close as soon as they end
	c, err := collector.New(cfg, collector.Settings{Settings: component.Settings{Logger: quietLogger(t), Registerer: reg}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	componenttest.Start(t, c)
	return c
}

type runningAgent struct {
	a       *agent.Agent
	dataDir string
	stopped bool
}

// startAgent runs an agent for host with one-second ledger intervals,
// reported every 100ms.
func startAgent(t *testing.T, host string, brokers []string) *runningAgent {
	t.Helper()
	dir := t.TempDir()
	y := fmt.Sprintf(`data_dir: %s
host_name: %s
kafka:
  brokers: [%s]
  retry: {max: 200ms}
metrics: {listen: off}
otlp:
  grpc: {listen: off}
  http: {listen: 127.0.0.1:0}
ledger: {interval: 1s, report_every: 100ms}
`, filepath.Join(dir, "agent"), host, strings.Join(brokers, ","))
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg agent.Config
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Settings{Settings: component.Settings{Logger: quietLogger(t)}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		_ = a.Shutdown(context.Background())
		t.Fatal(err)
	}
	r := &runningAgent{a: a, dataDir: cfg.DataDir}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningAgent) stop(t *testing.T) {
	if r.stopped {
		return
	}
	r.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = r.a.Shutdown(ctx) // a buffer Kafka would not take is not an error here
}

// sendTraces sends n requests of one trace of spans spans each: one Kafka
// message per request.
func (r *runningAgent) sendTraces(t *testing.T, n, spans int) {
	t.Helper()
	for i := range n {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		ss := rs.ScopeSpans().AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:], fmt.Sprintf("%-16d", i+1))
		now := time.Now()
		for j := range spans {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{byte(j + 1), 1})
			sp.SetName("GET /cart")
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		r.post(t, "/v1/traces", body)
	}
}

// sendLogs sends n requests of records log records each.
func (r *runningAgent) sendLogs(t *testing.T, n, records int) {
	t.Helper()
	for range n {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "checkout")
		sl := rl.ScopeLogs().AppendEmpty()
		for j := range records {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.Body().SetStr(fmt.Sprintf("line %d", j))
		}
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		r.post(t, "/v1/logs", body)
	}
}

func (r *runningAgent) post(t *testing.T, path string, body []byte) {
	t.Helper()
	resp, err := http.Post("http://"+r.a.Receiver().HTTPAddr()+path, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, resp.Status)
	}
}

// readLedger reads the last hour's ledger judged an hour from now: every
// interval closed.
func readLedger(t *testing.T, st *storage.Store) ledger.Report {
	t.Helper()
	now := time.Now()
	rep, err := ledger.Read(context.Background(), st, now.Add(-time.Hour), now.Add(time.Minute), now.Add(time.Hour), "", ledger.DefaultGrace)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitSettled waits until each host's stored and dead-lettered records
// reach stored, and its reports have stopped changing what it accepted.
func waitSettled(t *testing.T, st *storage.Store, stored map[string]uint64) ledger.Report {
	t.Helper()
	var rep ledger.Report
	polltest.Until(t, fmt.Sprintf("the ledger to show %v stored", stored), 2*time.Minute, func() bool {
		rep = readLedger(t, st)
		if len(rep.Hosts) != len(stored) {
			return false
		}
		for _, h := range rep.Hosts {
			if h.Closed.Stored+h.Closed.DeadLettered != stored[h.Name] || h.Closed.Accepted == 0 || h.Closed.Acked != h.Closed.Accepted {
				return false
			}
		}
		return true
	})
	return rep
}

func gauge(reg *prometheus.Registry, host string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != "flowlens_ledger_missing_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "host" && l.GetValue() == host {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func quietLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}
