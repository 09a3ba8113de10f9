package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
)

// LoadFunc reads the config (the file named on the command line).
type LoadFunc func() (Config, error)

// Service runs the agent of a config file and replaces it with the
// file's new content on Reload (SIGHUP, `flowlens-agent reload`), and
// serves the status socket. A reload stops the running agent the way a
// shutdown does (files read to their end and handed over, buffer fsynced,
// checkpoints written) and starts one on the new config from the same
// buffer and checkpoints: nothing is lost or read twice. A new config that
// does not load or validate, or changes what a reload cannot (data_dir,
// status.socket), is refused and the running agent goes on.
type Service struct {
	load LoadFunc
	set  Settings
	log  *zap.Logger

	mu      sync.Mutex // serialises Start, Reload and Shutdown
	cfg     Config
	cur     atomic.Pointer[runningAgent]
	started bool
	stopped bool
	status  *http.Server
	sockLn  net.Listener

	failed     chan error
	lastReload atomic.Pointer[ReloadStatus]
}

// runningAgent is one generation of the agent with the metrics it registered.
type runningAgent struct {
	a       *Agent
	metrics []prometheus.Collector
	done    chan struct{} // closed once it is shut down
}

// NewService loads the config and builds its agent (Agent.New: nothing
// listens before Start).
func NewService(load LoadFunc, set Settings) (*Service, error) {
	set.Settings = set.Settings.WithDefaults()
	s := &Service{load: load, set: set, log: set.Logger, failed: make(chan error, 1)}
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	ra, err := s.newAgent(cfg)
	if err != nil {
		return nil, err
	}
	s.cfg = ra.a.cfg
	s.cur.Store(ra)
	if err := set.Registerer.Register(currentMetrics{s}); err != nil {
		_ = ra.a.Shutdown(context.Background())
		return nil, fmt.Errorf("register agent metrics: %w", err)
	}
	return s, nil
}

func (s *Service) newAgent(cfg Config) (*runningAgent, error) {
	ra := &runningAgent{done: make(chan struct{})}
	set := s.set
	// the agent's own collector is collected through currentMetrics, so
	// that the next generation can take its place in the registry
	set.Registerer = collectorsOf{&ra.metrics}
	a, err := New(cfg, set)
	if err != nil {
		return nil, err
	}
	ra.a = a
	return ra, nil
}

// Agent is the agent running now.
func (s *Service) Agent() *Agent { return s.cur.Load().a }

// Failed delivers why the running agent stopped working on its own.
func (s *Service) Failed() <-chan error { return s.failed }

// Start serves the status socket and starts the agent.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("agent already started")
	}
	s.started = true
	if err := s.startAgent(ctx, s.cur.Load()); err != nil {
		return err
	}
	if sock := s.cfg.StatusSocket(); sock != "off" {
		if err := s.serveStatus(sock); err != nil {
			return fmt.Errorf("status socket: %w", err)
		}
	}
	return nil
}

func (s *Service) startAgent(ctx context.Context, ra *runningAgent) error {
	if err := ra.a.Start(ctx); err != nil {
		return err
	}
	go func() {
		select {
		case err := <-ra.a.Failed():
			select {
			case s.failed <- err:
			default:
			}
		case <-ra.done:
		}
	}()
	return nil
}

func (s *Service) stopAgent(ctx context.Context, ra *runningAgent) error {
	err := ra.a.Shutdown(ctx)
	close(ra.done)
	return err
}

// Reload reads the config again and, when it is valid, replaces the
// running agent with one on it. A refused config leaves the running agent
// as it was; the error says why.
func (s *Service) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.reload(ctx)
	rs := &ReloadStatus{At: time.Now()}
	if err != nil {
		rs.Error = err.Error()
		s.log.Error("reload refused; the running config is kept", zap.Error(err))
	}
	s.lastReload.Store(rs)
	return err
}

