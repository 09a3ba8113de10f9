// Package console is flowlens's web console: the flow map, services,
// edges, traces, logs and alerts in a browser. It serves a read-only JSON
// API over package query (the same answers as the Grafana plugin and the
// CLI) and the TypeScript bundle embedded in the binary. `flowlens up`
// starts it on 127.0.0.1; `flowlens console` serves it alone, pointed at a
// ClickHouse, a flow analyzer and an alerts API.
package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// DefaultListen is where the console listens unless told otherwise.
const DefaultListen = "127.0.0.1:9400"

// Config of the console.
type Config struct {
	// Listen is the console's address (default 127.0.0.1:9400; "off"
	// turns the console off). It serves whoever reaches it: keep it on
	// loopback until the shared TLS and bearer settings land (Settings.Listen,
	// Settings.Authenticate).
	Listen string `yaml:"listen"`
	// AnalyzerURL is the flow analyzer's API (http://127.0.0.1:8428), for
	// live breaker states; optional.
	AnalyzerURL string `yaml:"analyzer_url"`
	// AlertsURL is the rules evaluator's API (http://127.0.0.1:9095), for
	// alerts and the edges they highlight; optional.
	AlertsURL string `yaml:"alerts_url"`
	// Timeout bounds each API request, its queries and API calls (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Off is Listen's value that turns the console off.
const Off = "off"

// SetDefaults fills what is not set.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Enabled says whether the console runs.
func (c Config) Enabled() bool { return c.Listen != Off }

// Validate checks the settings; it has no side effects.
func (c Config) Validate() error {
	if c.Listen != Off {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return config.Errorf("listen", "%q: want host:port or off", c.Listen)
		}
	}
	for _, u := range []struct{ key, val string }{{"analyzer_url", c.AnalyzerURL}, {"alerts_url", c.AlertsURL}} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return config.Errorf(u.key, "%q: want http://host:port", u.val)
		}
	}
	if c.Timeout < 0 || c.Timeout > time.Hour {
		return config.Errorf("timeout", "%s: want 1s to 1h", c.Timeout)
	}
	return nil
}

// Settings are the console's dependencies.
type Settings struct {
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	// Store reads flowlens's tables; required.
	Store *storage.Store
	// Listen opens the listener (default: plain TCP). The shared TLS
	// settings plug in here: a listener that terminates TLS.
	Listen func(ctx context.Context, addr string) (net.Listener, error)
	// Authenticate wraps every route (default: none). The shared bearer
	// settings plug in here: a handler that refuses a request without the
	// token, before any query runs.
	Authenticate func(http.Handler) http.Handler
	// Now is the clock of relative ranges ("the last hour"); default time.Now.
	Now func() time.Time
}

// Console is the web console: New, Start, Shutdown.
type Console struct {
	cfg     Config
	set     Settings
	reader  query.Reader
	handler http.Handler
	metrics *metrics

	mu      sync.Mutex
	srv     *http.Server
	addr    string
	stopped bool
}

// New checks the config and builds the console; it listens only in Start.
func New(cfg Config, set Settings) (*Console, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("console config: %w", err)
	}
	if set.Store == nil {
		return nil, errors.New("console: no store")
	}
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if set.Registerer == nil {
		set.Registerer = prometheus.NewRegistry()
	}
	if set.Listen == nil {
		set.Listen = func(ctx context.Context, addr string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", addr)
		}
	}
	if set.Authenticate == nil {
		set.Authenticate = func(h http.Handler) http.Handler { return h }
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, set: set, metrics: m, reader: query.Reader{Store: set.Store}}
	client := &http.Client{Timeout: cfg.Timeout}
	if cfg.AnalyzerURL != "" {
		c.reader.Breakers = query.AnalyzerAPI{URL: strings.TrimRight(cfg.AnalyzerURL, "/"), Client: client}
	}
	if cfg.AlertsURL != "" {
		c.reader.Alerts = query.AlertsAPI{URL: strings.TrimRight(cfg.AlertsURL, "/"), Client: client}
	}
	c.handler = set.Authenticate(c.routes())
	return c, nil
}

// Handler serves the console (the API and the page), for tests and for
// mounting elsewhere.
func (c *Console) Handler() http.Handler { return c.handler }

// Start listens on Listen and serves in the background; it returns once
// the listener is open. An address in use is an error here.
func (c *Console) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("console: started after shutdown")
	}
	if c.srv != nil || !c.cfg.Enabled() {
		return nil
	}
	ln, err := c.set.Listen(ctx, c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for the console on %s: %w", c.cfg.Listen, err)
	}
	c.addr = ln.Addr().String()
	c.srv = &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout: c.cfg.Timeout + 10*time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: zap.NewStdLog(c.set.Logger)}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.set.Logger.Error("console stopped serving", zap.Error(err))
		}
	}(c.srv)
	c.set.Logger.Info("console listening", zap.String("url", "http://"+c.addr))
	return nil
}

// Addr is where the console listens ("" before Start, or when off).
func (c *Console) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// URL is the console's base URL ("" when it does not listen).
func (c *Console) URL() string {
	if a := c.Addr(); a != "" {
		return "http://" + a
	}
	return ""
}

// Shutdown stops serving, waiting for requests in flight until ctx ends.
// Safe without Start and twice.
func (c *Console) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	srv := c.srv
	c.srv, c.stopped = nil, true
	c.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop the console: %w", err)
	}
	return nil
}

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_console_requests_total",
		Help: "Requests to the console's API by route and status class."}, []string{"route", "status"})}
	if err := reg.Register(m.requests); err != nil {
		return nil, fmt.Errorf("register console metrics: %w", err)
	}
	return m, nil
}
