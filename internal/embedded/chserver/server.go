// Package chserver serves the embedded ClickHouse engine on a
// ClickHouse-compatible HTTP port, so the production client (clickhouse-go
// with Protocol HTTP), Grafana's ClickHouse data source and curl work against
// it unchanged.
//
// Each request runs on an engine session of its own, fresh or kept from a
// read that set it up the same way (the same database and settings), so
// SET and USE never leak between requests; requests run concurrently.
//
// Requests log in as one of the users in credentials.yaml (generated on
// first start), each with a role: reader, writer or admin. What each may
// do is held by the engine where it can (grants, settings constraints,
// readonly, allow_ddl) and by the endpoint where the embedded engine does
// not (file(), INTO OUTFILE, FROM INFILE, KILL, ...): see SECURITY.md.
package chserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chdb"
	"github.com/flowlens/flowlens/internal/listener"
)

// Config of the embedded ClickHouse endpoint.
type Config struct {
	// HTTP is the endpoint's listener: listen (default 127.0.0.1:8123; port
	// 0 picks a free port) and tls (HTTPS, as ClickHouse's https_port).
	// There is no auth here: requests log in as the endpoint's users, as
	// with ClickHouse (see CredentialsFile).
	HTTP listener.Config `yaml:",inline"`
	// DataDir holds the engine's databases; default ./data/clickhouse.
	// It is made private (0700).
	DataDir string `yaml:"data_dir"`
	// LibPath is libchdb.so; default chdb.DefaultLibraryPath().
	LibPath string `yaml:"lib_path"`
	// CredentialsFile holds the endpoint's users and passwords (YAML, mode
	// 0600); default DataDir/credentials.yaml. Written with one generated
	// user per role (reader, writer, admin) when it does not exist.
	CredentialsFile string `yaml:"credentials_file"`
	// Limits per role: max_execution_time, max_memory_usage and
	// max_result_bytes of every query, which the request cannot raise.
	// Defaults: reader 60s / 2 GiB / 256 MiB; writer and admin 600s /
	// 8 GiB / 1 GiB.
	Limits RoleLimits `yaml:"limits"`
	// MaxBodyBytes bounds one request body (insert data), as sent and
	// after decompression; default 1 GiB.
	MaxBodyBytes bytesize.Size `yaml:"max_body_bytes"`
	// MaxBlockBytes bounds one ClickHouse compressed block of a
	// decompress=1 body, compressed or not; default 128 MiB (ch-go's own
	// bound; clickhouse-go sends one block per insert).
	MaxBlockBytes bytesize.Size `yaml:"max_block_bytes"`
	// SpoolDir holds insert data while the engine reads it; default
	// /dev/shm when present, else the system temp folder. At most
	// SpoolMemoryBytes are there at once; the rest goes to
	// DataDir/flowlens/spool on disk.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMemoryBytes bounds the insert data in SpoolDir (RAM) at once;
	// default 256 MiB. 0 spools everything to disk.
	SpoolMemoryBytes *bytesize.Size `yaml:"spool_memory_bytes"`
	// MaxConcurrentQueries bounds the requests the engine runs at once;
	// a request waits up to 10s for a turn, then gets ClickHouse's
	// TOO_MANY_SIMULTANEOUS_QUERIES (202). Default 32.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
	// ReadTimeout bounds reading one request, body included (default 5m);
	// WriteTimeout bounds a request from its headers to the end of the
	// answer (default 15m, above every role's max_execution_time);
	// IdleTimeout closes idle keep-alive connections (default 2m).
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// AllowedHosts are host names (besides IP addresses, localhost and
	// this machine's name) the Host header may carry. Another name is a
	// page pointing its own domain at this address (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowedOrigins are browser origins (scheme://host:port) whose pages
	// may call the endpoint. Default none: a browser page of another site
	// gets 403 (CSRF).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MergeNice is the nice value of the engine's merge threads (default
	// 10; 0 runs them as the rest of the process). On a machine that also
	// runs the collector and the agent, merges then take the CPU the
	// inserts and queries leave, instead of stretching every insert: a
	// merge can wait, the batch behind an insert cannot.
	MergeNice *int `yaml:"merge_nice"`
}

// DefaultListen is where the endpoint listens unless told otherwise.
const DefaultListen = "127.0.0.1:8123"

// RenamedKeys names what replaced the keys of earlier versions.
func (Config) RenamedKeys() map[string]string { return map[string]string{"addr": "listen"} }

