package allinone

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/storage"
)

// postSpan sends one span to the agent's OTLP HTTP receiver and returns
// its trace ID and the answer's status (0: no answer).
func postSpan(t *testing.T, addr string, id byte) (string, int) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	tid := pcommon.TraceID{0xfe, 0xed, id}
	s.SetTraceID(tid)
	s.SetSpanID(pcommon.SpanID{1, id})
	s.SetName("pay")
	now := time.Now()
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	pb, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	resp, err := http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(pb))
	if err != nil {
		return hex.EncodeToString(tid[:]), 0
	}
	resp.Body.Close()
	return hex.EncodeToString(tid[:]), resp.StatusCode
}

// With broker.sasl set, the broker admits only its user, and `flowlens up`
// gives that user to the collector, the analyzer and the agent: a span
// still goes from the agent to storage.
func TestPipelineWithSCRAMBroker(t *testing.T) {
	cfg := testConfig(t, "allinone_scram")
	cfg.Broker.SASL = kafkawire.SASLConfig{Mechanism: kafkawire.SASLScramSHA512, Username: "flowlens", Password: "s3cret"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t, ctx, cfg, Settings{})
	trace, code := postSpan(t, p.Addrs().AgentOTLP.HTTP, 1)
	if code != http.StatusOK {
		t.Fatalf("the agent answered %d", code)
	}
	for {
		tr, err := p.Store().GetTrace(ctx, trace)
		if err == nil && len(tr.Spans) == 1 {
			return
		}
		if !errors.Is(err, storage.ErrTraceNotFound) && err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the span never reached storage through the SCRAM broker")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// When the local agent's disk buffer cannot fsync, the agent stops, and
// the pipeline says so on Failed: `flowlens up` then exits non-zero.
func TestAgentBufferFailureFailsThePipeline(t *testing.T) {
	cfg := testConfig(t, "allinone_fsync")
	var failing atomic.Bool
	cfg.Agent.Buffer.Fsync = func(f *os.File) error {
		if failing.Load() {
			return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := New(cfg, Settings{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx) // fails: the buffer cannot fsync
	failing.Store(true)
	if _, code := postSpan(t, p.Addrs().AgentOTLP.HTTP, 2); code == http.StatusOK {
		t.Error("the agent answered OK for a span it could not fsync")
	}
	select {
	case err := <-p.Failed():
		if !strings.Contains(err.Error(), "fsync") {
			t.Errorf("failed with %v, want the fsync error", err)
		}
	case <-ctx.Done():
		t.Fatal("the pipeline runs on without its agent")
	}
}
