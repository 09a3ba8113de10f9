// Package storage keeps spans, logs and flow-edge rollups in ClickHouse.
//
// The span and log tables are exactly those of the OpenTelemetry ClickHouse
// exporter (otel_traces, otel_logs), so Grafana's ClickHouse data source in
// OTel mode reads them unchanged. A trace-ID index table, filled by a
// materialized view, lets a trace lookup read only the partitions that hold
// the trace. flow_edges holds the service-graph rollups of the flow analyzer.
//
// Every method of *Store is safe for concurrent use. SpanRows and LogRows are
// not: each goroutine fills its own.
package storage

import (
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
)

// DefaultTracesGranularity is the default Config.TracesGranularity.
const DefaultTracesGranularity = 1024

// DefaultLogsGranularity is the default Config.LogsGranularity.
const DefaultLogsGranularity = 2048

// DefaultTraceIndexGranularity is the default Config.TraceIndexGranularity.
const DefaultTraceIndexGranularity = 1024

// DefaultAddr is the embedded ClickHouse HTTP endpoint that `flowlens up` starts.
const DefaultAddr = "127.0.0.1:8123"

// Config says where ClickHouse is and how the schema is laid out.
type Config struct {
	// Addr is host:port of a ClickHouse HTTP interface, or a DSN
	// (http://user:pass@host:8123/db?compress=lz4, or clickhouse://host:9000 for
	// the native protocol). Default 127.0.0.1:8123, the embedded engine.
	// A database in the DSN's path is ignored: Database names it.
	Addr string `yaml:"addr"`
	// Database holding every flowlens table. Default "flowlens". Created by Migrate.
	Database string `yaml:"database"`
	Username string `yaml:"username"`
	// Password, or PasswordFile (a file holding it, read when the store
	// opens), or PasswordEnv (an environment variable holding it): set one.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// Cluster, when not empty, makes the schema a production cluster layout:
	// ON CLUSTER DDL, Replicated*MergeTree local tables (suffix _local) and
	// Distributed tables under the exporter's table names.
	Cluster string `yaml:"cluster"`
	// TTL is the retention per table in days (0 keeps data forever).
	TTL TTLConfig `yaml:"ttl"`
	// DialTimeout bounds connecting; default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds one query; default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Compression of inserts and results: none, lz4 or zstd. Default lz4,
	// or none when Addr is a loopback address (the engine on the same
	// machine, as `flowlens up` and `flowlens clickhouse` run it): there
	// compressing saves no network and costs both sides CPU (lz4 was about
	// a seventh of the collector's). Set lz4 for a loopback address that
	// tunnels to another machine.
	Compression string `yaml:"compression"`
	// MaxOpenConns caps concurrent connections (HTTP requests in flight); default 8.
	MaxOpenConns int `yaml:"max_open_conns"`
	// TracesGranularity is index_granularity of otel_traces: rows per
	// granule, the unit a trace lookup reads (every column of each granule
	// holding one of the trace's spans). Default 1024: at 10M spans that
	// made lookups by ID about 1.6x faster than the exporter's 8192, for
	// inserts about 10-20% slower. Columns, codecs, indexes and partitioning
	// stay the exporter's.
	TracesGranularity int `yaml:"traces_granularity"`
	// LogsGranularity is index_granularity of otel_logs, and sizes its
	// compressed blocks (min_compress_block_size 8x, max 128x it: at 8192
	// the engine's defaults): a lookup's logs query decodes every column of
	// each granule the TraceId bloom filter keeps, whole blocks at least.
	// Default 2048: on 1.5M logs of a bench-e2e run the logs query
	// decompressed 2.6 MB against 8.5 and took 30% less engine CPU than at
	// the exporter's 8192, for 7% more CPU per log inserted and 23% more
	// per merge; 1024 saved no more CPU (1.6 MB) for 56% more per merge.
	// Under ingest (50k spans/s + 50k logs/s on 2 cores) the lookups were
	// no faster beyond the runs' spread: there they wait for a core more
	// than they decode (storage/README.md). Applies when the table is
	// created.
	LogsGranularity int `yaml:"logs_granularity"`
	// TraceIndexGranularity is index_granularity of the trace-ID index
	// (otel_traces_trace_id_ts), of which a lookup reads one granule per
	// part. Default 1024 (8192 before): 0.2 against 1.5 MB decompressed.
	// Applies when the table is created.
	TraceIndexGranularity int `yaml:"trace_index_granularity"`
	// TraceIDProjection adds a projection of otel_traces ordered by TraceId
	// (a second, trace-ordered copy of every span, kept by the engine): a
	// lookup by ID then reads the trace's spans from one or two granules
	// instead of one granule per span. At 10M spans: p99 55 -> 15 ms, for
	// a fifth more engine CPU per span inserted, nearly twice as much per
	// merge, and otel_traces twice as large on disk. A projection of TraceId
	// and _part_offset alone (ClickHouse >= 25.5) would cost nothing but
	// reads what no projection reads: it finds the granules the TraceId bloom
	// filter already finds, and those are read whole (storage/README.md);
	// hence a full copy or none. Applies when the table is created. Default
	// true; nil until SetDefaults, so that defaults filled after a file was
	// read keep the file's false.
	TraceIDProjection *bool `yaml:"trace_id_projection"`
	// MaxAttributeBytes is the largest attribute value or log body kept; a
	// record with a bigger one is rejected. Default 64 KiB (body: 16x that).
	MaxAttributeBytes bytesize.Size `yaml:"max_attribute_bytes"`
	// InsertWithClient sends inserts through clickhouse-go's batch API
	// instead of flowlens's own Native encoder. Both send the same HTTP
	// request; the encoder costs a fraction of the CPU (see nativeInserter).
	// On the native TCP protocol (a clickhouse:// address) inserts always
	// go through clickhouse-go. Default false.
	InsertWithClient bool `yaml:"insert_with_client"`
	// MergeTreeSettings are added to the SETTINGS of the tables flowlens
	// creates. They apply when a table is created; the engine checks names
	// and values then. Keys are identifiers, values numbers, words or
	// quoted words ('with_size_stream'). Unless named here, the tables get
	// serverDefaultSettings on servers that know them: merge_selector_base
	// DefaultMergeSelectorBase (fewer merges, more parts; 5 is
	// ClickHouse's) and string_serialization_version 'single_stream'
	// (String columns in one file each, as before ClickHouse 26).
	MergeTreeSettings map[string]string `yaml:"merge_tree_settings"`
	// InsertNice is the nice value (ClickHouse's os_thread_priority) the
	// engine's threads take while they store one of this store's inserts,
	// so that trace lookups and other reads get a core first: a lookup is
	// 10-20 ms of work, and on an engine busy storing 50k spans/s it spent
	// most of its time waiting behind the inserts. On an engine alone
	// (BenchmarkLookupUnderIngest) 10 halved the lookups' p99; with the
	// whole pipeline on one full machine (bench-e2e) it made the inserts
	// lose to the agent and the collector, the spans fell behind (39k of
	// 49k/s stored) and freshness went from seconds to tens of seconds. So
	// set it where the engine has its own machine. A client may lower its
	// own queries' priority, never raise it; the engine applies it only
	// with CAP_SYS_NICE, else ignores it. 0 to 19; default 0 (nothing
	// sent).
	InsertNice int `yaml:"insert_nice"`
	// TLS, when set, is the client's TLS config: HTTPS to a host:port
	// address. Set in code by flowlens up, whose own clients trust its
	// endpoint's certificate; an https:// DSN uses the system's CAs.
	TLS *tls.Config `yaml:"-"`
}

