package flowgraph

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
)

func TestServiceLifecycleWithoutKafka(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	never, err := New(cfg, Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Shutdown(context.Background()); err != nil { // without Start
		t.Fatal(err)
	}

	s, err := New(cfg, Settings{Settings: component.Settings{Logger: zaptest.NewLogger(t)}})
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

// New checks the config as `flowlens flowgraph --config` does: under
// flowlens up a wrong rollup bucket was silently taken.
func TestNewValidates(t *testing.T) {
	cfg := testConfig()
	cfg.Rollup.Bucket = 10 * time.Second
	cfg.HTTP.Listen = "nowhere"
	_, err := New(cfg, Settings{})
	for _, want := range []string{"rollup.bucket", "listen"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// The API and /metrics take the listener's TLS and bearer tokens, like
// every flowlens listener.
func TestListenerTLSAndToken(t *testing.T) {
	pki := listenertest.NewPKI(t)
	cfg := testConfig()
	cfg.HTTP = listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(true), Auth: listener.AuthConfig{Token: "s3cret"}}
	s, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, path := range []string{"/api/v1/graph", "/metrics", "/healthz"} {
		listenertest.CheckBearer(t, pki.Client(listenertest.WithCert), s.URL()+path, "s3cret", http.StatusOK)
		pki.CheckMutualTLS(t, s.URL()+path, "s3cret", http.StatusOK)
	}
}
