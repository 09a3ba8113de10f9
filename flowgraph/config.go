package flowgraph

import (
	"errors"
	"os"
	"runtime"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/listener"
)

// Config is the flow analyzer's configuration (`flowlens flowgraph --config`).
type Config struct {
	// Instance labels this analyzer's metrics and rollup rows so several
	// instances do not collide; default: the host name.
	Instance string `yaml:"instance"`
	// Kafka is how to reach the brokers; an empty broker list means the
	// embedded broker of `flowlens up`.
	Kafka kafkawire.ClientConfig `yaml:"kafka"`
	// SpansTopic is read for spans (default otlp_spans); LogsTopic for
	// breaker log records (default otlp_logs; "-" disables it).
	SpansTopic string `yaml:"spans_topic"`
	LogsTopic  string `yaml:"logs_topic"`
	// GroupID is the analyzer's own consumer group (default flowlens-flowgraph).
	GroupID string `yaml:"group_id"`
	// DeadLetterTopic receives the messages whose processing panicked,
	// with the panic as reason (default flowlens_dead_letter, the
	// collector's; "-" only logs and counts them).
	DeadLetterTopic string `yaml:"dead_letter_topic"`

	Store StoreConfig `yaml:"store"`
	// Shards splits pairing over cores (default GOMAXPROCS); a partition
	// always maps to the same shard.
	Shards int `yaml:"shards"`
	// Attributes are the configurable attribute names (retry, breakers).
	Attributes extract.Names `yaml:"attributes"`
	// MaxEdges bounds the edges per shard (default 10000); further edges
	// are folded into one __overflow__ edge and counted.
	MaxEdges int `yaml:"max_edges"`
	// MaxNames bounds the interned names (services, peers, destinations;
	// default 100000); beyond it names become __overflow__, counted, until
	// the next sweep (at most a minute later) removes the names no edge or
	// waiting span refers to any more.
	MaxNames int `yaml:"max_names"`
	// MaxNameBytes cuts longer names (default 256), counted: names come
	// from whoever sends spans.
	MaxNameBytes int `yaml:"max_name_bytes"`
	// MaxBreakers bounds the circuit breakers tracked (default 10000);
	// observations of further breakers are dropped, counted.
	MaxBreakers int `yaml:"max_breakers"`
	// MaxIdle is how long an edge or a breaker stays in memory (and in
	// /metrics) without a new observation (default 1h). Its rollups stay
	// in storage; if it comes back, its counters start from 0 again.
	MaxIdle time.Duration `yaml:"max_idle"`

	Rollup RollupConfig `yaml:"rollup"`
	// HTTP serves /metrics, /api/v1 and /healthz: listen (default
	// 127.0.0.1:8428; off serves nothing), tls and auth (see
	// internal/listener).
	HTTP listener.Config `yaml:",inline"`
}

// DefaultListen is where the analyzer's API and metrics listen by default.
const DefaultListen = "127.0.0.1:8428"

// StoreConfig bounds the pairing store.
type StoreConfig struct {
	// Wait is how long a half waits for its other half (default 10s).
	Wait time.Duration `yaml:"wait"`
	// MaxItems is the total store size, split evenly between the shards and
	// the messaging store (default 500000: about 85 MB, 144 bytes per item
	// plus an 8-byte index cell per 2 items rounded up to a power of two);
	// it is allocated once at start and never grows.
	MaxItems int `yaml:"max_items"`
}

