package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/otlpin"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

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
	metrics  *http.Server
	metricLn net.Listener
	reg      *prometheus.Registry
}

type namedTailer struct {
	name string
	t    *tail.Tailer
}

// New opens the disk buffer and the checkpoints; cfg must be defaulted and
// validated (config.Load does both). Nothing listens before Run.
func New(cfg Config, log *zap.Logger, version string) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, version: version}
	wal, err := buffer.Open(filepath.Join(cfg.DataDir, "buffer"), cfg.Buffer, log.Named("buffer"))
	if err != nil {
		return nil, fmt.Errorf("open disk buffer: %w", err)
	}
	a.wal = wal
	fwd, err := forward.New(cfg.Kafka, wal, log.Named("kafka"))
	if err != nil {
		wal.Close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	a.fwd = fwd
	for i := range cfg.Files {
		fs := &a.cfg.Files[i]
		src, err := newFileSource(fs, &a.cfg, wal, &a.counters, version)
		if err != nil {
			a.closeAll()
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		t, err := tail.New(fs.Config, filepath.Join(cfg.DataDir, "checkpoints", fs.Name+".json"), src.handler, log.Named("files").With(zap.String("source", fs.Name)))
		if err != nil {
			a.closeAll()
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		a.tailers = append(a.tailers, namedTailer{name: fs.Name, t: t})
	}
	if cfg.OTLP.GRPC.On() || cfg.OTLP.HTTP.On() {
		sink := newOTLPSink(wal, int(cfg.Kafka.MaxRequestBytes)-1024, cfg.PartitionLogsByTraceID)
		a.recv = otlpin.New(cfg.OTLP, sink, log.Named("otlp"))
	}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(agentMetrics{a}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return a, nil
}

func (a *Agent) closeAll() {
	for _, t := range a.tailers {
		_ = t.t.Close()
	}
	_ = a.wal.Close()
}

// Registry is the agent's metrics registry (served on /metrics).
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// MetricsAddr is the bound /metrics address ("" before Run or when off).
func (a *Agent) MetricsAddr() string {
	if a.metricLn == nil {
		return ""
	}
	return a.metricLn.Addr().String()
}

// Receiver is the OTLP receiver (nil when both protocols are off).
func (a *Agent) Receiver() *otlpin.Receiver { return a.recv }

// Run starts everything and runs until ctx is done, then shuts down in the
// order that keeps the guarantee: receivers stop answering, file readers
// read their files to the end and hand that over, the forwarder sends what
// the buffer holds while Kafka takes it (within shutdownGrace), the buffer
// fsyncs (committing checkpoints), the checkpoints are written.
func (a *Agent) Run(ctx context.Context) error {
	return a.RunReady(ctx, nil)
}

// RunReady is Run, calling ready (if not nil) once everything listens.
func (a *Agent) RunReady(ctx context.Context, ready func()) error {
	if a.cfg.Metrics.Endpoint != "off" {
		ln, err := net.Listen("tcp", a.cfg.Metrics.Endpoint)
		if err != nil {
			a.closeAll()
			return fmt.Errorf("metrics listen %s: %w", a.cfg.Metrics.Endpoint, err)
		}
		a.metricLn = ln
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", a.healthz)
		a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = a.metrics.Serve(ln) }()
	}
	if a.recv != nil {
		if err := a.recv.Start(); err != nil {
			a.stopMetrics()
			a.closeAll()
			return err
		}
	}
	srcCtx, stopSources := context.WithCancel(context.Background())
	fwdCtx, stopFwd := context.WithCancel(context.Background())
	defer stopSources()
	defer stopFwd()

	var srcWG, fwdWG sync.WaitGroup
	fwdErr := make(chan error, 1)
	fwdWG.Add(1)
	go func() {
		defer fwdWG.Done()
		if err := a.fwd.Run(fwdCtx); err != nil {
			fwdErr <- err
		}
	}()
	for _, t := range a.tailers {
		srcWG.Add(1)
		go func(t *tail.Tailer) {
			defer srcWG.Done()
			_ = t.Run(srcCtx)
		}(t.t)
	}
	a.log.Info("agent started", zap.String("data_dir", a.cfg.DataDir), zap.Int("file_sources", len(a.tailers)),
		zap.String("otlp_grpc", a.recvAddr(true)), zap.String("otlp_http", a.recvAddr(false)),
		zap.Strings("kafka", a.cfg.Kafka.Brokers), zap.String("metrics", a.MetricsAddr()))
	if ready != nil {
		ready()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fwdErr:
		a.log.Error("kafka forwarder failed; stopping", zap.Error(runErr))
	case <-a.wal.Failed():
		// Nothing can be made durable any more: stop, and exit non-zero
		// so that the service manager restarts the agent, which reads
		// the buffer back from disk.
		runErr = fmt.Errorf("disk buffer failed: %w", a.wal.Err())
		a.log.Error("disk buffer failed; stopping (what is durable is sent first)", zap.Error(runErr))
	}

	// shutdown
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if a.recv != nil {
		a.recv.Shutdown(shCtx)
	}
	stopSources() // the readers read their files to the end first
	srcWG.Wait()
	// What the sources handed over last goes to Kafka now, not at the next
	// start: while Kafka takes it, within the grace.
	a.fwd.Drain()
	fwdDone := make(chan struct{})
	go func() { fwdWG.Wait(); close(fwdDone) }()
	select {
	case <-fwdDone:
	case <-shCtx.Done():
	}
	stopFwd()
	<-fwdDone
	if left := a.wal.Stats(); left.Records > 0 {
		a.log.Warn("records not sent to Kafka before stopping stay in the disk buffer; they are sent at the next start",
			zap.Int64("records", left.Records), zap.Int64("bytes", left.Bytes))
	}
	var errs []error
	errs = append(errs, runErr)
	if err := a.wal.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close disk buffer: %w", err))
	}
	for _, t := range a.tailers {
		if err := t.t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("write checkpoints of %s: %w", t.name, err))
		}
	}
	a.stopMetrics()
	a.log.Info("agent stopped")
	return errors.Join(errs...)
}

func (a *Agent) stopMetrics() {
	if a.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = a.metrics.Shutdown(ctx)
	}
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
