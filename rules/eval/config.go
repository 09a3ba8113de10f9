package eval

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/rules/notify"
)

// Config configures the evaluator.
type Config struct {
	// RuleFiles are the rule files (Prometheus rules and flowlens shorthands).
	RuleFiles []string `yaml:"rule_files"`
	// Interval is the default evaluation interval of a group; default 30s.
	Interval time.Duration `yaml:"interval"`
	// DataDir holds the local TSDB: the gathered flow metrics (local mode),
	// recorded series, and ALERTS / ALERTS_FOR_STATE, which carry pending
	// and firing states across restarts. Required.
	DataDir string `yaml:"data_dir"`
	// Retention of the local TSDB; default 3d (baselines look a day back).
	Retention time.Duration `yaml:"retention"`
	// GatherInterval is how often the flow analyzer's registry is copied
	// into the local TSDB; default 15s. Local mode only.
	GatherInterval time.Duration `yaml:"gather_interval"`
	// QueryURL, when set, is a Prometheus-compatible API (http://host:9090)
	// the rules query instead of the local TSDB, for when several analyzer
	// instances run. Shorthands then compile inline (no recording rules),
	// since the endpoint never sees series recorded here.
	QueryURL     string        `yaml:"query_url"`
	QueryTimeout time.Duration `yaml:"query_timeout"` // default 30s
	// ExternalURL is the base of alert generator links.
	ExternalURL    string            `yaml:"external_url"`
	ExternalLabels map[string]string `yaml:"external_labels"`
	// OutageTolerance is how long the evaluator may be down and still
	// restore pending alerts' state; default 1h.
	OutageTolerance time.Duration `yaml:"outage_tolerance"`
	// ForGracePeriod: after a restart, an alert whose `for` is at least this
	// long and had not fired yet waits at least this long; default 0 (the
	// state carries over exactly).
	ForGracePeriod time.Duration `yaml:"for_grace_period"`
	// ResendDelay between notifications of a still-firing alert; default 1m.
	ResendDelay time.Duration `yaml:"resend_delay"`
	// KnownServices, when set, validates the services rules name.
	KnownServices []string `yaml:"known_services"`
	// KnownEdges, when set, validates the edges ("client->server") rules name.
	KnownEdges []string `yaml:"known_edges"`
	// Notify configures the Alertmanager and webhook receivers.
	Notify notify.Config `yaml:"notify"`
	// HTTP serves GET /api/v1/alerts (what `flowlens alerts` and the
	// console read) and the evaluator's /metrics: listen (default
	// 127.0.0.1:9095; off serves nothing), tls and auth (see
	// internal/listener).
	HTTP listener.Config `yaml:",inline"`
}

// DefaultListen is where the alerts API listens by default, and where
// `flowlens alerts` looks.
const DefaultListen = "127.0.0.1:9095"

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Interval == 0 {
		c.Interval = 30 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 72 * time.Hour
	}
	if c.GatherInterval == 0 {
		c.GatherInterval = 15 * time.Second
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.OutageTolerance == 0 {
		c.OutageTolerance = time.Hour
	}
	if c.ResendDelay == 0 {
		c.ResendDelay = time.Minute
	}
	c.Notify.SetDefaults()
	c.HTTP.SetDefaults(DefaultListen)
}

// Validate reports every bad field.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, config.Errorf("data_dir", "required: the local TSDB keeps alert state across restarts"))
	}
	if c.Interval <= 0 {
		errs = append(errs, config.Errorf("interval", "must be positive"))
	}
	if c.GatherInterval <= 0 {
		errs = append(errs, config.Errorf("gather_interval", "must be positive"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, config.Errorf("retention", "must be at least 1h"))
	}
	if c.OutageTolerance < 0 || c.ForGracePeriod < 0 {
		errs = append(errs, config.Errorf("outage_tolerance", "durations must not be negative"))
	}
	for i, f := range c.RuleFiles {
		if f == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("rule_files[%d]", i), "empty path"))
		}
	}
	if c.QueryURL != "" {
		u, err := url.Parse(c.QueryURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Errorf("query_url", "must be an http(s) URL, got %s", config.RedactURL(c.QueryURL)))
		}
	}
	if c.ExternalURL != "" {
		if _, err := url.Parse(c.ExternalURL); err != nil {
			errs = append(errs, config.Errorf("external_url", "%v", err))
		}
	}
	errs = append(errs, config.Nest("notify", c.Notify.Validate()))
	errs = append(errs, c.HTTP.Validate())
	return errors.Join(errs...)
}