// DefaultMergeNice is Config.MergeNice's default.
const DefaultMergeNice = 10

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	c.HTTP.SetDefaults(DefaultListen)
	if c.DataDir == "" {
		c.DataDir = "data/clickhouse"
	}
	if c.CredentialsFile == "" {
		c.CredentialsFile = CredentialsPath(c.DataDir)
	}
	c.Limits.Reader.setDefaults(Limits{MaxExecutionTime: time.Minute, MaxMemoryUsage: 2 << 30, MaxResultBytes: 256 << 20})
	c.Limits.Writer.setDefaults(Limits{MaxExecutionTime: 10 * time.Minute, MaxMemoryUsage: 8 << 30, MaxResultBytes: 1 << 30})
	c.Limits.Admin.setDefaults(Limits{MaxExecutionTime: 10 * time.Minute, MaxMemoryUsage: 8 << 30, MaxResultBytes: 1 << 30})
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 30
	}
	if c.MaxBlockBytes == 0 {
		c.MaxBlockBytes = 128 << 20
	}
	if c.SpoolMemoryBytes == nil {
		m := bytesize.Size(256 << 20)
		c.SpoolMemoryBytes = &m
	}
	if c.MaxConcurrentQueries == 0 {
		c.MaxConcurrentQueries = 32
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 15 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MergeNice == nil {
		n := DefaultMergeNice
		c.MergeNice = &n
	}
}

// Validate reports every bad field. Unset fields are valid: they take
// their defaults (callers may validate before New sets them).
func (c *Config) Validate() error {
	var errs []error
	h := c.HTTP
	h.SetDefaults(DefaultListen)
	if h.Listen == listener.Off {
		errs = append(errs, config.Errorf("listen", "the endpoint cannot be off: it is what the engine is reached by"))
	}
	errs = append(errs, h.Validate())
	if h.Auth.On() {
		errs = append(errs, config.Errorf("auth", "requests log in as the endpoint's users, as with ClickHouse (credentials_file): bearer tokens are for flowlens's own APIs"))
	}
	if c.DataDir == "" {
		errs = append(errs, config.Errorf("data_dir", "must not be empty"))
	}
	for _, l := range []struct {
		name string
		l    Limits
	}{{"limits.reader", c.Limits.Reader}, {"limits.writer", c.Limits.Writer}, {"limits.admin", c.Limits.Admin}} {
		errs = append(errs, l.l.validate(l.name))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, config.Errorf("max_body_bytes", "must not be negative"))
	}
	if c.MaxBlockBytes != 0 && (c.MaxBlockBytes < 1<<10 || c.MaxBlockBytes > 1<<30) {
		errs = append(errs, config.Errorf("max_block_bytes", "%s: want 1KiB to 1GiB", c.MaxBlockBytes))
	}
	if c.SpoolMemoryBytes != nil && *c.SpoolMemoryBytes < 0 {
		errs = append(errs, config.Errorf("spool_memory_bytes", "%d: want a size, or 0 for no RAM spooling", *c.SpoolMemoryBytes))
	}
	if c.MaxConcurrentQueries < 0 {
		errs = append(errs, config.Errorf("max_concurrent_queries", "must be at least 1"))
	}
	if c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 {
		errs = append(errs, config.Errorf("read_timeout", "timeouts must not be negative"))
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, config.Errorf("allowed_origins", "%q: want scheme://host[:port]", o))
		}
	}
	if c.MergeNice != nil && (*c.MergeNice < 0 || *c.MergeNice > 19) {
		errs = append(errs, config.Errorf("merge_nice", "%d: want 0 to 19 (a lower value than the process's needs privileges)", *c.MergeNice))
	}
	return errors.Join(errs...)
}

// mergeThreadName is the name of the engine's merge and mutation threads.
const mergeThreadName = "MergeMutate"

// Server is the HTTP endpoint in front of one engine.
type Server struct {
	cfg      Config
	log      *zap.Logger
	engine   *chdb.Engine
	tz       *time.Location
	endpoint *listener.Endpoint
	http     *listener.Server
	creds    Credentials
	guard    *guard
	spool    *spooler
	slots    chan struct{} // one per query the engine may run at once
	// blocks keeps the decoders of compressed bodies, and the buffers they
	// grew, for the next insert (see blockReaders)
	blocks blockReaders
	// formatted is the engine's rendering of recent query texts (see
	// judgeWithEngine)
	formatted *lru.Cache[string, string]
	sessions  *sessionPool  // sessions of finished reads, for the next with the same setup
	queueWait time.Duration // how long a request waits for a slot
	hostname  string        // this machine's name, an allowed Host

	gather  prometheus.Gatherer
	metrics *metrics

	closeOnce sync.Once
	closeErr  error
}

