package collector_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/polltest"
)

// proxy forwards TCP connections to target; Stop closes the listener and
// every connection (the engine "goes away"), Start listens again on the same
// address.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

func (p *proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) Start(t testing.TB) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func healthz(t testing.TB, c *collector.Collector) (int, map[string]any) {
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestStorageUnavailableFor30sLosesNothingAndResumesAlone(t *testing.T) {
	b := startBroker(t, 3)
	direct := openStore(t, "", "") // creates the database and schema
	px := newProxy(t, chAddr(t))
	st := openStore(t, px.addr, direct.Database())

	reg := prometheus.NewRegistry()
	cfg := collectorConfig(b.Addrs())
	c := startCollectorWithRegistry(t, cfg, st, reg)

	const n = 40000
	produced := make(chan struct{})
	go func() { // a steady stream across the outage: ~40 s
		defer close(produced)
		for i := 0; i < n; i += 1000 {
			produceSpans(t, b.Addrs(), i, 1000, 500)
			time.Sleep(time.Second)
		}
	}()
	polltest.Until(t, "first rows", time.Minute, func() bool { return spanCounts(t, direct).rows > 0 })
	px.Stop()
	t.Log("storage down")
	time.Sleep(30 * time.Second)
	code, body := healthz(t, c)
	if code != 200 || body["status"] != "degraded" {
		t.Errorf("healthz during the outage: %d %v", code, body)
	}
	during := spanCounts(t, direct)
	px.Start(t)
	t.Logf("storage back; %v stored before/during the outage", during)
	<-produced
	waitExactly(t, direct, spanCounts, n, 2*time.Minute)
	if r := testutil.ToFloat64(mustCounter(t, reg, "flowlens_collector_retries_total", "insert")); r == 0 {
		t.Error("no insert retries counted")
	}
	if code, body := healthz(t, c); code != 200 || body["status"] != "ok" {
		t.Errorf("healthz after the outage: %d %v", code, body)
	}
}

// mustCounter finds one counter child by its label value.
func mustCounter(t testing.TB, g prometheus.Gatherer, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return 0 })
}
