package collector_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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

// http_addr may ask for any port; HTTPAddr says which one it got.
func TestHTTPAddrIsTheBoundAddress(t *testing.T) {
	b := startBroker(t, 1)
	st := openStore(t, "", "")
	cfg := collectorConfig(b.Addrs())
	cfg.HTTPAddr = "127.0.0.1:0"
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