func (s *Service) reload(ctx context.Context) error {
	if !s.started || s.stopped {
		return errors.New("the agent is not running")
	}
	cfg, err := s.load()
	if err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	if cfg.DataDir != s.cfg.DataDir {
		return config.Errorf("data_dir", "changed from %s to %s: the disk buffer and checkpoints cannot move on a reload; restart the agent", s.cfg.DataDir, cfg.DataDir)
	}
	if cfg.StatusSocket() != s.cfg.StatusSocket() {
		return config.Errorf("status.socket", "changed from %s to %s: restart the agent to move it", s.cfg.StatusSocket(), cfg.StatusSocket())
	}
	old := s.cur.Load()
	s.log.Info("reloading: stopping the running agent (it hands over what it read)")
	if err := s.stopAgent(ctx, old); err != nil {
		s.log.Warn("the running agent stopped with an error", zap.Error(err))
	}
	ra, err := s.newAgent(cfg)
	if err == nil {
		if err = s.startAgent(ctx, ra); err != nil {
			_ = s.stopAgent(ctx, ra)
		}
	}
	if err != nil {
		// e.g. a port taken: go back to what ran
		back, berr := s.newAgent(s.cfg)
		if berr == nil {
			if berr = s.startAgent(ctx, back); berr == nil {
				s.cur.Store(back)
				return fmt.Errorf("start on the new config: %w (the previous config runs again)", err)
			}
		}
		s.fail(fmt.Errorf("start on the new config: %w; and again on the previous one: %w", err, berr))
		return err
	}
	s.cfg = ra.a.cfg
	s.cur.Store(ra)
	s.log.Info("reloaded the config")
	return nil
}

func (s *Service) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// Status is the running agent's status with the last reload's outcome.
func (s *Service) Status(ctx context.Context) Status {
	st := s.cur.Load().a.Status(ctx)
	st.Reload = s.lastReload.Load()
	return st
}

// Shutdown stops the status socket and the agent. Safe without Start and twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	if s.status != nil {
		_ = s.status.Close()
		_ = os.Remove(s.cfg.StatusSocket())
	}
	errs = append(errs, s.stopAgent(ctx, s.cur.Load()))
	s.set.Registerer.Unregister(currentMetrics{s})
	return errors.Join(errs...)
}

// serveStatus listens on the unix socket (0600): GET /status, POST /reload.
func (s *Service) serveStatus(path string) error {
	// a socket left by an agent that was killed
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return fmt.Errorf("%s: another agent answers there", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status(r.Context()))
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		// the reload runs to its end even if the client goes away
		err := s.Reload(context.WithoutCancel(r.Context()))
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "reloaded"})
	})
	s.status = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.sockLn = ln
	go func() { _ = s.status.Serve(ln) }()
	s.log.Info("status socket", zap.String("path", path))
	return nil
}

// check is what New checks of a config, without opening anything.
func (c *Config) check() error {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.compileServiceRules(); err != nil {
		return err
	}
	if _, err := listener.Load(c.Metrics.Config); err != nil {
		return config.Nest("metrics", err)
	}
	return nil
}

// collectorsOf is the Registerer an agent generation registers on: it
// keeps the collectors for currentMetrics.
type collectorsOf struct{ cs *[]prometheus.Collector }

func (r collectorsOf) Register(c prometheus.Collector) error {
	*r.cs = append(*r.cs, c)
	return nil
}

func (r collectorsOf) MustRegister(cs ...prometheus.Collector) {
	*r.cs = append(*r.cs, cs...)
}

func (r collectorsOf) Unregister(prometheus.Collector) bool { return false }

// currentMetrics collects the running generation's metrics (an unchecked
// collector: the set is the same in every generation).
type currentMetrics struct{ s *Service }

func (currentMetrics) Describe(chan<- *prometheus.Desc) {}

func (m currentMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.s.cur.Load().metrics {
		c.Collect(ch)
	}
}
