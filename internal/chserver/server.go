// Package chserver serves the embedded ClickHouse engine on a
// ClickHouse-compatible HTTP port, so the production client (clickhouse-go
// with Protocol HTTP), Grafana's ClickHouse data source and curl work against
// it unchanged.
//
// Each request runs on a fresh engine session (about 0.1 ms), so SET and USE
// never leak between requests; requests run concurrently.
package chserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/chdb"
	"github.com/flowlens/flowlens/internal/config"
)

// Config of the embedded ClickHouse endpoint.
type Config struct {
	// Addr to listen on; default 127.0.0.1:8123. Port 0 picks a free port.
	Addr string `yaml:"addr"`
	// DataDir holds the engine's databases; default ./data/clickhouse.
	DataDir string `yaml:"data_dir"`
	// LibPath is libchdb.so; default chdb.DefaultLibraryPath().
	LibPath string `yaml:"lib_path"`
	// MaxBodyBytes bounds one request body (insert data); default 1 GiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// SpoolDir holds insert data while the engine reads it; default /dev/shm
	// when present, else the system temp folder.
	SpoolDir string `yaml:"spool_dir"`
	// MergeNice is the nice value of the engine's merge threads (default
	// 10; 0 runs them as the rest of the process). On a machine that also
	// runs the collector and the agent, merges then take the CPU the
	// inserts and queries leave, instead of stretching every insert: a
	// merge can wait, the batch behind an insert cannot.
	MergeNice *int `yaml:"merge_nice"`
}

// DefaultMergeNice is Config.MergeNice's default.
const DefaultMergeNice = 10

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8123"
	}
	if c.DataDir == "" {
		c.DataDir = "data/clickhouse"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 30
	}
	if c.MergeNice == nil {
		n := DefaultMergeNice
		c.MergeNice = &n
	}
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return config.Errorf("addr", "must be host:port: %v", err)
	}
	if c.DataDir == "" {
		return config.Errorf("data_dir", "must not be empty")
	}
	if c.MaxBodyBytes < 0 {
		return config.Errorf("max_body_bytes", "must not be negative")
	}
	if c.MergeNice != nil && (*c.MergeNice < 0 || *c.MergeNice > 19) {
		return config.Errorf("merge_nice", "%d: want 0 to 19 (a lower value than the process's needs privileges)", *c.MergeNice)
	}
	return nil
}

// mergeThreadName is the name of the engine's merge and mutation threads.
const mergeThreadName = "MergeMutate"

// Server is the HTTP endpoint in front of one engine.
type Server struct {
	cfg    Config
	log    *zap.Logger
	engine *chdb.Engine
	tz     *time.Location
	http   *http.Server
	ln     net.Listener
	done   chan struct{}

	reg     *prometheus.Registry
	metrics *metrics

	closeOnce sync.Once
	closeErr  error
}

// New opens the engine on cfg.DataDir; it does not listen yet.
func New(cfg Config, log *zap.Logger) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse endpoint config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = defaultSpoolDir()
	}
	eng, err := chdb.Open(chdb.Options{LibPath: cfg.LibPath, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	s := &Server{cfg: cfg, log: log, engine: eng, done: make(chan struct{}), reg: reg, metrics: newMetrics(reg)}
	if err := s.loadTimezone(); err != nil {
		eng.Close()
		return nil, err
	}
	if *cfg.MergeNice > 0 {
		eng.NiceThreads(mergeThreadName, *cfg.MergeNice)
	}
	return s, nil
}

// Engine is the engine behind the endpoint, for in-process callers.
func (s *Server) Engine() *chdb.Engine { return s.engine }

// Start binds the address and serves in the background until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen for ClickHouse HTTP on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Ok.\n")) })
	mux.HandleFunc("/replicas_status", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Ok.\n")) })
	// Not part of ClickHouse's HTTP interface, but harmless there: the
	// endpoint's own metrics, next to the port it measures.
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", s.handleQuery)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: zap.NewStdLog(s.log)}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ClickHouse HTTP endpoint stopped", zap.Error(err))
		}
	}()
	s.log.Info("ClickHouse HTTP endpoint listening", zap.String("addr", ln.Addr().String()), zap.String("data_dir", s.engine.Dir()))
	return nil
}

// Addr is the bound address (host:port), after Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests, waits for running ones (until ctx ends)
// and closes the engine. Safe to call without Start and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.http != nil {
			if err := s.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop ClickHouse HTTP endpoint: %w", err))
			}
			<-s.done
		}
		errs = append(errs, s.engine.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) loadTimezone() error {
	out, err := s.engine.Query("SELECT timezone()", "TSV")
	if err != nil {
		return fmt.Errorf("read engine timezone: %w", err)
	}
	name := string(out)
	for len(name) > 0 && (name[len(name)-1] == '\n') {
		name = name[:len(name)-1]
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = time.UTC
	}
	s.tz = loc
	return nil
}
