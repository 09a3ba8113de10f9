package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/golden"
)

func TestSchemaGolden(t *testing.T) {
	tests := []struct {
		file string
		cfg  Config
	}{
		{"schema_single.sql", Config{Database: "flowlens"}},
		{"schema_single_ttl.sql", Config{Database: "flowlens", TTL: TTLConfig{Traces: 7, Logs: 3, Edges: 90}}},
		{"schema_cluster.sql", Config{Database: "flowlens", Cluster: "prod", TTL: TTLConfig{Traces: 14, Logs: 7, TraceIndex: 30, Edges: 365},
			TraceIDProjection: ptr(true)}},
		// What Migrate creates on a server that knows every setting of
		// serverDefaultSettings (the printed schema keeps to ClickHouse 23.8).
		{"schema_single_server_defaults.sql", withDefaultSettings(Config{Database: "flowlens"},
			map[string]bool{"merge_selector_base": true, "string_serialization_version": true})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tt.cfg.SetDefaults()
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := SchemaSQL(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden.Equal(t, filepath.Join("testdata", tt.file), []byte(got))
		})
	}
}

func TestClusterSchemaShape(t *testing.T) {
	cfg := Config{Database: "flowlens", Cluster: "prod"}
	cfg.SetDefaults()
	sql, err := SchemaSQL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(sql, ";\n") {
		stmt = strings.TrimSpace(stmt)
		if !strings.Contains(stmt, "CREATE") {
			continue
		}
		if !strings.Contains(stmt, "ON CLUSTER `prod`") {
			t.Errorf("statement without ON CLUSTER:\n%s", stmt)
		}
		if strings.Contains(stmt, "ENGINE = MergeTree") || strings.Contains(stmt, "ENGINE = AggregatingMergeTree") {
			t.Errorf("non-replicated engine in cluster mode:\n%s", stmt)
		}
		if strings.Contains(stmt, "non_replicated_deduplication_window") {
			t.Errorf("non-replicated setting in cluster mode:\n%s", stmt)
		}
	}
	for _, table := range []string{TracesTable, TraceIndexTable, LogsTable, EdgesTable} {
		if !strings.Contains(sql, "CREATE TABLE IF NOT EXISTS `flowlens`.`"+table+"` ON CLUSTER `prod` AS `flowlens`.`"+table+"_local`\nENGINE = Distributed(") {
			t.Errorf("no Distributed table %s", table)
		}
	}
	single := Config{Database: "flowlens"}
	single.SetDefaults()
	sql, _ = SchemaSQL(single)
	for _, bad := range []string{"ON CLUSTER", "Replicated", "Distributed", "_local"} {
		if strings.Contains(sql, bad) {
			t.Errorf("single-node schema contains %q", bad)
		}
	}
	if !strings.Contains(sql, "non_replicated_deduplication_window = 1000") {
		t.Error("single-node tables do not keep a deduplication window")
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	tests := []struct {
		field string
		mod   func(c *Config)
	}{
		{"database", func(c *Config) { c.Database = "x; DROP" }},
		{"database", func(c *Config) { c.Database = "1abc" }},
		{"cluster", func(c *Config) { c.Cluster = "a b" }},
		{"ttl.logs", func(c *Config) { c.TTL.Logs = -1 }},
		{"ttl.trace_index", func(c *Config) { c.TTL.Traces = 10; c.TTL.TraceIndex = 5 }},
		{"compression", func(c *Config) { c.Compression = "gzip" }},
		{"addr", func(c *Config) { c.Addr = "localhost" }},
		{"max_open_conns", func(c *Config) { c.MaxOpenConns = -1 }},
		{"merge_tree_settings", func(c *Config) { c.MergeTreeSettings = map[string]string{"a b": "1"} }},
		{"merge_tree_settings.merge_selector_base", func(c *Config) {
			c.MergeTreeSettings = map[string]string{"merge_selector_base": "1, ttl_only_drop_parts = 0"}
		}},
		{"merge_tree_settings.string_serialization_version", func(c *Config) {
			c.MergeTreeSettings = map[string]string{"string_serialization_version": "'single_stream', ttl_only_drop_parts = '0'"}
		}},
	}
	for _, tt := range tests {
		var c Config
		c.SetDefaults()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	c.Addr = "http://user:secret@ch.example:8123/db"
	if strings.Contains(c.String(), "secret") {
		t.Errorf("String leaks the password: %s", c.String())
	}
	// nor settings or a password in the query, nor the user
	c.Addr = "https://user:secret@ch.example:8443/x?password=secret2&session_id=abc"
	if got := c.String(); got != "https://ch.example:8443/"+c.Database {
		t.Errorf("String = %q, want scheme, host and database only", got)
	}
}

// The password can come from a file or the environment, instead of the
// config; one of the three.
func TestPasswordFromFileOrEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	t.Setenv("TEST_CH_PASSWORD", "from-env")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "h:8123", Password: "inline"}, "inline"},
		{Config{Addr: "h:8123", PasswordFile: file}, "from-file"},
		{Config{Addr: "h:8123", PasswordEnv: "TEST_CH_PASSWORD"}, "from-env"},
	} {
		tc.cfg.SetDefaults()
		if err := tc.cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		o, err := clientOptions(tc.cfg)
		if err != nil || o.Auth.Password != tc.want {
			t.Errorf("%+v: password %q (%v), want %q", tc.cfg, o.Auth.Password, err, tc.want)
		}
	}
	two := Config{Addr: "h:8123", Password: "x", PasswordEnv: "TEST_CH_PASSWORD"}
	two.SetDefaults()
	if err := two.Validate(); err == nil || !strings.HasPrefix(err.Error(), "password:") {
		t.Errorf("two passwords: %v", err)
	}
	missing := Config{Addr: "h:8123", PasswordEnv: "TEST_CH_UNSET"}
	missing.SetDefaults()
	if _, err := clientOptions(missing); err == nil || !strings.Contains(err.Error(), "TEST_CH_UNSET is not set") {
		t.Errorf("unset variable: %v", err)
	}
}

