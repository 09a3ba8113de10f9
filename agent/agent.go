package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/otlpin"
	"github.com/flowlens/flowlens/agent/syslogin"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
)

// Settings are the agent's dependencies.
type Settings struct {
	component.Settings
	// Version is the agent's version, in the records it builds.
	Version string
}

// Agent is one running agent.
type Agent struct {
	cfg      Config
	log      *zap.Logger
	version  string
	wal      *buffer.WAL
	fwd      *forward.Forwarder
	recv     *otlpin.Receiver
	tailers  []namedTailer
	counters fileCounters
	metrics  *listener.Endpoint
	gather   prometheus.Gatherer
	book     *ledger.Book      // nil: the ledger is off
	reports  *ledger.Publisher // nil: the ledger is off
	repDone  chan struct{}     // closed when the publisher's loop ended
	stopRep  context.CancelFunc

	// the journald, container and syslog sources (nil: off)
	journal    *journaldSource
	containers *containerSource
	syslog     *syslogin.Server
	syslogOut  *syslogOutputs

	mu         sync.Mutex
	startedAt  time.Time
	metricsSrv *listener.Server
	started    bool
	stopSrcs   context.CancelFunc
	stopFwd    context.CancelFunc
	srcWG      sync.WaitGroup
	fwdDone    chan struct{}
	failed     chan error
	stopped    chan struct{} // closed by Shutdown
	stopOnce   sync.Once
	stopErr    error
	failMu     sync.Mutex
	runErr     error // why the agent stopped working on its own
}

type namedTailer struct {
	name    string
	kind    string   // files or containers, for status
	include []string // what it reads, for status
	t       *tail.Tailer
}

// New applies the config's defaults, checks it (reporting every mistake),
// compiles its service rules, and opens the disk buffer and the
// checkpoints. Nothing listens before Start. The agent's metrics are
// registered on set.Registerer and served on /metrics (set.Gatherer).
func New(cfg Config, set Settings) (_ *Agent, err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if err := cfg.compileServiceRules(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	set.Settings = set.Settings.WithDefaults()
	log := set.Logger
	metricsEndpoint, err := listener.Load(cfg.Metrics.Config)
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", config.Nest("metrics", err))
	}
	a := &Agent{cfg: cfg, log: log, version: set.Version, metrics: metricsEndpoint, gather: set.Gatherer,
		failed: make(chan error, 1), stopped: make(chan struct{}), fwdDone: make(chan struct{})}
	wal, err := buffer.Open(filepath.Join(cfg.DataDir, "buffer"), cfg.Buffer, log.Named("buffer"))
	if err != nil {
		return nil, fmt.Errorf("open disk buffer: %w", err)
	}
	a.wal = wal
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	var fwdLedger forward.Ledger
	if cfg.Ledger.On() {
		if a.book, a.reports, err = newLedger(cfg, log.Named("ledger")); err != nil {
			return nil, err
		}
		fwdLedger = a.book
	}
	fwd, err := forward.New(cfg.Kafka, wal, fwdLedger, log.Named("kafka"))
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	a.fwd = fwd
	for i := range cfg.Files {
		fs := &a.cfg.Files[i]
		src, err := newFileSource(fs, &a.cfg, wal, &a.counters, set.Version)
		if err != nil {
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		src.ledger = a.book
		t, err := tail.New(fs.Config, filepath.Join(cfg.DataDir, "checkpoints", fs.Name+".json"), src.handler, log.Named("files").With(zap.String("source", fs.Name)))
		if err != nil {
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		a.tailers = append(a.tailers, namedTailer{name: fs.Name, kind: "files", include: fs.Include, t: t})
	}
	if cfg.Journald != nil {
		if a.journal, err = newJournaldSource(a.cfg.Journald, &a.cfg, wal, set.Version, log.Named("journald")); err != nil {
			return nil, err
		}
		a.journal.w.ledger = a.book
	}
	if cfg.Containers != nil {
		cs, err := newContainerSource(a.cfg.Containers, &a.cfg, wal, set.Version)
		if err != nil {
			return nil, fmt.Errorf("agent config: %w", config.Nest("containers", err))
		}
		cs.ledger = a.book
		t, err := tail.New(a.cfg.Containers.Config, filepath.Join(cfg.DataDir, "checkpoints", "containers.d", "checkpoints.json"), cs.handler, log.Named("containers"))
		if err != nil {
			return nil, fmt.Errorf("containers: %w", err)
		}
		a.containers = cs
		a.tailers = append(a.tailers, namedTailer{name: containersSourceName, kind: "containers", include: a.cfg.Containers.Config.Include, t: t})
	}
	if cfg.Syslog != nil {
		a.syslogOut = newSyslogOutputs(a.cfg.Syslog, &a.cfg, wal, set.Version)
		a.syslogOut.ledger = a.book
		if a.syslog, err = syslogin.New(*a.cfg.Syslog, syslogin.Settings{Settings: component.Settings{Logger: log.Named("syslog")}, NewOutput: a.syslogOut.newOutput}); err != nil {
			return nil, fmt.Errorf("agent config: %w", config.Nest("syslog", err))
		}
	}
	if cfg.OTLP.GRPC.On() || cfg.OTLP.HTTP.On() {
		sink := newOTLPSink(wal, int(cfg.Kafka.MaxRequestBytes)-1024, cfg.PartitionLogsByTraceID)
		sink.ledger = a.book
		if a.recv, err = otlpin.New(cfg.OTLP, otlpin.Settings{Settings: component.Settings{Logger: log.Named("otlp")}, Sink: sink}); err != nil {
			return nil, fmt.Errorf("agent config: %w", config.Nest("otlp", err))
		}
	}
	// last: the metrics read everything above
	if err := component.Register(set.Registerer, "agent", agentMetrics{a}); err != nil {
		return nil, err
	}
	return a, nil
}

// containersSourceName names the container logs' tailer in metrics.
const containersSourceName = "containers"

// closeAll releases what New opened: the tailers' checkpoints and the
// disk buffer.
func (a *Agent) closeAll() error {
	var errs []error
	if a.wal != nil {
		if err := a.wal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close disk buffer: %w", err))
		}
	}
	for _, t := range a.tailers {
		if err := t.t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("write checkpoints of %s: %w", t.name, err))
		}
	}
	if a.journal != nil {
		// after the buffer's last fsync: the cursor of what it holds
		errs = append(errs, a.journal.saveCursor())
	}
	return errors.Join(errs...)
}

