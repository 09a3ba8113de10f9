package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/config"
)

// Store reads and writes flowlens data in one ClickHouse database.
type Store struct {
	cfg    Config
	conn   driver.Conn
	native *nativeInserter // inserts over HTTP; nil on the TCP protocol
	l      layout
	logger *zap.Logger
	m      *metrics
}

// Open connects to ClickHouse and checks it answers. It does not change the
// schema: call Migrate for that. cfg must have been through SetDefaults and
// Validate (config.Load does both).
func Open(ctx context.Context, cfg Config, logger *zap.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage config: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	opts, err := clientOptions(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.String(), err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", cfg.String(), err)
	}
	return &Store{cfg: cfg, conn: conn, native: newNativeInserter(opts, cfg), l: newLayout(cfg), logger: logger, m: newMetrics()}, nil
}

// clientOptions turns cfg into clickhouse-go options. A bare host:port means
// the HTTP interface; a DSN keeps its scheme (http, https, clickhouse, tcp).
func clientOptions(cfg Config) (*clickhouse.Options, error) {
	var opts *clickhouse.Options
	if strings.Contains(cfg.Addr, "://") {
		dsn := cfg.Addr
		if strings.HasPrefix(dsn, "https://") && !strings.Contains(dsn, "secure=") {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "secure=true" // clickhouse-go wants both
		}
		o, err := clickhouse.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("storage addr: %w", err)
		}
		opts = o
	} else {
		opts = &clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{cfg.Addr}}
	}
	// Every statement names its database, so the connection needs none: that
	// lets Migrate create it through the same connection.
	opts.Auth.Database = ""
	if cfg.Username != "" {
		opts.Auth.Username = cfg.Username
	}
	password, err := config.ReadSecret(cfg.Password, cfg.PasswordFile, cfg.PasswordEnv)
	if err != nil {
		return nil, fmt.Errorf("clickhouse password: %w", err)
	}
	if password != "" {
		opts.Auth.Password = password
	}
	if cfg.TLS != nil {
		opts.TLS = cfg.TLS
	}
	opts.DialTimeout = cfg.DialTimeout
	opts.ReadTimeout = cfg.ReadTimeout
	opts.MaxOpenConns = cfg.MaxOpenConns
	opts.MaxIdleConns = cfg.MaxOpenConns
	switch cfg.Compression {
	case "lz4":
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "zstd":
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	default:
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionNone}
	}
	return opts, nil
}

// Conn exposes the underlying connection for packages that run their own
// queries on flowlens tables (dashboards, rules). Do not close it.
func (s *Store) Conn() driver.Conn { return s.conn }

// Database is the database holding the tables.
func (s *Store) Database() string { return s.cfg.Database }

// Close releases the connections. It is safe to call twice.
func (s *Store) Close() error {
	if s == nil || s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil {
		return fmt.Errorf("close clickhouse: %w", err)
	}
	return nil
}

// WithSchema returns a Store sharing s's connection whose Migrate (and
// queries) use a schema layout changed by mod (Cluster, TTL,
// TracesGranularity, LogsGranularity, TraceIndexGranularity,
// TraceIDProjection; connection fields are ignored): for
// `flowlens migrate --cluster ... --ttl-...`. Closing either closes both.
func (s *Store) WithSchema(mod func(c *Config)) (*Store, error) {
	cfg := s.cfg
	mod(&cfg)
	cfg.Addr, cfg.Username, cfg.Password = s.cfg.Addr, s.cfg.Username, s.cfg.Password
	cfg.PasswordFile, cfg.PasswordEnv = s.cfg.PasswordFile, s.cfg.PasswordEnv
	cfg.Database = s.cfg.Database
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := *s
	c.cfg, c.l = cfg, newLayout(cfg)
	return &c, nil
}
