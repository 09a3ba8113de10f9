package flowgraph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/kafkain"
	"github.com/flowlens/flowlens/flowgraph/metrics"
	"github.com/flowlens/flowlens/flowgraph/pairing"
	"github.com/flowlens/flowlens/flowgraph/rollup"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Store is the storage the service writes rollups to and reads graphs from;
// *storage.Store implements it.
type Store interface {
	InsertEdgeRollups(ctx context.Context, rows []flowmodel.EdgeRollup, dedupToken string) error
	QueryEdges(ctx context.Context, from, to time.Time, service string) ([]flowmodel.EdgeAggregate, error)
}

// Settings are the service's dependencies. Its metrics are registered on
// Registerer and /metrics serves Gatherer (the rules evaluator of
// flowlens up reads them from there too).
type Settings struct {
	component.Settings
	// Store may be nil: metrics and the in-memory graph only.
	Store Store
}

// tickInterval is how often idle shards expire waiting halves.
const tickInterval = time.Second

// Service is `flowlens flowgraph`: consumer, analyzer, rollups, HTTP.
// Lifecycle: Start returns once listening; Shutdown is safe without Start
// and twice.
type Service struct {
	cfg      Config
	log      *zap.Logger
	store    Store
	analyzer *Analyzer
	consumer *kafkain.Consumer
	flusher  *rollup.Flusher
	endpoint *listener.Endpoint
	handler  http.Handler
	srv      *listener.Server

	cancel    context.CancelFunc
	consumeMu sync.Mutex
	runDone   chan struct{}
	bgDone    sync.WaitGroup
	stopOnce  sync.Once
	stopErr   error
}

// New applies the config's defaults, checks it and builds the service;
// Start runs it.
func New(cfg Config, set Settings) (*Service, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flow analyzer config: %w", err)
	}
	set.Settings = set.Settings.WithDefaults()
	endpoint, err := listener.Load(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("flow analyzer config: %w", err)
	}
	reg := set.Registerer
	s := &Service{cfg: cfg, log: set.Logger, store: set.Store, endpoint: endpoint, analyzer: NewAnalyzer(cfg)}
	if err := component.Register(reg, "flow analyzer", metrics.New(s.analyzer, metrics.Options{Instance: cfg.Instance})); err != nil {
		return nil, err
	}
	if len(cfg.Kafka.Brokers) > 0 {
		logs, dead := cfg.LogsTopic, cfg.DeadLetterTopic
		if logs == "-" {
			logs = ""
		}
		if dead == "-" {
			dead = ""
		}
		c, err := kafkain.New(kafkain.Config{Client: cfg.Kafka, SpansTopic: cfg.SpansTopic, LogsTopic: logs,
			GroupID: cfg.GroupID, Workers: cfg.Shards, Instance: cfg.Instance, Handoff: s.handoff, DeadLetterTopic: dead},
			s.analyzer, s.log, reg)
		if err != nil {
			return nil, err
		}
		s.consumer = c
	}
	var w rollup.Writer = discard{}
	if s.store != nil {
		w = s.store
	}
	s.flusher, err = rollup.New(rollup.Config{Instance: cfg.Instance, Interval: cfg.Rollup.FlushInterval,
		Offset: min(cfg.Store.Wait+2*tickInterval, cfg.Rollup.FlushInterval/2)},
		s.analyzer.DrainRollups, w, s.log, reg)
	if err != nil {
		return nil, err
	}
	s.flusher.OnFlushed = s.flushed

	mux := http.NewServeMux()
	var q api.EdgeQuerier
	if s.store != nil {
		q = s.store
	}
	apiOpt := api.Options{Store: q, Live: s.analyzer, Log: s.log}
	if s.store != nil {
		apiOpt.Unflushed = s // the graph adds what the rollups do not hold yet
	}
	h := api.New(apiOpt)
	mux.Handle("/api/", h)
	mux.Handle("GET /metrics", promhttp.HandlerFor(set.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.handler = mux
	return s, nil
}

// WithUnflushed implements api.Unflushed: fn gets the rollup rows this
// analyzer has counted and not stored yet, while no flush runs.
func (s *Service) WithUnflushed(fn func(rows []flowmodel.EdgeRollup)) {
	s.flusher.Hold(func(pending []flowmodel.EdgeRollup) {
		fn(append(pending, edges.Rows(s.analyzer.PendingRollups())...))
	})
}

type discard struct{}

func (discard) InsertEdgeRollups(context.Context, []flowmodel.EdgeRollup, string) error { return nil }

// Assigned is the number of Kafka partitions this instance consumes now.
func (s *Service) Assigned() int {
	if s.consumer == nil {
		return 0
	}
	return s.consumer.Assigned()
}

// Analyzer is the in-memory core (tests and `flowlens up` read it).
func (s *Service) Analyzer() *Analyzer { return s.analyzer }

// Addr is the HTTP address after Start ("" when off).
func (s *Service) Addr() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.Addr()
}