// MetricsAddr is the bound /metrics address ("" before Start or when off).
func (a *Agent) MetricsAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metricsSrv == nil {
		return ""
	}
	return a.metricsSrv.Addr()
}

// Receiver is the OTLP receiver (nil when both protocols are off).
func (a *Agent) Receiver() *otlpin.Receiver { return a.recv }

// Syslog is the syslog receiver (nil when the agent has no syslog section).
func (a *Agent) Syslog() *syslogin.Server { return a.syslog }

// Failed delivers why the agent stopped working on its own (its disk
// buffer failed an fsync, or its forwarder could no longer read or
// acknowledge the buffer); the caller then shuts it down and exits
// non-zero, so that a service manager restarts it and it reads the buffer
// back from disk.
func (a *Agent) Failed() <-chan error { return a.failed }

// fail reports why the agent stopped working, once.
func (a *Agent) fail(err error) {
	a.failMu.Lock()
	defer a.failMu.Unlock()
	if a.runErr == nil {
		a.runErr = err
		a.failed <- err
	}
}

// Start serves /metrics and the OTLP receivers, and starts the file
// readers and the forwarder in the background. It returns once everything
// listens.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("agent already started")
	}
	a.started = true
	a.startedAt = time.Now()
	if a.metrics.On() {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", a.healthz)
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(a.Status(r.Context()))
		})
		srv, err := a.metrics.Serve(ctx, "agent's metrics", &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, a.log)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		a.metricsSrv = srv
	}
	if a.recv != nil {
		if err := a.recv.Start(ctx); err != nil {
			return err
		}
	}
	if a.syslog != nil {
		if err := a.syslog.Start(ctx); err != nil {
			return err
		}
	}
	// The sources and the forwarder run until Shutdown, on contexts of
	// their own: ctx only bounds the start.
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	fwdCtx, stopFwd := context.WithCancel(context.WithoutCancel(ctx))
	a.stopSrcs, a.stopFwd = stopSources, stopFwd
	if a.reports != nil {
		repCtx, stopRep := context.WithCancel(context.WithoutCancel(ctx))
		a.stopRep, a.repDone = stopRep, make(chan struct{})
		go func() {
			defer close(a.repDone)
			a.reports.Run(repCtx)
		}()
	}
	go func() {
		defer close(a.fwdDone)
		if err := a.fwd.Run(fwdCtx); err != nil {
			a.log.Error("kafka forwarder failed; stopping", zap.Error(err))
			a.fail(err)
		}
	}()
	go func() {
		select {
		case <-a.wal.Failed():
			// Nothing can be made durable any more: stop (what is durable
			// is sent first).
			err := fmt.Errorf("disk buffer failed: %w", a.wal.Err())
			a.log.Error("disk buffer failed; stopping (what is durable is sent first)", zap.Error(err))
			a.fail(err)
		case <-a.stopped:
		}
	}()
	for _, t := range a.tailers {
		a.srcWG.Add(1)
		go func(t *tail.Tailer) {
			defer a.srcWG.Done()
			_ = t.Run(srcCtx)
		}(t.t)
	}
	if a.journal != nil {
		a.srcWG.Add(1)
		go func() {
			defer a.srcWG.Done()
			if err := a.journal.run(srcCtx); err != nil {
				a.journal.lastErr.Store(&sourceError{at: time.Now(), err: err})
				a.log.Error("journald source stopped", zap.Error(err))
			}
		}()
	}
	metricsAddr := ""
	if a.metricsSrv != nil {
		metricsAddr = a.metricsSrv.Addr()
	}
	a.log.Info("agent started", zap.String("data_dir", a.cfg.DataDir), zap.Int("file_sources", len(a.tailers)),
		zap.String("otlp_grpc", a.recvAddr(true)), zap.String("otlp_http", a.recvAddr(false)),
		zap.Strings("kafka", a.cfg.Kafka.Brokers), zap.String("metrics", metricsAddr))
	return nil
}

