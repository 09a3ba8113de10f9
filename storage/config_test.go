package storage

import (
	"strings"
	"testing"
)

// TestCompressionDefaultsToNoneOnLoopback: an engine on the same machine
// gets its inserts uncompressed (compressing there costs both sides CPU
// and saves no network); any other address lz4; a value set stays.
func TestCompressionDefaultsToNoneOnLoopback(t *testing.T) {
	for _, tc := range []struct{ addr, set, want string }{
		{"", "", "none"}, // DefaultAddr, the embedded engine
		{"127.0.0.1:8123", "", "none"},
		{"localhost:8123", "", "none"},
		{"http://[::1]:8123/db", "", "none"},
		{"clickhouse://127.0.0.2:9000", "", "none"},
		{"http://user:secret@LOCALHOST:8123", "", "none"},
		{"clickhouse.prod:8123", "", "lz4"},
		{"https://10.0.0.5:8443", "", "lz4"},
		{"127.0.0.1:8123", "lz4", "lz4"},
		{"clickhouse.prod:8123", "none", "none"},
	} {
		c := Config{Addr: tc.addr, Compression: tc.set}
		c.SetDefaults()
		if c.Compression != tc.want {
			t.Errorf("addr %q, compression %q: got %q, want %q", tc.addr, tc.set, c.Compression, tc.want)
		}
	}
}

// insert_nice may only lower the inserts' priority; by default it does
// so only on this machine's engine.
func TestInsertNiceRange(t *testing.T) {
	for _, tc := range []struct {
		nice    int
		wantErr bool
	}{{0, false}, {10, false}, {19, false}, {-1, true}, {-20, true}, {20, true}} {
		c := Config{InsertNice: tc.nice}
		c.SetDefaults()
		err := c.Validate()
		if (err != nil) != tc.wantErr || (err != nil && !strings.HasPrefix(err.Error(), "insert_nice:")) {
			t.Errorf("insert_nice %d: error %v, want error: %v (naming insert_nice)", tc.nice, err, tc.wantErr)
		}
	}
	// Not by default, also on this machine: there the engine shares the
	// cores with the agent and the collector, and inserts at nice 10 fell
	// behind them (bench-e2e).
	for _, addr := range []string{"127.0.0.1:8123", "localhost:8123", "clickhouse.example:8123"} {
		c := Config{Addr: addr}
		c.SetDefaults()
		if c.InsertNice != 0 {
			t.Errorf("%s: default insert_nice %d, want 0", addr, c.InsertNice)
		}
	}
}
