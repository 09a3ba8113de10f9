package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// writeConfig writes an agent config with the given body (YAML) plus the
// common parts, and loads it the way the binary does.
func loadConfig(t testing.TB, dataDir string, brokers []string, body string) agent.Config {
	t.Helper()
	y := fmt.Sprintf(`data_dir: %s
host_name: testhost
kafka:
  brokers: [%s]
  retry: {max: 200ms}
metrics:
  listen: 127.0.0.1:0
`, dataDir, strings.Join(brokers, ","))
	y += body
	if !strings.Contains(body, "otlp:") {
		y += "otlp:\n  grpc: {listen: 127.0.0.1:0}\n  http: {listen: 127.0.0.1:0}\n"
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg agent.Config
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type runningAgent struct {
	a       *agent.Agent
	stopped bool
}

func startAgent(t testing.TB, cfg agent.Config) *runningAgent {
	t.Helper()
	a, err := agent.New(cfg, agent.Settings{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		_ = a.Shutdown(context.Background())
		t.Fatalf("agent stopped at start: %v", err)
	}
	r := &runningAgent{a: a}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// traceClient is an OTLP/gRPC trace client of the agent's receiver, closed
// when the test ends.
func (r *runningAgent) traceClient(t testing.TB) ptraceotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(r.a.Receiver().GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

func (r *runningAgent) stop(t testing.TB) {
	if r.stopped {
		return
	}
	r.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.a.Shutdown(ctx); err != nil {
		t.Errorf("agent stopped with: %v", err)
	}
}

// consumed is what a topic holds, in partition order.
type consumed struct {
	mu         sync.Mutex
	next       map[int]int64
	raw        map[int][]kafka.Message // logs messages as read
	logBodies  map[int][]string        // per partition, record bodies in order
	spans      map[int][]ptrace.Span
	spanKeys   map[int][]string
	logRecords int
	spanCount  int
	keyErrors  int
}

func newConsumed() *consumed {
	return &consumed{next: map[int]int64{}, raw: map[int][]kafka.Message{}, logBodies: map[int][]string{}, spans: map[int][]ptrace.Span{}, spanKeys: map[int][]string{}}
}

// poll reads what is new in every partition of topic.
func (c *consumed) poll(t testing.TB, addr, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatalf("dial leader: %v", err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		off := c.next[p.ID]
		c.mu.Unlock()
		for off < last {
			if _, err := pc.Seek(off, kafka.SeekAbsolute); err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			batch := pc.ReadBatch(1, 64<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				c.add(t, topic, p.ID, m)
				off = m.Offset + 1
			}
			batch.Close()
		}
		c.mu.Lock()
		c.next[p.ID] = off
		c.mu.Unlock()
		pc.Close()
	}
}

func (c *consumed) add(t testing.TB, topic string, part int, m kafka.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var dec kafkawire.Decoder
	if topic == kafkawire.DefaultLogsTopic {
		c.raw[part] = append(c.raw[part], m)
		ld, err := dec.DecodeLogs(m.Value, m.Headers)
		if err != nil {
			t.Fatalf("decode logs message: %v", err)
		}
		for _, lr := range wiretest.LogRecords(ld) {
			c.logBodies[part] = append(c.logBodies[part], lr.Body().AsString())
			c.logRecords++
		}
		return
	}
	td, err := dec.DecodeTraces(m.Value, m.Headers)
	if err != nil {
		t.Fatalf("decode traces message: %v", err)
	}
	for _, sp := range wiretest.Spans(td) {
		if want := sp.TraceID().String(); string(m.Key) != want {
			c.keyErrors++
		}
		c.spans[part] = append(c.spans[part], sp)
		c.spanKeys[part] = append(c.spanKeys[part], string(m.Key))
		c.spanCount++
	}
}

// waitFor polls until cond holds or the timeout passes.
func (c *consumed) waitFor(t testing.TB, addr, topic string, timeout time.Duration, cond func(c *consumed) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.poll(t, addr, topic)
		c.mu.Lock()
		ok := cond(c)
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting on %s: %d log records, %d spans", topic, c.logRecords, c.spanCount)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantSourceStatus finds the source name in the agent's status, of kind,
// having taken at least records.
func wantSourceStatus(t testing.TB, a *agent.Agent, name, kind string, records int64) agent.SourceStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := a.Status(ctx)
	for _, src := range st.Sources {
		if src.Name == name {
			if src.Kind != kind || src.Records < records || len(src.Reading) == 0 {
				t.Errorf("status of %s: %+v, want kind %s, %d records or more, what it reads", name, src, kind, records)
			}
			return src
		}
	}
	t.Errorf("status has no source %s: %+v", name, st.Sources)
	return agent.SourceStatus{}
}
