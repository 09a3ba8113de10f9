// Package peers measures flowlens's collector side by side with the
// OpenTelemetry Collector (kafka receiver -> batch processor -> clickhouse
// exporter, built from otelcol/): both read the same spans from the same
// Kafka topic into a fresh embedded ClickHouse engine, one after the other,
// each in its own processes, so the CPU and memory of each are read from
// /proc. RunAgents does the same for flowlens-agent beside the
// Collector's file_log, journald and syslog receivers with the kafka
// exporter (agent.go).
package peers

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/loadtest/bench"
)

// The peers, by the names the table prints.
const (
	Flowlens = "flowlens"
	OTel     = "otelcol"
)

// Config of a comparison.
type Config struct {
	// Flowlens and Otelcol are the binaries (bin/flowlens, bin/otelcol-peers).
	Flowlens, Otelcol string
	// Dir holds the broker's data, each run's engine and every process's log.
	Dir string
	// Spans written to the topic (rounded up to whole traces of
	// SpansPerTrace); each peer stores all of them in every run.
	Spans int
	// Runs of each peer; the order of the peers alternates between runs.
	Runs int
	// Partitions of the spans topic; default 6.
	Partitions int
	// Timeout of one peer's run; default 30 minutes.
	Timeout time.Duration
	// CollectorProfiles, when set, is a folder where each run of flowlens
	// collector writes its Go CPU profile (collector-run-N.pprof).
	CollectorProfiles string
	// CollectorConfig is YAML added to flowlens collector's config file
	// (which sets only group_id), to measure a variant: e.g.
	// "storage:\n  trace_id_projection: false\n".
	CollectorConfig []byte
	// Out receives progress lines.
	Out io.Writer
}

// Result is one peer's run.
type Result struct {
	Peer string
	Run  int
	// Spans is how many spans were written; Unique how many of them were
	// stored (all, unless the run timed out) and Stored the rows in
	// otel_traces two seconds after that: more than Spans when the peer
	// stored some twice.
	Spans, Unique, Stored uint64
	// Wall is from the peer's start until every span was stored.
	Wall time.Duration
	// CPU seconds and peak resident memory (MB) of the peer's process and
	// of the engine's (its CPU from just before the peer started).
	CollectorCPU, EngineCPU     float64
	CollectorRSSMB, EngineRSSMB float64
	// Calibration is bench.Calibrate before the run: higher is a slower
	// (busier) machine.
	Calibration time.Duration
}

// SpansPerSec is the spans stored per second of wall time (each once).
func (r Result) SpansPerSec() float64 { return float64(r.Spans) / r.Wall.Seconds() }

// Per100k is CPU seconds per 100,000 spans.
func (r Result) Per100k(cpu float64) float64 { return cpu / float64(r.Spans) * 1e5 }

// Run writes the spans, then runs each peer cfg.Runs times and returns
// every run's result.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Partitions == 0 {
		cfg.Partitions = 6
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Spans < 1 || cfg.Runs < 1 {
		return nil, fmt.Errorf("spans %d, runs %d: want at least 1 of each", cfg.Spans, cfg.Runs)
	}
	for _, bin := range []string{cfg.Flowlens, cfg.Otelcol} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("binary: %w (make build otelcol)", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchmark folder: %w", err)
	}
	if cfg.CollectorProfiles != "" {
		if err := os.MkdirAll(cfg.CollectorProfiles, 0o755); err != nil {
			return nil, fmt.Errorf("profiles folder: %w", err)
		}
	}
	broker, err := startProcess(cfg.Dir, "broker", cfg.Flowlens, "--log-level", "info", "--data-dir", cfg.Dir,
		"broker", "--listen", "127.0.0.1:0", "--partitions", strconv.Itoa(cfg.Partitions))
	if err != nil {
		return nil, err
	}
	defer broker.stop()
	kafkaAddr, err := broker.loggedAddr(ctx, "embedded kafka broker started", "addrs")
	if err != nil {
		return nil, err
	}
	traces := (cfg.Spans + SpansPerTrace - 1) / SpansPerTrace
	spans := traces * SpansPerTrace
	fmt.Fprintf(cfg.Out, "writing %d spans (%d traces of %d, one message each, lz4) to otlp_spans, %d partitions\n", spans, traces, SpansPerTrace, cfg.Partitions)
	start := time.Now()
	if err := produce(ctx, kafkaAddr, traces); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "written in %v\n", time.Since(start).Round(100*time.Millisecond))

	var results []Result
	for run := 1; run <= cfg.Runs; run++ {
		order := []string{OTel, Flowlens}
		if run%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, peer := range order {
			r := runner{cfg: cfg, kafka: kafkaAddr, spans: uint64(spans), run: run, peer: peer}
			res, err := r.measure(ctx)
			if err != nil {
				return results, fmt.Errorf("%s run %d: %w", peer, run, err)
			}
			fmt.Fprintf(cfg.Out, "%s run %d: %d spans (%d rows) in %v (%.0f spans/s), CPU-s %.1f + engine %.1f\n", peer, run, res.Spans, res.Stored,
				res.Wall.Round(100*time.Millisecond), res.SpansPerSec(), res.CollectorCPU, res.EngineCPU)
			results = append(results, res)
		}
	}
	return results, nil
}