// RollupConfig controls the time-bucketed rollups.
type RollupConfig struct {
	// Bucket is the rollup resolution: whole minutes that divide an hour
	// (flow_edges stores minutes at the finest); default 1m.
	Bucket time.Duration `yaml:"bucket"`
	// FlushInterval is how often the aggregates are written (default: the
	// bucket). Flushes are aligned to multiples of it, shortly after the
	// pairing wait, so each writes about one row per edge and bucket; a
	// shorter interval gives fresher rollups and more rows to sum per query.
	// Offsets are committed after each flush, so it also bounds how much is
	// re-read (and counted again) after a crash.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxLateness and MaxFuture clamp span times to the processing time
	// (defaults 1h and 5m), so a skewed clock cannot create buckets far away.
	MaxLateness time.Duration `yaml:"max_lateness"`
	MaxFuture   time.Duration `yaml:"max_future"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Instance == "" {
		if h, err := os.Hostname(); err == nil {
			c.Instance = h
		} else {
			c.Instance = "flowgraph"
		}
	}
	c.Kafka.SetDefaults()
	if c.SpansTopic == "" {
		c.SpansTopic = kafkawire.DefaultSpansTopic
	}
	if c.LogsTopic == "" {
		c.LogsTopic = kafkawire.DefaultLogsTopic
	}
	if c.GroupID == "" {
		c.GroupID = "flowlens-flowgraph"
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = kafkawire.DefaultDeadLetterTopic
	}
	if c.Store.Wait == 0 {
		c.Store.Wait = 10 * time.Second
	}
	if c.Store.MaxItems == 0 {
		c.Store.MaxItems = 500000
	}
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	if c.MaxEdges == 0 {
		c.MaxEdges = 10000
	}
	if c.MaxNames == 0 {
		c.MaxNames = 100000
	}
	if c.MaxNameBytes == 0 {
		c.MaxNameBytes = intern.DefaultMaxNameBytes
	}
	if c.MaxBreakers == 0 {
		c.MaxBreakers = breaker.DefaultMaxBreakers
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = time.Hour
	}
	if c.Attributes == (extract.Names{}) {
		c.Attributes = extract.DefaultNames
	}
	if c.Rollup.Bucket == 0 {
		c.Rollup.Bucket = flowmodel.BucketWidth
	}
	if c.Rollup.FlushInterval == 0 {
		c.Rollup.FlushInterval = c.Rollup.Bucket
	}
	if c.Rollup.MaxLateness == 0 {
		c.Rollup.MaxLateness = time.Hour
	}
	if c.Rollup.MaxFuture == 0 {
		c.Rollup.MaxFuture = 5 * time.Minute
	}
	c.HTTP.SetDefaults(DefaultListen)
}

// Validate reports every bad field.
func (c *Config) Validate() error {
	var errs []error
	if c.Instance == "" {
		errs = append(errs, config.Errorf("instance", "must not be empty"))
	}
	errs = append(errs, config.Nest("kafka", c.Kafka.Validate()))
	if c.SpansTopic == "" {
		errs = append(errs, config.Errorf("spans_topic", "must not be empty"))
	}
	if c.GroupID == "" {
		errs = append(errs, config.Errorf("group_id", "must not be empty"))
	}
	if c.Store.Wait <= 0 {
		errs = append(errs, config.Errorf("store.wait", "must be positive"))
	}
	if c.Store.MaxItems < 1000 {
		errs = append(errs, config.Errorf("store.max_items", "must be at least 1000, got %d", c.Store.MaxItems))
	}
	if c.Shards < 1 || c.Shards > 1024 {
		errs = append(errs, config.Errorf("shards", "must be 1..1024, got %d", c.Shards))
	}
	if c.MaxEdges < 1 {
		errs = append(errs, config.Errorf("max_edges", "must be positive"))
	}
	if c.MaxNames < 16 || c.MaxNames > edges.MaxNameID {
		errs = append(errs, config.Errorf("max_names", "must be 16..%d, got %d", edges.MaxNameID, c.MaxNames))
	}
	if c.MaxNameBytes < 16 {
		errs = append(errs, config.Errorf("max_name_bytes", "must be at least 16, got %d", c.MaxNameBytes))
	}
	if c.MaxBreakers < 1 {
		errs = append(errs, config.Errorf("max_breakers", "must be positive"))
	}
	if c.MaxIdle < time.Minute {
		errs = append(errs, config.Errorf("max_idle", "must be at least 1m, got %s", c.MaxIdle))
	}
	a := c.Attributes
	for _, f := range []struct{ name, v string }{{"retry", a.Retry}, {"breaker_state", a.BreakerState}, {"breaker_name", a.BreakerName}, {"breaker_event", a.BreakerEvent}} {
		if f.v == "" {
			errs = append(errs, config.Errorf("attributes."+f.name, "must not be empty"))
		}
	}
	if a.BreakerState == a.BreakerName && a.BreakerState != "" {
		errs = append(errs, config.Errorf("attributes.breaker_name", "must differ from breaker_state"))
	}
	// flow_edges stores buckets by the minute: a finer bucket would be
	// merged into its minute without a word
	if c.Rollup.Bucket < flowmodel.BucketWidth || c.Rollup.Bucket%flowmodel.BucketWidth != 0 || time.Hour%c.Rollup.Bucket != 0 {
		errs = append(errs, config.Errorf("rollup.bucket", "%s: want whole minutes that divide an hour (1m, 2m, 5m, 10m, 15m, 30m, 1h): flow_edges keeps one row per edge and minute at the finest",
			c.Rollup.Bucket))
	}
	if c.Rollup.FlushInterval <= 0 {
		errs = append(errs, config.Errorf("rollup.flush_interval", "must be positive"))
	}
	if c.Rollup.MaxLateness <= 0 || c.Rollup.MaxFuture <= 0 {
		errs = append(errs, config.Errorf("rollup.max_lateness", "max_lateness and max_future must be positive"))
	}
	errs = append(errs, c.HTTP.Validate())
	return errors.Join(errs...)
}
