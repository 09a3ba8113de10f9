package collector

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

func TestConfigFileLoads(t *testing.T) {
	var cfg Config
	if err := config.Load("testdata/collector.yaml", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Batch.MaxRows != 50000 || cfg.Batch.MaxAge != 2*time.Second || cfg.Batch.MaxBytes != 64<<20 || cfg.MaxBufferedBytes != 1<<30 ||
		cfg.Retry.Initial != 200*time.Millisecond || cfg.HTTP.Listen != "0.0.0.0:9465" || !cfg.HTTP.TLS.On() || !cfg.HTTP.Auth.On() ||
		cfg.Topics.CreateEnabled() || cfg.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || cfg.GroupID != "flowlens-collector-eu1" ||
		cfg.MemoryLimitOrDefault() != 2<<30+256<<20 { // twice the batches' budget, and the rest
		t.Fatalf("loaded %+v", cfg)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"kafka.brokers[0]", func(c *Config) { c.Kafka.Brokers = []string{"nohost"} }},
		{"topics.logs", func(c *Config) { c.Topics.Logs = c.Topics.Spans }},
		{"encoding", func(c *Config) { c.Encoding = "avro" }},
		{"batch.max_rows", func(c *Config) { c.Batch.MaxRows = -1 }},
		{"max_buffered_bytes", func(c *Config) { c.MaxBufferedBytes = 1 << 20 }},
		{"memory_limit", func(c *Config) { c.MemoryLimit = c.MaxBufferedBytes + 1 }},
		{"retry.max", func(c *Config) { c.Retry.Max = time.Millisecond }},
		{"session_timeout", func(c *Config) { c.SessionTimeout = time.Millisecond }},
		{"fetch_max_wait", func(c *Config) { c.FetchMaxWait = time.Millisecond }},
	} {
		var cfg Config
		cfg.SetDefaults()
		tc.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

func TestPendingMarkerRoundTrip(t *testing.T) {
	for _, b := range []batchRanges{{{3, 1200, 3456}}, {{0, 5, 9}, {3, 1200, 3456}, {7, 0, 0}}} {
		if got := parseMarker(b.marker(), 3, 1200); !slices.Equal(got, b) {
			t.Fatalf("parsed %v from %q", got, b.marker())
		}
	}
	for _, tc := range []struct {
		meta      string
		committed int64
	}{
		{"", 0},
		{"flowlens/v1 pending 1200-3456", 1201}, // a marker for another offset is stale
		{"flowlens/v1 pending 5-4", 5},
		{"flowlens/v1 pending x-4", 5},
		{"flowlens/v2 pending 0:5-9,3:1201-3456", 1200}, // stale on this partition
		{"flowlens/v2 pending 0:5-9,4:1200-3456", 1200}, // does not name this partition
		{"flowlens/v2 pending 3:1200-3456,0:5-9", 1200}, // not in partition order
		{"flowlens/v2 pending 0:5-9,3:1200-x", 1200},
		{"someone else's metadata", 1200},
	} {
		if got := parseMarker(tc.meta, 3, tc.committed); got != nil {
			t.Errorf("%q at %d parsed as %v", tc.meta, tc.committed, got)
		}
	}
}
