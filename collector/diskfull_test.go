package collector_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/polltest"
)

// diskFullEngine stands in front of the engine's HTTP endpoint. While full
// is set it answers every insert as ClickHouse does when a disk has no room
// for the part (code 243, NOT_ENOUGH_SPACE, HTTP 507); everything else
// reaches the engine.
type diskFullEngine struct {
	addr    string
	full    atomic.Bool
	refused atomic.Int64
}

func newDiskFullEngine(t *testing.T, target string) *diskFullEngine {
	e := &diskFullEngine{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.full.Load() && strings.HasPrefix(strings.ToUpper(r.URL.Query().Get("query")), "INSERT") {
			_, _ = io.Copy(io.Discard, r.Body)
			e.refused.Add(1)
			w.Header().Set("X-ClickHouse-Exception-Code", "243")
			w.WriteHeader(http.StatusInsufficientStorage)
			_, _ = io.WriteString(w, "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)\n")
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.addr = strings.TrimPrefix(srv.URL, "http://")
	return e
}

// The engine's disk fills up while spans flow: inserts are retried with
// backoff, the collector says so (metric, /healthz), nothing is
// dead-lettered or committed; once space is freed every span is stored,
// exactly once.
func TestDiskFullIsRetriedNotDeadLettered(t *testing.T) {
	b := startBroker(t, 1)
	engine := newDiskFullEngine(t, chAddr(t))
	st := openStore(t, engine.addr, "")
	engine.full.Store(true)
	const n = 2000
	produceSpans(t, b.Addrs(), 0, n, 100)

	reg := prometheus.NewRegistry()
	c := startCollectorWithRegistry(t, collectorConfig(b.Addrs()), st, reg)
	polltest.Until(t, "three refused inserts", time.Minute, func() bool { return engine.refused.Load() >= 3 })

	if got := gauge(reg, "flowlens_collector_storage_disk_full"); got != 1 {
		t.Errorf("storage_disk_full = %v while the disk is full, want 1", got)
	}
	if code, body := healthz(t, c); code != http.StatusOK || body["storage_disk_full"] != true || body["status"] != "degraded" {
		t.Errorf("/healthz while the disk is full: %d %v", code, body)
	}
	if n := gauge(reg, "flowlens_collector_messages_dead_lettered_total"); n != 0 {
		t.Fatalf("%v messages dead-lettered for a full disk", n)
	}

	engine.full.Store(false)
	waitExactly(t, st, spanCounts, n, time.Minute)
	if n := gauge(reg, "flowlens_collector_messages_dead_lettered_total"); n != 0 {
		t.Errorf("%v messages dead-lettered for a full disk", n)
	}
	polltest.Until(t, "storage_disk_full back to 0", 10*time.Second, func() bool {
		return gauge(reg, "flowlens_collector_storage_disk_full") == 0
	})
}