// produce writes traces as the agent does: one trace per message, keyed by
// its trace ID, lz4.
func produce(ctx context.Context, addr string, traces int) error {
	w := &kafka.Writer{
		Addr: kafka.TCP(addr), Topic: "otlp_spans", Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, Compression: compress.Lz4,
		BatchSize: 1000, BatchBytes: 4 << 20, BatchTimeout: 10 * time.Millisecond,
		Transport: &kafka.Transport{}, // its own metadata cache: the topic is new
	}
	defer w.Close()
	enc := kafkawire.Encoder{PartitionByTraceID: true}
	seed := uint64(time.Now().UnixNano())
	at := time.Now().Add(-time.Hour)
	var msgs []kafka.Message
	for i := range traces {
		var err error
		if msgs, err = enc.AppendTraceMessages(msgs, Trace(seed, i, at)); err != nil {
			return fmt.Errorf("encode trace: %w", err)
		}
		if len(msgs) >= 5000 || i == traces-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("write spans: %w", err)
			}
			msgs = msgs[:0]
		}
	}
	return nil
}

// runner is one peer's run: a fresh engine, the peer, until every span is
// stored.
type runner struct {
	cfg   Config
	kafka string
	spans uint64
	run   int
	peer  string
}

func (r *runner) measure(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	dir := filepath.Join(r.cfg.Dir, fmt.Sprintf("run-%d-%s", r.run, r.peer))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	engine, err := startProcess(dir, "clickhouse", r.cfg.Flowlens, "--log-level", "info", "--data-dir", dir, "clickhouse", "--listen", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	defer func() {
		engine.stop()
		// The engine's data is gigabytes at millions of spans; the logs stay.
		_ = os.RemoveAll(filepath.Join(dir, "clickhouse"))
	}()
	chAddr, err := engine.loggedAddr(ctx, "ClickHouse HTTP endpoint listening", "addr")
	if err != nil {
		return Result{}, err
	}
	creds, err := chserver.ReadCredentials(chserver.CredentialsPath(filepath.Join(dir, "clickhouse")))
	if err != nil {
		return Result{}, err
	}
	reader, readerPassword, _ := creds.Login(chserver.RoleReader)
	conn, err := clickhouse.Open(&clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{chAddr},
		Auth: clickhouse.Auth{Username: reader, Password: readerPassword}})
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()

	calibration := bench.Calibrate()
	group := fmt.Sprintf("peers-%s-%d", r.peer, r.run)
	var (
		peer     *process
		database string
	)
	engineCPU0 := bench.CPUSeconds(engine.pid())
	start := time.Now()
	switch r.peer {
	case OTel:
		database = "otel"
		admin, adminPassword, _ := creds.Login(chserver.RoleAdmin)
		path := filepath.Join(dir, "otelcol.yaml")
		if err := os.WriteFile(path, otelConfig(r.kafka, group, "http://"+chAddr, admin, adminPassword, database), 0o600); err != nil {
			return Result{}, err
		}
		peer, err = startProcess(dir, r.peer, r.cfg.Otelcol, "--config", path)
	case Flowlens:
		database = "flowlens"
		path := filepath.Join(dir, "collector.yaml")
		if err := os.WriteFile(path, collectorConfig(group, r.cfg.CollectorConfig), 0o644); err != nil {
			return Result{}, err
		}
		args := []string{"--log-level", "info", "--data-dir", dir, "--clickhouse", chAddr, "--database", database}
		if r.cfg.CollectorProfiles != "" {
			args = append(args, "--cpu-profile", filepath.Join(r.cfg.CollectorProfiles, fmt.Sprintf("collector-run-%d.pprof", r.run)))
		}
		args = append(args, "collector", "--brokers", r.kafka, "--listen", "127.0.0.1:0", "--config", path)
		peer, err = startProcess(dir, r.peer, r.cfg.Flowlens, args...)
	}
	if err != nil {
		return Result{}, err
	}
	defer peer.stop()

	var rows, unique uint64
	count := fmt.Sprintf("SELECT count() FROM %s.otel_traces", database)
	// Rows stored twice would make the count reach the spans early: once
	// it does, the spans are counted each once (a query too heavy to
	// repeat every 200 ms).
	uniq := fmt.Sprintf("SELECT uniqExact(SpanId) FROM %s.otel_traces", database)
	for unique < r.spans {
		if err := peer.exited(); err != nil {
			return Result{}, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%d rows for %d spans: %w (logs in %s)", rows, r.spans, ctx.Err(), dir)
		case <-time.After(200 * time.Millisecond):
		}
		// Before the peer created the table this fails: keep asking.
		if conn.QueryRow(ctx, count).Scan(&rows) == nil && rows >= r.spans {
			_ = conn.QueryRow(ctx, uniq).Scan(&unique)
		}
	}
	res := Result{Peer: r.peer, Run: r.run, Spans: r.spans, Unique: unique, Stored: rows, Wall: time.Since(start),
		CollectorCPU: bench.CPUSeconds(peer.pid()), EngineCPU: bench.CPUSeconds(engine.pid()) - engineCPU0,
		CollectorRSSMB: bench.PeakRSSMB(peer.pid()), EngineRSSMB: bench.PeakRSSMB(engine.pid()), Calibration: calibration}
	// A duplicate may show up late (a batch sent again after a timeout):
	// count again after a moment, so the table says so.
	time.Sleep(2 * time.Second)
	_ = conn.QueryRow(ctx, count).Scan(&res.Stored)
	return res, nil
}