// URL is the base URL of the API after Start ("" when off).
func (s *Service) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL()
}

// Breakers reads every circuit breaker's live state, as the API's
// /api/v1/breakers answers: the console of flowlens up asks here, in
// process.
func (s *Service) Breakers(context.Context) ([]api.Breaker, error) {
	out := []api.Breaker{}
	for _, b := range s.analyzer.Breakers() {
		out = append(out, api.BreakerOf(b))
	}
	return out, nil
}

func (s *Service) String() string { return "flow analyzer" }

// flushed commits the offsets whose contributions the flush just stored.
func (s *Service) flushed(drainedAt time.Time) {
	if s.consumer == nil {
		return
	}
	cutoff := drainedAt.Add(-s.cfg.Store.Wait - 2*tickInterval)
	if err := s.consumer.CommitProcessedBefore(cutoff); err != nil {
		s.log.Warn("commit offsets failed; retrying after the next flush", zap.Error(err))
	}
}

// handoff runs when the consumer gives up its partitions: every wait ends
// and the rollups are written, so the committed offsets cover exactly what
// was counted.
func (s *Service) handoff(ctx context.Context) error {
	s.analyzer.FlushStore()
	if err := s.flusher.Flush(ctx); err != nil {
		// the offsets stay uncommitted and the next owner counts these
		// messages again: writing them later from here would count twice
		rows := s.flusher.DiscardPending()
		return fmt.Errorf("flush at handoff (discarded %d rollup rows the next owner recounts): %w", rows, err)
	}
	return nil
}

// Start listens and starts consuming in the background.
func (s *Service) Start(ctx context.Context) error {
	if s.endpoint.On() {
		srv, err := s.endpoint.Serve(ctx, "flow analyzer's API", &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}, s.log)
		if err != nil {
			return err
		}
		s.srv = srv
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.bgDone.Add(2)
	go func() {
		defer s.bgDone.Done()
		s.flusher.Run(bg)
	}()
	go func() {
		defer s.bgDone.Done()
		t := time.NewTicker(tickInterval)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case now := <-t.C:
				s.analyzer.Tick(now)
			}
		}
	}()
	s.runDone = make(chan struct{})
	go func() {
		defer close(s.runDone)
		if s.consumer == nil {
			return
		}
		for bg.Err() == nil {
			err := s.consumer.Run(bg)
			if bg.Err() != nil {
				return
			}
			s.log.Warn("kafka consumer stopped; restarting in 1s", zap.Error(err))
			select {
			case <-bg.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	s.log.Info("flowgraph started", zap.String("http", s.URL()), zap.Strings("brokers", s.cfg.Kafka.Brokers),
		zap.String("group", s.cfg.GroupID), zap.Int("shards", s.analyzer.Shards()), zap.Bool("storage", s.store != nil))
	return nil
}

// Shutdown stops consuming (the consumer's handoff ends every wait, writes
// the last rollups and commits what they cover before leaving the group),
// flushes what is left and stops the HTTP server. Safe without Start and
// twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.cancel == nil { // never started, or Start failed before anything ran
			s.stopErr = s.srv.Shutdown(ctx)
			return
		}
		s.cancel()
		<-s.runDone
		var errs []error
		if s.consumer != nil {
			if err := s.consumer.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close dead-letter writer: %w", err))
			}
		}
		s.analyzer.FlushStore()
		if err := s.flusher.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("final rollup flush: %w", err))
		}
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		s.bgDone.Wait()
		s.stopErr = errors.Join(errs...)
		st := s.analyzer.Stats()
		s.log.Info("flowgraph stopped", zap.Uint64("spans", st.Spans), zap.Int("edges", st.Edges),
			zap.Uint64("paired", st.Outcomes[pairing.OutcomePaired]), zap.Uint64("expired", st.Outcomes[pairing.OutcomeExpired]),
			zap.Uint64("evicted", st.Outcomes[pairing.OutcomeEvicted]), zap.Error(s.stopErr))
	})
	return s.stopErr
}