func TestClientOptions(t *testing.T) {
	tests := []struct {
		addr     string
		protocol string
		host     string
		user     string
		tls      bool
	}{
		{"127.0.0.1:8123", "http", "127.0.0.1:8123", "", false},
		{"http://bob:pw@ch1:8123/ignored?compress=lz4", "http", "ch1:8123", "bob", false},
		{"https://ch.example:8443", "http", "ch.example:8443", "", true},
		{"clickhouse://ch2:9000", "native", "ch2:9000", "", false},
	}
	for _, tt := range tests {
		cfg := Config{Addr: tt.addr}
		cfg.SetDefaults()
		o, err := clientOptions(cfg)
		if err != nil {
			t.Errorf("%s: %v", tt.addr, err)
			continue
		}
		if o.Protocol.String() != tt.protocol || o.Addr[0] != tt.host || o.Auth.Username != tt.user ||
			(o.TLS != nil) != tt.tls || o.Auth.Database != "" {
			t.Errorf("%s: protocol %s addr %v user %q tls %v db %q", tt.addr, o.Protocol, o.Addr, o.Auth.Username, o.TLS != nil, o.Auth.Database)
		}
	}
}

func TestConfigFiles(t *testing.T) {
	var c Config
	if err := config.Load("testdata/config_cluster.yaml", &c); err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "prod" || c.TTL.TraceIndexDays() != 30 || c.ReadTimeout != 2*time.Minute || c.Compression != "zstd" ||
		c.MaxAttributeBytes != 64<<10 || c.TracesGranularity != 2048 || c.Projection() {
		t.Errorf("loaded %+v", c)
	}
	// Defaults filled again after the file (as flowlens up fills them for
	// the storage part of its file) keep the file's false.
	c.SetDefaults()
	if c.Projection() {
		t.Error("trace_id_projection: false in the file turned on by SetDefaults")
	}
	var d Config
	if err := config.Load("", &d); err != nil || !d.Projection() {
		t.Errorf("defaults: projection %v, %v", d.Projection(), err)
	}
	for file, field := range map[string]string{
		"testdata/config_bad_ttl.yaml":     "ttl.trace_index",
		"testdata/config_unknown_key.yaml": "adress",
	} {
		var c Config
		err := config.Load(file, &c)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v does not name %s", file, err, field)
		}
	}
}

// TestMergeTreeSettingsReachTheTables: extra settings are in every storing
// table the engine created.
func TestMergeTreeSettingsReachTheTables(t *testing.T) {
	ctx := testCtx(t)
	s := newStoreCfg(t, func(c *Config) { c.MergeTreeSettings = map[string]string{"merge_selector_base": "20"} })
	for _, table := range []string{TracesTable, LogsTable, "otel_traces_trace_id_ts", "flow_edges"} {
		var ddl string
		if err := s.conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", s.cfg.Database, table).Scan(&ddl); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if !strings.Contains(ddl, "merge_selector_base = 20") {
			t.Errorf("%s lacks the setting: %s", table, ddl)
		}
	}
}
