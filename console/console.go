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
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/storage"
)

// DefaultListen is where the console listens unless told otherwise.
const DefaultListen = "127.0.0.1:9400"

// Config of the console.
type Config struct {
	// HTTP is the console's listener: listen (default 127.0.0.1:9400; off
	// turns the console off), tls and auth (see internal/listener). With
	// auth, the browser must send the token (a proxy in front adds it):
	// keep the console on loopback or behind TLS and a token.
	HTTP listener.Config `yaml:",inline"`
	// AnalyzerURL is the flow analyzer's API (http://127.0.0.1:8428), for
	// live breaker states; optional.
	AnalyzerURL string `yaml:"analyzer_url"`
	// AlertsURL is the rules evaluator's API (http://127.0.0.1:9095), for
	// alerts and the edges they highlight; optional.
	AlertsURL string `yaml:"alerts_url"`
	// APIClient is how the console reaches those two APIs when their
	// listeners ask for TLS or a token (ca_file, cert_file, key_file,
	// token_file).
	APIClient listener.ClientConfig `yaml:"api_client"`
	// Timeout bounds each API request, its queries and API calls (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// SetDefaults fills what is not set.
func (c *Config) SetDefaults() {
	c.HTTP.SetDefaults(DefaultListen)
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Enabled says whether the console runs.
func (c Config) Enabled() bool { return c.HTTP.On() }

// Validate reports every bad setting; it has no side effects.
func (c Config) Validate() error {
	errs := []error{c.HTTP.Validate(), config.Nest("api_client", c.APIClient.Validate())}
	for _, u := range []struct{ key, val string }{{"analyzer_url", c.AnalyzerURL}, {"alerts_url", c.AlertsURL}} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, config.Errorf(u.key, "%q: want http://host:port", u.val))
		}
	}
	if c.Timeout < 0 || c.Timeout > time.Hour {
		errs = append(errs, config.Errorf("timeout", "%s: want 1s to 1h", c.Timeout))
	}
	return errors.Join(errs...)
}

// Settings are the console's dependencies.
type Settings struct {
	component.Settings
	// Store reads flowlens's tables; required.
	Store *storage.Store
	// Breakers and Alerts, when set, are the live sources in this process
	// (flowlens up's analyzer and evaluator), instead of the APIs at
	// AnalyzerURL and AlertsURL.
	Breakers query.BreakerSource
	Alerts   query.AlertSource
	// Now is the clock of relative ranges ("the last hour"); default time.Now.
	Now func() time.Time
}

// Console is the web console: New, Start, Shutdown.
type Console struct {
	cfg      Config
	set      Settings
	reader   query.Reader
	handler  http.Handler
	metrics  *metrics
	endpoint *listener.Endpoint

	mu      sync.Mutex
	srv     *listener.Server
	stopped bool
}

// New applies the config's defaults, checks it and builds the console; it
// listens only in Start. Its metrics are registered on set.Registerer and
// served on its /metrics (set.Gatherer).
func New(cfg Config, set Settings) (*Console, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("console config: %w", err)
	}
	if set.Store == nil {
		return nil, errors.New("console: no store")
	}
	set.Settings = set.Settings.WithDefaults()
	if set.Now == nil {
		set.Now = time.Now
	}
	endpoint, err := listener.Load(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("console config: %w", err)
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, set: set, metrics: m, endpoint: endpoint, reader: query.Reader{Store: set.Store}}
	client, err := cfg.APIClient.HTTPClient(cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("console config: %w", config.Nest("api_client", err))
	}
	if cfg.AnalyzerURL != "" {
		c.reader.Breakers = query.AnalyzerAPI{URL: strings.TrimRight(cfg.AnalyzerURL, "/"), Client: client}
	}
	if cfg.AlertsURL != "" {
		c.reader.Alerts = query.AlertsAPI{URL: strings.TrimRight(cfg.AlertsURL, "/"), Client: client}
	}
	if set.Breakers != nil {
		c.reader.Breakers = set.Breakers
	}
	if set.Alerts != nil {
		c.reader.Alerts = set.Alerts
	}
	c.handler = c.routes()
	return c, nil
}

// Handler serves the console (the API and the page), for tests and for
// mounting elsewhere; the listener's TLS and tokens are not in it.
func (c *Console) Handler() http.Handler { return c.handler }

// Start listens and serves in the background; it returns once the
// listener is open. An address in use is an error here.
func (c *Console) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("console: started after shutdown")
	}
	if c.srv != nil || !c.cfg.Enabled() {
		return nil
	}
	srv, err := c.endpoint.Serve(ctx, "console", &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout: c.cfg.Timeout + 10*time.Second, IdleTimeout: 2 * time.Minute}, c.set.Logger)
	if err != nil {
		return err
	}
	c.srv = srv
	c.set.Logger.Info("console listening", zap.String("url", srv.URL()))
	return nil
}

// Addr is where the console listens ("" before Start, or when off).
func (c *Console) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return ""
	}
	return c.srv.Addr()
}

// URL is the console's base URL ("" when it does not listen).
func (c *Console) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return ""
	}
	return c.srv.URL()
}

// Shutdown stops serving, waiting for requests in flight until ctx ends.
// Safe without Start and twice.
func (c *Console) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	srv := c.srv
	c.stopped = true
	c.mu.Unlock()
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
	if err := component.Register(reg, "console", m.requests); err != nil {
		return nil, err
	}
	return m, nil
}
