package collector

import (
	"errors"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/listener"
)

// Config of the collector. Defaults are documented on each field.
type Config struct {
	// Kafka says how to reach the brokers. With no brokers, `flowlens
	// collector` starts the embedded broker and fills them in.
	Kafka kafkawire.ClientConfig `yaml:"kafka"`
	// Topics to consume (spans, logs) and to dead-letter into.
	Topics kafkawire.TopicsConfig `yaml:"topics"`
	// GroupID is the Kafka consumer group; collectors sharing it share the
	// partitions. Default "flowlens-collector".
	GroupID string `yaml:"group_id"`
	// Encoding expected on the topics: auto (default: otlp_proto, or
	// otlp_json when the value is a JSON object), otlp_proto or otlp_json.
	Encoding string `yaml:"encoding"`
	// Batch says when a partition's batch is stored.
	Batch BatchConfig `yaml:"batch"`
	// MaxBufferedBytes bounds the memory of unsaved batches over all
	// partitions, estimated as 4x their message bytes (the value, kept for
	// the per-message fallback, the rows' copy of its strings, and GC
	// headroom: with storage down, peak RSS was 1.6x a 3x estimate).
	// Default 512 MiB. When reached, partitions store what they have and
	// then wait: with storage down, fetching stops here.
	MaxBufferedBytes bytesize.Size `yaml:"max_buffered_bytes"`
	// MemoryLimit is the soft memory limit (GOMEMLIMIT) `flowlens collector`
	// runs under, with the GC's proportional trigger (GOGC) off: the GC runs
	// when the heap reaches the limit, so its work is in proportion to the
	// room the limit leaves above the live heap. Default (0) 2x
	// max_buffered_bytes + 256MiB: batches at their budget leave the GC as
	// much room again. A limit just above the budget, as before, made the
	// GC run constantly once batches filled it (about half the collector's
	// CPU). GOMEMLIMIT and GOGC in the environment win; flowlens up, which
	// runs the collector beside other parts, leaves the runtime alone.
	MemoryLimit bytesize.Size `yaml:"memory_limit"`
	// InsertConcurrency is how many inserts run at once (default 2).
	InsertConcurrency int `yaml:"insert_concurrency"`
	// Retry is the backoff when storage or Kafka fail (retried until they
	// come back; nothing is committed meanwhile): initial 100ms, max 5s.
	Retry config.Backoff `yaml:"retry"`
	// FetchMaxBytes is the size of one fetch per partition (default 1 MiB;
	// a bigger first message is still returned whole). Larger fetches made
	// the embedded broker spend its time growing response buffers.
	FetchMaxBytes bytesize.Size `yaml:"fetch_max_bytes"`
	// FetchMaxWait is how long the broker may hold a fetch open while a
	// partition has nothing new (default 5s). kafka-go also uses it as the
	// fetch's socket deadline: a short one starves the reader when the
	// broker is slow (seen under load: endless i/o timeouts at one offset).
	// Batch timing does not depend on it, nor does Shutdown wait for it.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// RebalanceFlushTimeout bounds storing the open batches when partitions
	// are taken away (default 10s; keep it under the group's rebalance
	// timeout of 30s). What is not stored in time is redone, exactly, by
	// the next owner.
	RebalanceFlushTimeout time.Duration `yaml:"rebalance_flush_timeout"`
	// SessionTimeout: a collector silent this long (crashed, or stuck) loses
	// its partitions to the others (default 20s; the broker bounds it).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HTTP serves /metrics and /healthz: listen (default 127.0.0.1:9465;
	// off when the caller mounts Handler itself), tls and auth (see
	// internal/listener).
	HTTP listener.Config `yaml:",inline"`
	// Ledger is the collector's side of the loss ledger.
	Ledger LedgerConfig `yaml:"ledger"`
}

// MemoryLimitOrDefault is MemoryLimit, or its default from
// MaxBufferedBytes when unset.
func (c *Config) MemoryLimitOrDefault() bytesize.Size {
	if c.MemoryLimit > 0 {
		return c.MemoryLimit
	}
	return 2*c.MaxBufferedBytes + heapBase
}

// heapBase is the collector's heap beyond its batches: Kafka readers'
// queues and fetch buffers, insert buffers, metrics.
const heapBase = 256 << 20

// LedgerConfig: the collector stores the agents' reports (topics.ledger)
// and counts what it stored and dead-lettered per host and interval, in
// the tables flowlens_ledger_reports and flowlens_ledger_stored; and it
// reconciles the two every check_every into flowlens_ledger_missing_records.
type LedgerConfig struct {
	// Enabled (default true).
	Enabled *bool `yaml:"enabled"`
	// CheckEvery is how often the ledger is reconciled for the metrics
	// (default 1m: one small query; every collector of a group runs it).
	CheckEvery time.Duration `yaml:"check_every"`
	// Grace is how long after its end an interval is left open (default 2m).
	Grace time.Duration `yaml:"grace"`
	// Window is how far back the metrics look (default 1h).
	Window time.Duration `yaml:"window"`
}

// On reports whether the ledger is on.
func (c *LedgerConfig) On() bool { return c.Enabled == nil || *c.Enabled }