// otelConfig is the OpenTelemetry Collector's config: the kafka receiver
// from the start of the topic in its own group, the batch processor and
// the clickhouse exporter with their defaults (async_insert, retries,
// sending queue), creating its schema in database: so it logs in as the
// endpoint's admin, the role that may run DDL. Its log at info says when
// it retried an insert.
// collectorConfig is flowlens collector's config file: the run's group
// and the variant's YAML.
func collectorConfig(group string, extra []byte) []byte {
	return append([]byte("group_id: "+group+"\n"), extra...)
}

func otelConfig(kafkaAddr, group, endpoint, user, password, database string) []byte {
	return fmt.Appendf(nil, `receivers:
  kafka:
    brokers: [%q]
    group_id: %q
    initial_offset: earliest
    traces:
      topics: [otlp_spans]
      encoding: otlp_proto
processors:
  batch: {}
exporters:
  clickhouse:
    endpoint: %q
    username: %q
    password: %q
    database: %q
    create_schema: true
service:
  telemetry:
    logs: {level: info}
    metrics: {level: none}
  pipelines:
    traces:
      receivers: [kafka]
      processors: [batch]
      exporters: [clickhouse]
`, kafkaAddr, group, endpoint, user, password, database)
}

// process is a child process whose output goes to <name>.log in a folder.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

func startProcess(dir, name, bin string, args ...string) (*process, error) {
	lf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = lf, lf
	if err := c.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: c, log: lf, done: make(chan struct{})}
	go func() { p.err = c.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) loggedAddr(ctx context.Context, msg, key string) (string, error) {
	return bench.LoggedAddr(ctx, p.name, p.log.Name(), msg, key)
}

// exited is an error once the process has ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v (see %s)", p.name, p.err, p.log.Name())
	default:
		return nil
	}
}

// stop interrupts the process and waits for it, killing it after a minute.
func (p *process) stop() {
	if p.exited() == nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}
