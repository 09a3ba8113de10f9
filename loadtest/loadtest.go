// Package loadtest runs the synthetic system of flowlens: a topology
// (loadtest/topology) played by the generator (loadtest/gen), its spans sent
// as OTLP/gRPC to an agent, its logs written as JSON files for the agent to
// tail, and the truth of what was emitted written to a file.
//
// `flowlens loadgen` is a thin wrapper over Run; `flowlens up` and the
// end-to-end tests call Run in a goroutine and cancel its context to stop
// an unbounded run.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/logfile"
	"github.com/flowlens/flowlens/loadtest/topology"
)

// Config of a load-generation run.
type Config struct {
	// Topology is a topology file; empty: the embedded shop.
	Topology string `yaml:"topology"`
	// Faults is an optional fault-schedule file, added to the topology's own.
	Faults string `yaml:"faults"`
	// Rate is root requests per second (default 50).
	Rate float64 `yaml:"rate"`
	// Duration and Count bound the run (whichever first); with neither, it
	// runs until its context ends.
	Duration time.Duration `yaml:"duration"`
	Count    uint64        `yaml:"count"`
	// Seed fixes the random choices and IDs; 0 picks one from the clock (the
	// truth file records it).
	Seed uint64 `yaml:"seed"`
	// NoPacing runs flat out with synthetic timestamps instead of sending
	// each request when the wall clock reaches its arrival time.
	NoPacing bool `yaml:"no_pacing"`
	// RunID is the flowlens.run attribute of the run's spans and logs
	// (default: the seed in hex).
	RunID string `yaml:"run_id"`
	// Start is the time of the first request (default: now).
	Start time.Time `yaml:"-"`

	OTLP OTLPConfig `yaml:"otlp"`

	// LogDir receives <service>.log files; empty: no logs.
	LogDir string `yaml:"log_dir"`
	// LogsPerSpan is the number of log lines per span (default 1; for none,
	// leave LogDir empty).
	LogsPerSpan int `yaml:"logs_per_span"`
	// RotateBytes rotates log files at this size (0: never).
	RotateBytes bytesize.Size `yaml:"rotate_bytes"`

	// TruthFile receives the truth as JSON at the end of the run (optional).
	TruthFile string `yaml:"truth_file"`
	// ProgressInterval is how often progress is reported (default 5s;
	// negative: only the final report).
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// OTLPConfig is where and how spans are sent.
type OTLPConfig struct {
	// Endpoint is the OTLP/gRPC host:port (default 127.0.0.1:4317); "-"
	// generates without sending (for measuring the generator alone).
	Endpoint string `yaml:"endpoint"`
	// Timeout of one export call (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// BatchSize is the spans per export request (default 1024).
	BatchSize int `yaml:"batch_size"`
	// QueueSize is the spans buffered before the generator blocks (default 32768).
	QueueSize int `yaml:"queue_size"`
	// BatchTimeout sends a partial batch after this long (default 200ms).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// RetryFor is how long a failed export is retried (default 1m; negative:
	// not retried).
	RetryFor time.Duration `yaml:"retry_for"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Rate == 0 {
		c.Rate = 50
	}
	if c.LogsPerSpan == 0 {
		c.LogsPerSpan = 1
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 5 * time.Second
	}
	o := &c.OTLP
	if o.Endpoint == "" {
		o.Endpoint = "127.0.0.1:4317"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1024
	}
	if o.QueueSize == 0 {
		o.QueueSize = 32768
	}
	if o.BatchTimeout == 0 {
		o.BatchTimeout = 200 * time.Millisecond
	}
	if o.RetryFor == 0 {
		o.RetryFor = time.Minute
	}
}

// Validate names the first bad field of each kind.
func (c *Config) Validate() error {
	var errs []error
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, config.Errorf("rate", "must be positive, got %v", c.Rate))
	}
	if c.Duration < 0 {
		errs = append(errs, config.Errorf("duration", "must not be negative, got %s", c.Duration))
	}
	if c.LogsPerSpan < 1 || c.LogsPerSpan > 100 {
		errs = append(errs, config.Errorf("logs_per_span", "must be 1..100, got %d", c.LogsPerSpan))
	}
	if c.RotateBytes < 0 {
		errs = append(errs, config.Errorf("rotate_bytes", "must not be negative, got %d", c.RotateBytes))
	}
	o := &c.OTLP
	if o.Endpoint != "-" {
		if _, _, err := net.SplitHostPort(o.Endpoint); err != nil {
			errs = append(errs, config.Errorf("otlp.endpoint", "%q must be host:port", o.Endpoint))
		}
	}
	if o.Timeout <= 0 {
		errs = append(errs, config.Errorf("otlp.timeout", "must be positive, got %s", o.Timeout))
	}
	if o.BatchSize < 1 {
		errs = append(errs, config.Errorf("otlp.batch_size", "must be positive, got %d", o.BatchSize))
	}
	if o.QueueSize < o.BatchSize {
		errs = append(errs, config.Errorf("otlp.queue_size", "must be at least batch_size (%d), got %d", o.BatchSize, o.QueueSize))
	}
	if o.BatchTimeout <= 0 {
		errs = append(errs, config.Errorf("otlp.batch_timeout", "must be positive, got %s", o.BatchTimeout))
	}
	return errors.Join(errs...)
}

// Progress is reported every ProgressInterval and once at the end.
type Progress struct {
	Elapsed      time.Duration
	Requests     uint64
	Spans        uint64 // generated
	Exported     uint64 // accepted by the OTLP endpoint
	ExportFailed uint64 // given up after retries
	Logs         uint64
	// Behind is how far a paced run lags its schedule (the generator or
	// the export cannot keep up with the rate); 0 when on time or unpaced.
	Behind         time.Duration
	SpansPerSec    float64 // over the last interval
	LogsPerSec     float64
	RequestsPerSec float64
	Final          bool
}

// Options are Run's dependencies; all optional.
type Options struct {
	Logger *zap.Logger
	// Registerer receives flowlens_loadgen_* metrics.
	Registerer prometheus.Registerer
	// OnProgress receives progress reports (default: logged at info).
	OnProgress func(Progress)
}

// LoadTopology returns the topology file's (or the embedded shop's)
// topology with the fault file's faults added.
func LoadTopology(topologyFile, faultsFile string) (*topology.Topology, error) {
	top := topology.Default()
	if topologyFile != "" {
		var err error
		if top, err = topology.Load(topologyFile); err != nil {
			return nil, err
		}
	}
	if faultsFile != "" {
		fs, err := topology.LoadFaults(faultsFile, top)
		if err != nil {
			return nil, err
		}
		top.Faults = append(top.Faults, fs...)
	}
	return top, nil
}

// Run plays the topology until the bound of cfg or until ctx ends (an
// unbounded run then returns no error), flushes spans and logs, writes the
// truth file and returns the truth. Spans that could not be exported make it
// return an error along with the truth.
func Run(ctx context.Context, cfg Config, opts Options) (*gen.Truth, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	top, err := LoadTopology(cfg.Topology, cfg.Faults)
	if err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}

	cexp, bsp, err := newSpanExport(ctx, cfg.OTLP, log)
	if err != nil {
		return nil, err
	}

	var logs gen.LogSink
	var lw *logfile.Writer
	if cfg.LogDir != "" {
		if lw, err = logfile.New(logfile.Config{Dir: cfg.LogDir, RotateBytes: int64(cfg.RotateBytes)}); err != nil {
			_ = bsp.Shutdown(context.Background())
			return nil, err
		}
		logs = lw
	}
	g, err := gen.New(top, bsp, logs, gen.Options{
		Rate: cfg.Rate, Count: cfg.Count, Duration: cfg.Duration, Seed: cfg.Seed, Start: cfg.Start,
		LogsPerSpan: cfg.LogsPerSpan, Realtime: !cfg.NoPacing, RunID: cfg.RunID,
	})
	if err != nil {
		_ = bsp.Shutdown(context.Background())
		if lw != nil {
			_ = lw.Close()
		}
		return nil, err
	}
	if opts.Registerer != nil {
		unregister := registerMetrics(opts.Registerer, g, cexp)
		defer unregister()
	}
	log.Info("load generation starting", zap.String("topology", top.Name), zap.Float64("rate", cfg.Rate),
		zap.Duration("duration", cfg.Duration), zap.Uint64("count", cfg.Count), zap.Uint64("seed", cfg.Seed),
		zap.String("run", truthRunID(cfg)), zap.String("otlp", cfg.OTLP.Endpoint), zap.String("log_dir", cfg.LogDir), zap.Int("faults", len(top.Faults)))

	report := opts.OnProgress
	if report == nil {
		report = logProgress(log)
	}
	start := time.Now()
	stopProgress := reportProgress(cfg, g, cexp, start, report)
	runErr := g.Run(ctx)
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil // stopped early: still flush what was made
	}
	stopProgress()

	errs := append([]error{runErr}, flushAndClose(cfg.OTLP, bsp, lw)...)
	truth := g.Truth()
	st := g.Stats()
	elapsed := time.Since(start)
	report(progress(st, gen.Stats{}, cexp, elapsed, elapsed, true))
	if n := cexp.failed.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d spans could not be exported to %s", n, truth.Spans, cfg.OTLP.Endpoint))
	}
	if cfg.TruthFile != "" {
		if err := truth.WriteFile(cfg.TruthFile); err != nil {
			errs = append(errs, err)
		}
	}
	return truth, errors.Join(errs...)
}

// newSpanExport is the generator's span pipeline: a batch processor that
// blocks when full, exporting over OTLP gRPC (or nowhere for endpoint "-")
// and counting what was exported.
func newSpanExport(ctx context.Context, o OTLPConfig, log *zap.Logger) (*countingExporter, sdktrace.SpanProcessor, error) {
	var exp sdktrace.SpanExporter = discardExporter{}
	if o.Endpoint != "-" {
		var err error
		exp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(o.Endpoint),
			otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(o.Timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
				Enabled: o.RetryFor > 0, InitialInterval: 200 * time.Millisecond,
				MaxInterval: 5 * time.Second, MaxElapsedTime: o.RetryFor,
			}))
		if err != nil {
			return nil, nil, fmt.Errorf("create OTLP exporter for %s: %w", o.Endpoint, err)
		}
	}
	cexp := &countingExporter{inner: exp, log: log}
	bsp := sdktrace.NewBatchSpanProcessor(cexp,
		sdktrace.WithBlocking(),
		sdktrace.WithMaxQueueSize(o.QueueSize),
		sdktrace.WithMaxExportBatchSize(o.BatchSize),
		sdktrace.WithBatchTimeout(o.BatchTimeout),
		sdktrace.WithExportTimeout(o.Timeout+max(o.RetryFor, 0)))
	return cexp, bsp, nil
}

// logProgress is the default progress report: a log line.
func logProgress(log *zap.Logger) func(Progress) {
	return func(p Progress) {
		log.Info("load generation progress", zap.Duration("elapsed", p.Elapsed.Round(time.Millisecond)),
			zap.Uint64("requests", p.Requests), zap.Uint64("spans", p.Spans), zap.Uint64("exported", p.Exported),
			zap.Uint64("logs", p.Logs), zap.Float64("spans_per_sec", math.Round(p.SpansPerSec)),
			zap.Float64("logs_per_sec", math.Round(p.LogsPerSec)), zap.Duration("behind", p.Behind), zap.Bool("final", p.Final))
	}
}

// reportProgress reports g's progress every cfg.ProgressInterval (none
// when it is not positive) until the returned stop is called; stop returns
// once no report is being made.
func reportProgress(cfg Config, g *gen.Generator, cexp *countingExporter, start time.Time, report func(Progress)) (stop func()) {
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.ProgressInterval <= 0 {
			return
		}
		tk := time.NewTicker(cfg.ProgressInterval)
		defer tk.Stop()
		var last gen.Stats
		lastAt := start
		for {
			select {
			case <-stopProgress:
				return
			case now := <-tk.C:
				st := g.Stats()
				p := progress(st, last, cexp, now.Sub(start), now.Sub(lastAt), false)
				if !cfg.NoPacing {
					p.Behind = max(0, p.Elapsed-time.Duration(float64(st.Requests)/cfg.Rate*1e9))
				}
				report(p)
				last, lastAt = st, now
			}
		}
	}()
	return func() {
		close(stopProgress)
		<-progressDone
	}
}

// flushAndClose exports the spans still buffered, shuts the export down and
// closes the log files, within the export's timeout and retries and 5s.
func flushAndClose(o OTLPConfig, bsp sdktrace.SpanProcessor, lw *logfile.Writer) []error {
	flushCtx, cancel := context.WithTimeout(context.Background(), o.Timeout+max(o.RetryFor, 0)+5*time.Second)
	defer cancel()
	var errs []error
	if err := bsp.ForceFlush(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush spans: %w", err))
	}
	if err := bsp.Shutdown(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("shut down span export: %w", err))
	}
	if lw != nil {
		if err := lw.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close logs: %w", err))
		}
	}
	return errs
}

func truthRunID(cfg Config) string {
	if cfg.RunID != "" {
		return cfg.RunID
	}
	return fmt.Sprintf("%016x", cfg.Seed)
}

func progress(st, last gen.Stats, c *countingExporter, elapsed, interval time.Duration, final bool) Progress {
	sec := interval.Seconds()
	if sec <= 0 {
		sec = 1e-9
	}
	return Progress{
		Elapsed: elapsed, Requests: st.Requests, Spans: st.Spans, Logs: st.Logs,
		Exported: c.exported.Load(), ExportFailed: c.failed.Load(),
		SpansPerSec:    float64(st.Spans-last.Spans) / sec,
		LogsPerSec:     float64(st.Logs-last.Logs) / sec,
		RequestsPerSec: float64(st.Requests-last.Requests) / sec,
		Final:          final,
	}
}

// countingExporter counts the spans its exporter accepted and refused.
type countingExporter struct {
	inner            sdktrace.SpanExporter
	log              *zap.Logger
	exported, failed atomic.Uint64
	loggedFailures   atomic.Uint64
}

func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.inner.ExportSpans(ctx, spans)
	if err != nil {
		c.failed.Add(uint64(len(spans)))
		if n := c.loggedFailures.Add(1); n <= 10 || n%100 == 0 {
			c.log.Warn("span export failed", zap.Int("spans", len(spans)), zap.Uint64("failures", n), zap.Error(err))
		}
		return err
	}
	c.exported.Add(uint64(len(spans)))
	return nil
}

func (c *countingExporter) Shutdown(ctx context.Context) error { return c.inner.Shutdown(ctx) }

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

func registerMetrics(reg prometheus.Registerer, g *gen.Generator, c *countingExporter) func() {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_loadgen_requests_total", Help: "Root requests generated."},
			func() float64 { return float64(g.Stats().Requests) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_loadgen_spans_total", Help: "Spans generated."},
			func() float64 { return float64(g.Stats().Spans) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_loadgen_logs_total", Help: "Log records written."},
			func() float64 { return float64(g.Stats().Logs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_loadgen_spans_exported_total", Help: "Spans accepted by the OTLP endpoint."},
			func() float64 { return float64(c.exported.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_loadgen_spans_export_failed_total", Help: "Spans the OTLP endpoint did not accept after retries."},
			func() float64 { return float64(c.failed.Load()) }),
	}
	var done []prometheus.Collector
	for _, col := range cs {
		if err := reg.Register(col); err == nil {
			done = append(done, col)
		}
	}
	return func() {
		for _, col := range done {
			reg.Unregister(col)
		}
	}
}