// New opens the engine on cfg.DataDir with its access configuration and
// reads (or, on first start, writes) the endpoint's credentials; it does
// not listen yet. Its metrics are registered on set.Registerer and served
// on the endpoint's /metrics (set.Gatherer).
func New(cfg Config, set component.Settings) (s *Server, err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse endpoint config: %w", err)
	}
	set = set.WithDefaults()
	log := set.Logger
	endpoint, err := listener.Load(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("clickhouse endpoint config: %w", err)
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	if err := chdb.PrivateDir(cfg.DataDir); err != nil {
		return nil, err
	}
	paths, err := writeEngineConfig(cfg.DataDir, cfg.Limits.ceiling())
	if err != nil {
		return nil, err
	}
	eng, err := chdb.Open(chdb.Options{LibPath: cfg.LibPath, DataDir: cfg.DataDir, ConfigFile: paths.config})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			eng.Close()
		}
	}()
	// After Open: the engine's folder lock makes this process the only
	// one that may generate them.
	creds, err := loadOrCreateCredentials(cfg.CredentialsFile)
	if err != nil {
		return nil, err
	}
	funcs, err := eng.Query("SELECT name FROM system.table_functions", "TSV")
	if err != nil {
		return nil, fmt.Errorf("read the engine's table functions: %w", err)
	}
	sp, err := newSpooler(cfg.SpoolDir, paths.spool, spoolBudget(*cfg.SpoolMemoryBytes))
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	s = &Server{cfg: cfg, log: log, engine: eng, endpoint: endpoint, gather: set.Gatherer, metrics: m,
		creds: creds, guard: newGuard(strings.Fields(string(funcs)), cfg.Limits), spool: sp,
		slots: make(chan struct{}, cfg.MaxConcurrentQueries), queueWait: queueWait, hostname: strings.ToLower(hostname)}
	s.formatted, _ = lru.New[string, string](formattedQueries) // only fails for a size under 1
	s.sessions = newSessionPool(cfg.MaxConcurrentQueries)
	if err := s.loadTimezone(); err != nil {
		sp.remove()
		return nil, err
	}
	if *cfg.MergeNice > 0 {
		eng.NiceThreads(mergeThreadName, *cfg.MergeNice)
	}
	return s, nil
}

// Credentials are the endpoint's users, for the parts of flowlens that
// connect to it in this process.
func (s *Server) Credentials() Credentials { return s.creds }

// Engine is the engine behind the endpoint, for in-process callers.
func (s *Server) Engine() *chdb.Engine { return s.engine }

// Start binds the address and serves in the background until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Ok.\n")) })
	mux.HandleFunc("/replicas_status", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Ok.\n")) })
	// Not part of ClickHouse's HTTP interface, but harmless there: the
	// endpoint's own metrics, next to the port it measures.
	mux.Handle("/metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", s.handleQuery)
	srv, err := s.endpoint.Serve(ctx, "ClickHouse HTTP endpoint", &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: s.cfg.ReadTimeout, WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout}, s.log)
	if err != nil {
		return err
	}
	s.http = srv
	s.log.Info("ClickHouse HTTP endpoint listening", zap.String("addr", srv.Addr()), zap.String("url", srv.URL()), zap.String("data_dir", s.engine.Dir()))
	return nil
}

// Addr is the bound address (host:port), after Start; the configured one
// before.
func (s *Server) Addr() string {
	if s.http == nil {
		return s.cfg.HTTP.Listen
	}
	return s.http.Addr()
}

// URL is the endpoint's base URL (https with TLS), after Start.
func (s *Server) URL() string {
	return s.endpoint.Scheme() + "://" + s.Addr()
}

// Shutdown stops accepting requests, waits for running ones (until ctx ends)
// and closes the engine. Safe to call without Start and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop ClickHouse HTTP endpoint: %w", err))
		}
		s.sessions.close()
		errs = append(errs, s.engine.Close())
		s.spool.remove()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// spoolBudget is the spooler's RAM budget for spool_memory_bytes: none
// (-1) for 0.
func spoolBudget(b bytesize.Size) int64 {
	if b == 0 {
		return -1
	}
	return int64(b)
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
