package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
)

// The disk under the buffer fails an fsync (EIO): the OTLP request that was
// waiting for it is not answered OK, /healthz says 503 with the reason,
// and the agent stops with an error (the binary then exits 1, and systemd
// restarts it) instead of running on without a durable buffer.
func TestFsyncFailureMakesTheAgentUnhealthyAndStop(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "")
	var failing atomic.Bool
	cfg.Buffer.Fsync = func(f *os.File) error {
		if failing.Load() {
			return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	a, err := agent.New(cfg, agent.Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t)}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- component.Run(context.Background(), a, component.RunOptions{Started: func() { close(ready) }})
	}()
	<-ready

	post := func() int {
		pb, _ := newTraceRequest(0, 10).MarshalProto()
		resp, err := http.Post("http://"+a.Receiver().HTTPAddr()+"/v1/traces", "application/x-protobuf", bytes.NewReader(pb))
		if err != nil {
			return 0 // the agent is stopping
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("before the failure: %d", code)
	}
	if code, _ := healthz(a); code != http.StatusOK {
		t.Fatalf("/healthz before the failure: %d", code)
	}

	failing.Store(true)
	if code := post(); code == http.StatusOK {
		t.Error("a request was answered OK although its fsync failed")
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "fsync") {
			t.Fatalf("the agent stopped with %v, want the fsync failure", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the agent runs on with a buffer that cannot fsync")
	}
	if code, body := healthz(a); code != http.StatusServiceUnavailable || body["status"] != "buffer failed" ||
		!strings.Contains(body["buffer_error"].(string), "input/output error") {
		t.Errorf("/healthz after the failure: %d %v", code, body)
	}
}

func healthz(a *agent.Agent) (int, map[string]any) {
	rec := httptest.NewRecorder()
	agent.Healthz(a)(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}