// DefaultListen is where /metrics and /healthz are served by default.
const DefaultListen = "127.0.0.1:9465"

// RenamedKeys names what replaced the keys of earlier versions.
func (Config) RenamedKeys() map[string]string { return map[string]string{"http_addr": "listen"} }

// BatchConfig decides when a partition's batch is stored: whichever limit
// is reached first.
type BatchConfig struct {
	// MaxRows per insert (default 100000 spans or log records). The
	// engine's CPU per row falls steeply with the insert's size (measured:
	// 20k-row inserts cost 2.6x the CPU of 100k-row ones), so large is
	// cheap; MaxAge keeps them fresh at low rates.
	MaxRows int `yaml:"max_rows"`
	// MaxBytes of Kafka message values per batch (default 64 MiB).
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	// MaxAge of the oldest message of a batch (default 1s).
	MaxAge time.Duration `yaml:"max_age"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	c.Kafka.SetDefaults()
	if c.Kafka.ClientID == "flowlens" {
		c.Kafka.ClientID = "flowlens-collector"
	}
	c.Topics.SetDefaults()
	if c.GroupID == "" {
		c.GroupID = "flowlens-collector"
	}
	if c.Encoding == "" {
		c.Encoding = string(kafkawire.EncodingAuto)
	}
	if c.Batch.MaxRows == 0 {
		c.Batch.MaxRows = 100000
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = 64 << 20
	}
	if c.Batch.MaxAge == 0 {
		c.Batch.MaxAge = time.Second
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = 512 << 20
	}
	if c.InsertConcurrency == 0 {
		c.InsertConcurrency = 2
	}
	c.Retry.SetDefaults(100*time.Millisecond, 5*time.Second)
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 1 << 20
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 5 * time.Second
	}
	if c.RebalanceFlushTimeout == 0 {
		c.RebalanceFlushTimeout = 10 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 20 * time.Second
	}
	c.HTTP.SetDefaults(DefaultListen)
	if c.Ledger.Enabled == nil {
		t := true
		c.Ledger.Enabled = &t
	}
	if c.Ledger.CheckEvery == 0 {
		c.Ledger.CheckEvery = time.Minute
	}
	if c.Ledger.Grace == 0 {
		c.Ledger.Grace = 2 * time.Minute
	}
	if c.Ledger.Window == 0 {
		c.Ledger.Window = time.Hour
	}
}

// Validate reports every wrong field.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, config.Nest("kafka", c.Kafka.Validate()))
	errs = append(errs, config.Nest("topics", c.Topics.Validate()))
	if c.GroupID == "" {
		errs = append(errs, config.Errorf("group_id", "must not be empty"))
	}
	if _, err := kafkawire.ParseEncoding(c.Encoding, true); err != nil {
		errs = append(errs, config.Errorf("encoding", "%v", err))
	}
	if c.Batch.MaxRows < 1 {
		errs = append(errs, config.Errorf("batch.max_rows", "must be at least 1"))
	}
	if c.Batch.MaxBytes < 1<<10 {
		errs = append(errs, config.Errorf("batch.max_bytes", "must be at least 1KiB"))
	}
	if c.Batch.MaxAge < time.Millisecond {
		errs = append(errs, config.Errorf("batch.max_age", "must be at least 1ms"))
	}
	if c.MaxBufferedBytes < rowsMemory*c.Batch.MaxBytes {
		errs = append(errs, config.Errorf("max_buffered_bytes", "%s is less than %dx batch.max_bytes (%s): one batch would not fit", c.MaxBufferedBytes, rowsMemory, c.Batch.MaxBytes))
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < c.MaxBufferedBytes+heapBase {
		errs = append(errs, config.Errorf("memory_limit", "%s is less than max_buffered_bytes (%s) + %s for the rest of the collector: the GC would run constantly", c.MemoryLimit, c.MaxBufferedBytes, bytesize.Size(heapBase)))
	}
	if c.InsertConcurrency < 1 {
		errs = append(errs, config.Errorf("insert_concurrency", "must be at least 1"))
	}
	errs = append(errs, config.Nest("retry", c.Retry.Validate()))
	if c.FetchMaxBytes < 64<<10 {
		errs = append(errs, config.Errorf("fetch_max_bytes", "must be at least 64KiB"))
	}
	if c.FetchMaxWait < 100*time.Millisecond {
		errs = append(errs, config.Errorf("fetch_max_wait", "must be at least 100ms"))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, config.Errorf("session_timeout", "must be at least 1s"))
	}
	if c.RebalanceFlushTimeout <= 0 {
		errs = append(errs, config.Errorf("rebalance_flush_timeout", "must be positive"))
	}
	errs = append(errs, c.HTTP.Validate())
	if c.Ledger.CheckEvery < 100*time.Millisecond {
		errs = append(errs, config.Errorf("ledger.check_every", "must be at least 100ms"))
	}
	if c.Ledger.Grace < 0 {
		errs = append(errs, config.Errorf("ledger.grace", "must not be negative"))
	}
	if c.Ledger.Window < time.Second {
		errs = append(errs, config.Errorf("ledger.window", "must be at least 1s"))
	}
	return errors.Join(errs...)
}