// Shutdown stops in the order that keeps the guarantee: receivers stop
// answering, file readers read their files to the end and hand that over,
// the forwarder sends what the buffer holds while Kafka takes it (within
// shutdownGrace, or until ctx ends), the buffer fsyncs (committing
// checkpoints), the checkpoints are written. The error includes why the
// forwarder stopped, if it stopped on its own. Safe without Start and
// twice.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		started := a.started
		a.started = true // a Start after Shutdown does nothing
		a.mu.Unlock()
		if !started {
			a.stopErr = a.closeAll()
			return
		}
		a.stopErr = a.shutdown(ctx)
	})
	return a.stopErr
}

func (a *Agent) shutdown(ctx context.Context) error {
	close(a.stopped)
	shCtx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	var errs []error
	if a.recv != nil {
		if err := a.recv.Shutdown(shCtx); err != nil {
			errs = append(errs, fmt.Errorf("stop otlp receivers: %w", err))
		}
	}
	if a.syslog != nil {
		// its connections hand over what they read, as the files do
		if err := a.syslog.Shutdown(shCtx); err != nil {
			errs = append(errs, fmt.Errorf("stop syslog receiver: %w", err))
		}
	}
	if a.stopSrcs == nil { // Start failed before the sources ran
		errs = append(errs, a.stopMetrics(), a.closeAll())
		return errors.Join(errs...)
	}
	a.stopSrcs() // the readers read their files to the end first
	a.srcWG.Wait()
	// What the sources handed over last goes to Kafka now, not at the next
	// start: while Kafka takes it, within the grace.
	a.fwd.Drain()
	select {
	case <-a.fwdDone:
	case <-shCtx.Done():
	}
	a.stopFwd()
	<-a.fwdDone
	if left := a.wal.Stats(); left.Records > 0 {
		a.log.Warn("records not sent to Kafka before stopping stay in the disk buffer; they are sent at the next start",
			zap.Int64("records", left.Records), zap.Int64("bytes", left.Bytes))
	}
	a.flushLedger(ctx)
	a.failMu.Lock()
	errs = append(errs, a.runErr)
	a.failMu.Unlock()
	errs = append(errs, a.closeAll(), a.stopMetrics())
	a.log.Info("agent stopped")
	return errors.Join(errs...)
}

func (a *Agent) stopMetrics() error {
	a.mu.Lock()
	srv := a.metricsSrv
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return nil
}

func (a *Agent) recvAddr(grpc bool) string {
	if a.recv == nil {
		return ""
	}
	if grpc {
		return a.recv.GRPCAddr()
	}
	return a.recv.HTTPAddr()
}

// healthz: 200 while the agent accepts data (Kafka may be down: the buffer
// takes it), 503 when the buffer can no longer take data: full, or failed
// (an fsync failed; the agent is stopping).
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	ws := a.wal.Stats()
	fs := a.fwd.Stats()
	full := a.cfg.Buffer.WhenFull == buffer.PolicyBlock && a.wal.Full(64<<10)
	body := map[string]any{
		"buffer_bytes":    ws.Bytes,
		"buffer_max":      int64(a.cfg.Buffer.MaxSize),
		"buffer_full":     full,
		"kafka_connected": fs.Connected,
		"kafka_error":     fs.LastError,
	}
	status := http.StatusOK
	body["status"] = "ok"
	if full {
		status = http.StatusServiceUnavailable
		body["status"] = "buffer full"
	}
	if err := a.wal.Err(); err != nil {
		status = http.StatusServiceUnavailable
		body["status"] = "buffer failed"
		body["buffer_error"] = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// newLedger builds the ledger's book and the producer of its reports.
func newLedger(cfg Config, log *zap.Logger) (*ledger.Book, *ledger.Publisher, error) {
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, nil, fmt.Errorf("ledger producer: %w", err)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Kafka.Brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.Kafka.Linger,
		MaxAttempts:  1, // the next report retries
		WriteTimeout: cfg.Kafka.WriteTimeout,
		ReadTimeout:  cfg.Kafka.WriteTimeout,
		Transport:    tr,
	}
	book := ledger.NewBook(cfg.hostName(), cfg.Ledger.Interval)
	return book, ledger.NewPublisher(book, w, cfg.Kafka.Topics.Ledger, cfg.Ledger.ReportEvery, log), nil
}

// flushLedger publishes the last counts, after the forwarder stopped:
// what it sent while draining is in them.
func (a *Agent) flushLedger(ctx context.Context) {
	if a.reports == nil {
		return
	}
	a.stopRep()
	<-a.repDone
	// a budget of its own: draining may have used the whole grace
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.reports.Flush(ctx); err != nil {
		a.log.Warn("ledger: the last counts were not published; the ledger will show this run's last interval short", zap.Error(err))
	}
	// Close waits for the produce calls in flight (up to write_timeout
	// with Kafka away): the same budget bounds how long Shutdown waits.
	closed := make(chan struct{})
	go func() {
		_ = a.reports.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
}
