package collector_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
)

func TestEveryProducedSpanAndLogIsStoredOnce(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	const nSpans, nLogs = 20000, 5000
	produceSpans(t, b.Addrs(), 0, nSpans/2, 500)
	produceLogs(t, b.Addrs(), 0, nLogs, 250)
	startCollector(t, collectorConfig(b.Addrs()), st)
	produceSpans(t, b.Addrs(), nSpans/2, nSpans/2, 500) // while it runs
	waitExactly(t, st, spanCounts, nSpans, time.Minute)
	waitExactly(t, st, logCounts, nLogs, time.Minute)
}

// listen may ask for any port; HTTPAddr says which one it got.
func TestHTTPAddrIsTheBoundAddress(t *testing.T) {
	b := startBroker(t, 1)
	st := openStore(t, "", "")
	cfg := collectorConfig(b.Addrs())
	cfg.HTTP.Listen = "127.0.0.1:0"
	c := startCollector(t, cfg, st)
	addr := c.HTTPAddr()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics on %q: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "flowlens_collector_assigned_partitions") {
		t.Fatalf("metrics on %s: %d\n%s", addr, resp.StatusCode, body)
	}
}

// A second collector on a registry that holds the first one's metrics is
// an error from New (it used to panic); collectors on registries of their
// own run side by side.
func TestSecondCollectorOnOneRegistry(t *testing.T) {
	cfg := collectorConfig([]string{"127.0.0.1:9"})
	reg := prometheus.NewRegistry()
	set := collector.Settings{Settings: component.Settings{Registerer: reg}, Store: discardStore{}}
	if _, err := collector.New(cfg, set); err != nil {
		t.Fatal(err)
	}
	_, err := collector.New(cfg, set)
	if err == nil || !strings.Contains(err.Error(), "register collector metrics") {
		t.Fatalf("second collector on the same registry: %v", err)
	}
	set.Registerer = prometheus.NewRegistry()
	if _, err := collector.New(cfg, set); err != nil {
		t.Fatalf("a collector on a registry of its own: %v", err)
	}
}

// Every mistake of a config is named at once, and a key of an earlier
// version names what replaced it.
func TestConfigErrors(t *testing.T) {
	cfg := collectorConfig(nil)
	cfg.Encoding, cfg.Batch.MaxRows, cfg.HTTP.Listen = "avro", -1, "nowhere"
	_, err := collector.New(cfg, collector.Settings{Store: discardStore{}})
	for _, want := range []string{"encoding", "batch.max_rows", "listen"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(path, []byte("http_addr: 127.0.0.1:9465\nbatch: {max_bytes: 32MiB}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var loaded collector.Config
	if err := config.Load(path, &loaded); err == nil || !strings.Contains(err.Error(), "http_addr: unknown key (line 1); it is listen now") {
		t.Errorf("old key: %v", err)
	}
}

// /metrics and /healthz take the listener's TLS (mutual here) and bearer
// token like every flowlens listener.
func TestMetricsListenerTLSAndToken(t *testing.T) {
	b := startBroker(t, 1)
	pki := listenertest.NewPKI(t)
	cfg := collectorConfig(b.Addrs())
	cfg.HTTP = listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(true), Auth: listener.AuthConfig{TokenFile: listenertest.TokenFile(t, "s3cret")}}
	c := startCollector(t, cfg, discardStore{})
	for _, path := range []string{"/metrics", "/healthz"} {
		url := "https://" + c.HTTPAddr() + path
		listenertest.CheckBearer(t, pki.Client(listenertest.WithCert), url, "s3cret", http.StatusOK)
		pki.CheckMutualTLS(t, url, "s3cret", http.StatusOK)
	}
}

// The component contract: Shutdown is safe without Start and twice.
func TestShutdownWithoutStart(t *testing.T) {
	c, err := collector.New(collectorConfig([]string{"127.0.0.1:9"}), collector.Settings{Store: discardStore{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown (%d): %v", i, err)
		}
	}
}