// TTLConfig is the retention in days of each table; 0 means no TTL.
type TTLConfig struct {
	Traces     int `yaml:"traces"`      // otel_traces
	Logs       int `yaml:"logs"`        // otel_logs
	TraceIndex int `yaml:"trace_index"` // otel_traces_trace_id_ts; 0 = same as traces; keep >= traces
	Edges      int `yaml:"edges"`       // flow_edges
}

// OnThisMachine reports whether Addr (host:port or a DSN) names this
// machine by a loopback address or localhost.
func (c *Config) OnThisMachine() bool {
	host := c.Addr
	if strings.Contains(c.Addr, "://") {
		u, err := url.Parse(c.Addr)
		if err != nil {
			return false
		}
		host = u.Hostname()
	} else if h, _, err := net.SplitHostPort(c.Addr); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SetDefaults fills the defaults documented on each field.
func (c *Config) SetDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Database == "" {
		c.Database = "flowlens"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.Compression == "" {
		c.Compression = "lz4"
		if c.OnThisMachine() {
			c.Compression = "none"
		}
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = 8
	}
	if c.MaxAttributeBytes == 0 {
		c.MaxAttributeBytes = 64 << 10
	}
	if c.TracesGranularity == 0 {
		c.TracesGranularity = DefaultTracesGranularity
	}
	if c.LogsGranularity == 0 {
		c.LogsGranularity = DefaultLogsGranularity
	}
	if c.TraceIndexGranularity == 0 {
		c.TraceIndexGranularity = DefaultTraceIndexGranularity
	}
	if c.TraceIDProjection == nil {
		c.TraceIDProjection = ptr(true)
	}
}

func ptr[T any](v T) *T { return &v }

// Projection reports whether otel_traces gets the by-trace projection
// (TraceIDProjection, true when unset).
func (c *Config) Projection() bool { return c.TraceIDProjection == nil || *c.TraceIDProjection }

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate reports every wrong field.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Addr) == "" {
		errs = append(errs, config.Errorf("addr", "must be host:port or a DSN"))
	} else if !strings.Contains(c.Addr, "://") && !strings.Contains(c.Addr, ":") {
		errs = append(errs, config.Errorf("addr", "%q: want host:port or a DSN like http://host:8123", c.Addr))
	}
	if !identRe.MatchString(c.Database) {
		errs = append(errs, config.Errorf("database", "%q: want letters, digits and _ (not starting with a digit)", c.Database))
	}
	errs = append(errs, config.CheckSecret("password", c.Password, c.PasswordFile, c.PasswordEnv))
	if c.Cluster != "" && !identRe.MatchString(c.Cluster) {
		errs = append(errs, config.Errorf("cluster", "%q: want letters, digits and _ (not starting with a digit)", c.Cluster))
	}
	for _, t := range []struct {
		name string
		days int
	}{{"traces", c.TTL.Traces}, {"logs", c.TTL.Logs}, {"trace_index", c.TTL.TraceIndex}, {"edges", c.TTL.Edges}} {
		if t.days < 0 || t.days > 36500 {
			errs = append(errs, config.Errorf("ttl."+t.name, "%d days: want 0 (keep forever) to 36500", t.days))
		}
	}
	if c.TTL.TraceIndex > 0 && (c.TTL.Traces == 0 || c.TTL.TraceIndex < c.TTL.Traces) {
		// A lookup falls back to the bloom filter, but slowly: say so up front.
		errs = append(errs, config.Errorf("ttl.trace_index", "%d days is shorter than ttl.traces: traces would become unfindable by ID", c.TTL.TraceIndex))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, config.Errorf("dial_timeout", "must not be negative"))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, config.Errorf("read_timeout", "must not be negative"))
	}
	switch c.Compression {
	case "none", "lz4", "zstd":
	default:
		errs = append(errs, config.Errorf("compression", "%q: want none, lz4 or zstd", c.Compression))
	}
	if c.MaxOpenConns < 1 {
		errs = append(errs, config.Errorf("max_open_conns", "must be at least 1"))
	}
	if c.TracesGranularity < 128 || c.TracesGranularity > 65536 {
		errs = append(errs, config.Errorf("traces_granularity", "%d: want 128 to 65536", c.TracesGranularity))
	}
	if c.LogsGranularity < 128 || c.LogsGranularity > 65536 {
		errs = append(errs, config.Errorf("logs_granularity", "%d: want 128 to 65536", c.LogsGranularity))
	}
	if c.TraceIndexGranularity < 128 || c.TraceIndexGranularity > 65536 {
		errs = append(errs, config.Errorf("trace_index_granularity", "%d: want 128 to 65536", c.TraceIndexGranularity))
	}
	if c.InsertNice < 0 || c.InsertNice > 19 {
		errs = append(errs, config.Errorf("insert_nice", "%d: want 0 to 19 (a client may lower its inserts' priority, not raise it)", c.InsertNice))
	}
	if c.MaxAttributeBytes < 1 {
		errs = append(errs, config.Errorf("max_attribute_bytes", "must be at least 1"))
	}
	for k, v := range c.MergeTreeSettings {
		if !identRe.MatchString(k) {
			errs = append(errs, config.Errorf("merge_tree_settings", "%q: want a setting name (letters, digits and _)", k))
		}
		if !settingValueRe.MatchString(v) {
			errs = append(errs, config.Errorf("merge_tree_settings."+k, "%q: want a number, a word or a quoted word", v))
		}
	}
	return errors.Join(errs...)
}

// settingValueRe is what a merge_tree_settings value may be: rendered as
// is, it must not let SQL through.
var settingValueRe = regexp.MustCompile(`^(?:[A-Za-z0-9_.+-]{1,64}|'[A-Za-z0-9_.+-]{0,64}')$`)

// String describes the target by scheme, host and database: a DSN may
// hold a password, or settings, in its user info and query.
func (c *Config) String() string {
	if strings.Contains(c.Addr, "://") {
		return config.RedactURL(c.Addr) + "/" + c.Database
	}
	return c.Addr + "/" + c.Database
}

// TraceIndexDays is the effective retention of the trace-ID index.
func (t TTLConfig) TraceIndexDays() int {
	if t.TraceIndex > 0 {
		return t.TraceIndex
	}
	return t.Traces
}
