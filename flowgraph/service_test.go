package flowgraph

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestServiceLifecycleWithoutKafka(t *testing.T) {
	cfg := testConfig()
	cfg.Listen = "127.0.0.1:0"
	never, err := NewService(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Shutdown(context.Background()); err != nil { // without Start
		t.Fatal(err)
	}

	s, err := NewService(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	for _, td := range batches(topology{Traces: 50, DropEvery: 10}.spans(base), 1, 30, 0) {
		s.Analyzer().ConsumeTraces(0, td, base)
	}
	resp, err := http.Get("http://" + s.Addr() + "/api/v1/services/checkout/edges")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"server": "payments"`) || !strings.Contains(string(body), `"source": "memory"`) {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil { // twice
		t.Fatal(err)
	}
	// shutdown ended every wait: the dropped messages are virtual edges now
	if got := edgeMap(s.Analyzer())["checkout>orders|virtual_node"].sent; got != 5 {
		t.Fatalf("lost messages after shutdown: %d, want 5", got)
	}
}
