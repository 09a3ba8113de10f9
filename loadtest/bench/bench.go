// Package bench measures the whole pipeline on one machine: each component
// runs in its own process (ClickHouse endpoint, broker, collector, flow
// analyzer, agent, load generator), so the CPU each one takes is read from
// /proc, and freshness is measured by probe traces sent to the agent and
// looked up by trace ID in ClickHouse, as `flowlens trace` would.
package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/storage"
)

// Config of a benchmark run.
type Config struct {
	// Flowlens and Agent are the binaries (bin/flowlens, bin/flowlens-agent).
	Flowlens, Agent string
	// Dir holds data and logs of the run (a fresh temporary folder is best).
	Dir string
	// Rate is root requests/s of the synthetic shop (about 12.4 spans and as
	// many log lines each); Duration how long the load runs; Warmup is
	// excluded from the figures.
	Rate             float64
	Duration, Warmup time.Duration
	// LogsPerSpan is the log lines the shop writes per span (bench-e2e's
	// default is 1). 0: none, so the run measures spans alone and, beside
	// a run with logs, what a log record costs each component.
	LogsPerSpan int
	// ProbeInterval is how often a probe trace is sent for freshness
	// (default 100ms: a p99 wants more than a hundred probes; the outstanding
	// ones are looked up together every 100 ms until found).
	ProbeInterval time.Duration
	// Partitions of the topics (0: the broker's default). Fewer partitions
	// mean fewer, larger inserts from the collector.
	Partitions int
	// MigrateArgs are extra flags of `flowlens migrate`, to measure schema
	// variants (e.g. --trace-id-projection=false).
	MigrateArgs []string
	// ClickHouseArgs are extra flags of `flowlens clickhouse` (e.g.
	// --merge-nice=0).
	ClickHouseArgs []string
	// CollectorConfig, when set, is the collector's YAML config (e.g. to
	// measure another batch.max_age).
	CollectorConfig string
	// NoLedger runs the agent and the collector without the loss ledger
	// (ledger.enabled: false), to measure its cost. With CollectorConfig,
	// that file says what the collector does.
	NoLedger bool
	// Profile writes a Go CPU profile per component into Dir (<name>.prof).
	Profile bool
	// Out receives progress lines.
	Out io.Writer
}

// Component is one process and the CPU it used during the measurement.
type Component struct {
	Name       string
	CPUSeconds float64
	MaxRSSMB   float64
}

// Report is what a run measured.
type Report struct {
	Window                  time.Duration
	SpansPerSec             float64 // stored spans/s in the window
	LogsPerSec              float64
	SentSpans, SentLogs     uint64 // by the generator over the whole run
	StoredSpans, StoredLogs uint64
	FreshnessP50            time.Duration
	FreshnessP99            time.Duration
	// AcceptedP50 and AcceptedP99 are how long the agent took to answer
	// a probe's export: it answers once the probe is fsynced in its disk
	// buffer, so this is the agent's share of freshness before Kafka.
	AcceptedP50, AcceptedP99 time.Duration
	Probes, ProbesMissing    int
	Components               []Component
	// Batches is the collector's inserts during the window, per kind.
	Batches []BatchStats
	// Lookup is GetTrace (what `flowlens trace` runs) on the probes' trace
	// IDs after the load, and Parts the active parts it had to consult:
	// merge settings trade ingest CPU against both.
	LookupP50, LookupP99 time.Duration
	Lookups              int
	Parts                uint64
	// LoadLookup is GetTrace on probes found earlier, during the window,
	// one every LookupEvery: lookups while the load is being stored.
	LoadLookupP50, LoadLookupP99 time.Duration
	LoadLookups                  int
	// Engine is the engine's own account of the window (zero when its
	// counters could not be read).
	Engine EngineStats
	// Machine is how fast the machine was and how contended in the window.
	Machine MachineStats
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
}

// Run starts the components, drives load and reports.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = 100 * time.Millisecond
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchmark folder: %w", err)
	}
	// Timed before anything of the run starts: a measure of the machine,
	// not of the pipeline.
	machine := MachineStats{Calibration: Calibrate(), CPUWaited: -1, IOWaited: -1}
	r := &runner{cfg: cfg}
	defer r.stopAll()
	ep, err := r.startPipeline(ctx)
	if err != nil {
		return nil, err
	}

	// The engine process wrote its users into its data folder; the probes
	// read as the reader, as Grafana would.
	creds, err := chserver.ReadCredentials(chserver.CredentialsPath(filepath.Join(cfg.Dir, "clickhouse")))
	if err != nil {
		return nil, err
	}
	reader, readerPassword, _ := creds.Login(chserver.RoleReader)
	login := clickhouse.Auth{Username: reader, Password: readerPassword}
	conn, err := clickhouse.Open(&clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{ep.clickhouse}, Auth: login})
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	runID := randomHex(6)
	total := cfg.Warmup + cfg.Duration
	fmt.Fprintf(cfg.Out, "load: %.0f requests/s (about %.0f spans/s and %.0f logs/s) for %v, run %s\n", cfg.Rate, cfg.Rate*12.4, cfg.Rate*12.4*float64(cfg.LogsPerSpan), total, runID)
	gen, err := r.start("loadgen", cfg.Flowlens, loadgenArgs(cfg, ep, runID)...)
	if err != nil {
		return nil, err
	}

	probeCtx, stopProbes := context.WithCancel(ctx)
	var probes probeSet
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); probes.run(probeCtx, ep.agentGRPC, conn, cfg.ProbeInterval) }()

	if err := sleep(ctx, cfg.Warmup); err != nil {
		stopProbes()
		return nil, err
	}
	// Traces are looked up during the window too, as a user of the UI would
	// while the load is stored: the figure the lookup target is about.
	lookCtx, stopLookups := context.WithCancel(ctx)
	lookups := make(chan lookupTimes, 1)
	go func() { lookups <- lookupsUnderLoad(lookCtx, ep.clickhouse, login, &probes) }()
	rep, err = r.measure(ctx, conn, ep.collectorHTTP, &probes, machine)
	stopLookups()
	underLoad := <-lookups
	if err != nil {
		stopProbes()
		return nil, err
	}
	if underLoad.err != nil {
		stopProbes()
		return nil, underLoad.err
	}
	rep.LoadLookupP50, rep.LoadLookupP99 = sampleQuantiles(underLoad.d)
	rep.LoadLookups = len(underLoad.d)
	// Stop the generator (when the pipeline could not keep up it is behind
	// its schedule), let the pipeline drain, then count the totals.
	_ = gen.cmd.Process.Signal(syscall.SIGINT)
	_ = gen.cmd.Wait()
	time.Sleep(5 * time.Second)
	stopProbes()
	wg.Wait()
	return rep, countAfterDrain(ctx, rep, conn, cfg.Dir, runID, ep.clickhouse, login, &probes)
}

// loadgenArgs are the load generator's arguments: the shop at cfg.Rate
// for the warm-up and the window, its spans to the agent, its log lines
// (when it writes any) into the folder the agent tails.
func loadgenArgs(cfg Config, ep endpoints, runID string) []string {
	args := append(slices.Clip(ep.flags), "loadgen", "--rate", fmt.Sprint(cfg.Rate), "--duration", (cfg.Warmup + cfg.Duration).String(),
		"--otlp-endpoint", ep.agentGRPC, "--run-id", runID, "--truth", filepath.Join(cfg.Dir, "truth.json"), "--progress", "10s")
	if cfg.LogsPerSpan > 0 {
		args = append(args, "--log-dir", ep.logDir, "--logs-per-span", strconv.Itoa(cfg.LogsPerSpan))
	}
	return args
}

// runner starts the components of a run as processes, and stops them in
// the reverse order.
type runner struct {
	cfg   Config
	procs []*proc
}

// start runs bin with args as the component name, its output to
// <name>.log in the run's folder.
func (r *runner) start(name string, bin string, args ...string) (*proc, error) {
	lf, err := os.Create(filepath.Join(r.cfg.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if r.cfg.Profile {
		args = append(args, "--cpu-profile", filepath.Join(r.cfg.Dir, name+".prof"))
	}
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = lf, lf
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: c, log: lf}
	r.procs = append(r.procs, p)
	return p, nil
}

func (r *runner) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		stop(r.procs[i])
	}
}

// agentConfig is the agent's config for a run: the shop's log files and
// OTLP on ports of its choosing, to the broker at kafkaAddr; ledger is
// the config's ledger section ("" for the default).
func agentConfig(dataDir, logDir, kafkaAddr, ledger string) string {
	return fmt.Sprintf(`data_dir: %s
host_name: bench
files:
  - name: shop
    include: [%s/*.log]
    parse: {format: json}
otlp:
  grpc: {listen: 127.0.0.1:0}
  http: {listen: 127.0.0.1:0}
kafka:
  brokers: [%s]
metrics: {listen: 127.0.0.1:0}
%s`, dataDir, logDir, kafkaAddr, ledger)
}

// endpoints are where the running components are reached.
type endpoints struct {
	clickhouse, agentGRPC, collectorHTTP string
	logDir                               string   // the shop's log files, tailed by the agent
	flags                                []string // global flags of the flowlens commands, the ClickHouse address included
}

// startPipeline starts everything but the load generator and waits until
// each component says where it listens.
func (r *runner) startPipeline(ctx context.Context) (endpoints, error) {
	cfg := r.cfg
	var ep endpoints
	// Every component binds port 0 and logs the address it got (info
	// level): no port is found free and bound later, when another process
	// may have taken it.
	logFlags := []string{"--log-level", "info", "--data-dir", cfg.Dir, "--database", "bench"}

	ch, err := r.start("clickhouse", cfg.Flowlens, append(append(logFlags, "clickhouse", "--listen", "127.0.0.1:0"), cfg.ClickHouseArgs...)...)
	if err != nil {
		return ep, err
	}
	chAddr, err := ch.loggedAddr(ctx, "ClickHouse HTTP endpoint listening", "addr")
	if err != nil {
		return ep, err
	}
	g := append(logFlags, "--clickhouse", chAddr)
	if out, err := exec.CommandContext(ctx, cfg.Flowlens, append(append(g, "migrate"), cfg.MigrateArgs...)...).CombinedOutput(); err != nil {
		return ep, fmt.Errorf("migrate: %v: %s", err, out)
	}
	broker, err := r.start("broker", cfg.Flowlens, append(g, "broker", "--listen", "127.0.0.1:0", "--partitions", strconv.Itoa(cfg.Partitions))...)
	if err != nil {
		return ep, err
	}
	kafkaAddr, err := broker.loggedAddr(ctx, "embedded kafka broker started", "addrs")
	if err != nil {
		return ep, err
	}
	collArgs := append(g, "collector", "--brokers", kafkaAddr, "--listen", "127.0.0.1:0")
	collConfig := cfg.CollectorConfig
	ledger := ""
	if cfg.NoLedger {
		ledger = "ledger: {enabled: false}\n"
		if collConfig == "" {
			collConfig = filepath.Join(cfg.Dir, "collector.yaml")
			if err := os.WriteFile(collConfig, []byte(ledger), 0o644); err != nil {
				return ep, err
			}
		}
	}
	if collConfig != "" {
		collArgs = append(collArgs, "--config", collConfig)
	}
	coll, err := r.start("collector", cfg.Flowlens, collArgs...)
	if err != nil {
		return ep, err
	}
	graph, err := r.start("flowgraph", cfg.Flowlens, append(g, "flowgraph", "--brokers", kafkaAddr, "--listen", "127.0.0.1:0")...)
	if err != nil {
		return ep, err
	}
	logDir := filepath.Join(cfg.Dir, "shop-logs")
	agentCfg := filepath.Join(cfg.Dir, "agent.yaml")
	if err := os.WriteFile(agentCfg, []byte(agentConfig(filepath.Join(cfg.Dir, "agent"), logDir, kafkaAddr, ledger)), 0o644); err != nil {
		return ep, err
	}
	agent, err := r.start("agent", cfg.Agent, "run", "--config", agentCfg)
	if err != nil {
		return ep, err
	}
	grpcAddr, err := agent.loggedAddr(ctx, "agent started", "otlp_grpc")
	if err != nil {
		return ep, err
	}
	collAddr, err := coll.loggedAddr(ctx, "collector started", "http")
	if err != nil {
		return ep, err
	}
	if _, err := graph.loggedAddr(ctx, "flowgraph started", "http"); err != nil {
		return ep, err
	}
	return endpoints{clickhouse: chAddr, agentGRPC: grpcAddr, collectorHTTP: collAddr, logDir: logDir, flags: g}, nil
}

// sleep waits d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// measure is the measurement window: the rates stored, the CPU of every
// component, the collector's batches, the engine's and the machine's
// account, each taken at its start and its end.
func (r *runner) measure(ctx context.Context, conn driver.Conn, collAddr string, probes *probeSet, machine MachineStats) (*Report, error) {
	cfg := r.cfg
	t0 := time.Now()
	cpu0 := cpuAll(r.procs)
	s0, l0 := storedRows(ctx, conn)
	m0, m0err := scrapeCollector(ctx, collAddr)
	e0, e0err := engineEvents(ctx, conn)
	pc0, pio0, p0ok := pressureTotals()
	probes.measureFrom(t0)
	for el := time.Duration(0); el < cfg.Duration; el += 30 * time.Second {
		wait := min(30*time.Second, cfg.Duration-el)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		s, l := storedRows(ctx, conn)
		fmt.Fprintf(cfg.Out, "  %v: stored %.0f spans/s, %.0f logs/s so far\n", (el + wait).Round(time.Second),
			float64(s-s0)/time.Since(t0).Seconds(), float64(l-l0)/time.Since(t0).Seconds())
	}
	window := time.Since(t0)
	cpu1 := cpuAll(r.procs)
	pc1, pio1, p1ok := pressureTotals()
	s1, l1 := storedRows(ctx, conn)
	probes.measureUntil(time.Now())
	rep := &Report{Window: window, SpansPerSec: float64(s1-s0) / window.Seconds(), LogsPerSec: float64(l1-l0) / window.Seconds()}
	if p0ok && p1ok {
		machine.CPUWaited = float64(pc1-pc0) / float64(window)
		machine.IOWaited = float64(pio1-pio0) / float64(window)
	}
	rep.Machine = machine
	if m1, err := scrapeCollector(ctx, collAddr); err == nil && m0err == nil {
		rep.Batches = batchStats(m0, m1)
	}
	if e1, err := engineEvents(ctx, conn); err == nil && e0err == nil {
		rep.Engine = engineStats(e0, e1)
	}
	for i, p := range r.procs {
		rep.Components = append(rep.Components, Component{Name: p.name, CPUSeconds: cpu1[i] - cpu0[i], MaxRSSMB: PeakRSSMB(p.cmd.Process.Pid)})
	}
	return rep, nil
}

// countAfterDrain fills in what is counted once the load has stopped: the
// totals sent and stored (waiting up to 2 minutes for the stored ones to
// catch up), the freshness of the probes, and trace lookups once the
// engine's merges are done.
func countAfterDrain(ctx context.Context, rep *Report, conn driver.Conn, dir, runID, chAddr string, login clickhouse.Auth, probes *probeSet) (err error) {
	if truth, err := readTruth(filepath.Join(dir, "truth.json")); err == nil {
		rep.SentSpans, rep.SentLogs = truth.spans, truth.logs
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rep.StoredSpans, rep.StoredLogs = storedCounts(ctx, conn, runID)
		if (rep.StoredSpans >= rep.SentSpans && rep.StoredLogs >= rep.SentLogs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	rep.FreshnessP50, rep.FreshnessP99, rep.Probes, rep.ProbesMissing = probes.quantiles()
	rep.AcceptedP50, rep.AcceptedP99 = probes.acceptedQuantiles()
	// Lookups are timed once the merges the load left behind are done: on
	// a busy engine they would measure its queue, not the parts layout.
	for t := time.Now(); time.Since(t) < time.Minute; time.Sleep(time.Second) {
		var merging uint64
		if conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = 'bench'").Scan(&merging) != nil || merging == 0 {
			break
		}
	}
	_ = conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = 'bench' AND table = 'otel_traces'").Scan(&rep.Parts)
	rep.LookupP50, rep.LookupP99, rep.Lookups, err = timeLookups(ctx, chAddr, login, probes.foundIDs())
	return err
}

// openLookupStore opens the run's tables to look traces up the way
// `flowlens trace` does.
func openLookupStore(ctx context.Context, chAddr string, login clickhouse.Auth) (*storage.Store, error) {
	cfg := storage.Config{Addr: chAddr, Database: "bench", Username: login.Username, Password: login.Password}
	cfg.SetDefaults()
	return storage.Open(ctx, cfg, zap.NewNop())
}

// timeLookups fetches each trace the way `flowlens trace` does and reports
// the latency quantiles.
func timeLookups(ctx context.Context, chAddr string, login clickhouse.Auth, ids []string) (p50, p99 time.Duration, n int, err error) {
	st, err := openLookupStore(ctx, chAddr, login)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("open storage to time lookups: %w", err)
	}
	defer st.Close()
	var d []time.Duration
	for _, id := range ids {
		t0 := time.Now()
		if _, err := st.GetTrace(ctx, id); err != nil {
			return 0, 0, 0, fmt.Errorf("look up probe trace %s: %w", id, err)
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 = sampleQuantiles(d)
	return p50, p99, len(d), nil
}

// LookupEvery is the pace of the lookups during the window: a few users
// opening traces, not a loop that would take the pipeline's CPU.
const LookupEvery = 250 * time.Millisecond

type lookupTimes struct {
	d   []time.Duration
	err error
}

// lookupsUnderLoad looks up, every LookupEvery until ctx ends, a probe
// trace found at least a second before (the newest ones: what a user
// opens), the way `flowlens trace` does, and returns the latencies.
func lookupsUnderLoad(ctx context.Context, chAddr string, login clickhouse.Auth, probes *probeSet) (res lookupTimes) {
	st, err := openLookupStore(ctx, chAddr, login)
	if err != nil {
		return lookupTimes{err: fmt.Errorf("open storage to time lookups under load: %w", err)}
	}
	defer st.Close()
	tick := time.NewTicker(LookupEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return res
		case <-tick.C:
		}
		ids := probes.foundBefore(time.Now().Add(-time.Second))
		if len(ids) == 0 {
			continue
		}
		id := ids[len(ids)-1-n%min(len(ids), 20)]
		t0 := time.Now()
		if _, err := st.GetTrace(ctx, id); err != nil {
			if ctx.Err() != nil {
				return res
			}
			return lookupTimes{err: fmt.Errorf("look up probe trace %s under load: %w", id, err)}
		}
		res.d = append(res.d, time.Since(t0))
	}
}

// sampleQuantiles sorts d and returns its p50 and p99 (0 when empty).
func sampleQuantiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))] }
	return q(0.5), q(0.99)
}

// storedRows counts all rows: from the parts' metadata, instantly. The
// rates take differences of it, so rows of earlier runs in the same folder
// do not count. (Counting this run's rows by attribute during the load
// scanned the whole map column every 30 s: seconds of engine CPU each
// time, taken from the pipeline being measured.)
func storedRows(ctx context.Context, conn driver.Conn) (spans, logs uint64) {
	_ = conn.QueryRow(ctx, "SELECT count() FROM bench.otel_traces").Scan(&spans)
	_ = conn.QueryRow(ctx, "SELECT count() FROM bench.otel_logs").Scan(&logs)
	return spans, logs
}

// storedCounts counts this run's rows (after the load: it scans).
func storedCounts(ctx context.Context, conn driver.Conn, runID string) (spans, logs uint64) {
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"run": runID}))
	_ = conn.QueryRow(pctx, "SELECT count() FROM bench.otel_traces WHERE ResourceAttributes['flowlens.run'] = {run:String}").Scan(&spans)
	_ = conn.QueryRow(pctx, "SELECT count() FROM bench.otel_logs WHERE LogAttributes['flowlens.run'] = {run:String}").Scan(&logs)
	return spans, logs
}

// probeSet sends one single-span trace every interval and looks for it
// until stored: the time between is the freshness. One poller looks for
// every outstanding probe in a single query each pollEvery, so the
// measurement costs the engine the same whatever the pipeline's lag (a
// poller per probe made it 10 queries/s per outstanding probe: once the
// pipeline fell behind, the lookups took the engine's CPU and it fell
// further behind).
type probeSet struct {
	mu       sync.Mutex
	from, to time.Time
	results  []probeResult
	waiting  []probeResult // sent, not yet found
}

type probeResult struct {
	id       string // hex trace ID
	sent     time.Time
	accepted time.Duration // until the agent answered the export
	found    time.Duration // 0: not found within probeTimeout
}

const (
	pollEvery    = 100 * time.Millisecond
	probeTimeout = 30 * time.Second
	// probeService and probeSpan name the probes' spans: the poller finds
	// them through the primary key.
	probeService, probeSpan = "freshness-probe", "probe"
)

func (ps *probeSet) measureFrom(t time.Time)  { ps.mu.Lock(); ps.from = t; ps.mu.Unlock() }
func (ps *probeSet) measureUntil(t time.Time) { ps.mu.Lock(); ps.to = t; ps.mu.Unlock() }

func (ps *probeSet) run(ctx context.Context, agentGRPC string, conn driver.Conn, every time.Duration) {
	cc, err := grpc.NewClient(agentGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return
	}
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); onEachTick(ctx, pollEvery, func() { ps.poll(ctx, conn) }) }()
	defer wg.Wait()
	onEachTick(ctx, every, func() { ps.send(ctx, client) })
}

// send exports one probe trace to the agent and starts waiting for it.
func (ps *probeSet) send(ctx context.Context, client ptraceotlp.GRPCClient) {
	id := pcommon.TraceID(randomID16())
	td := probeTrace(id, time.Now())
	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := client.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
	accepted := time.Since(sent)
	cancel()
	if err != nil {
		return
	}
	ps.mu.Lock()
	ps.waiting = append(ps.waiting, probeResult{id: hex.EncodeToString(id[:]), sent: sent, accepted: accepted})
	ps.mu.Unlock()
}

// probeTrace is a probe: one span of probeService, started and ended at.
func probeTrace(id pcommon.TraceID, at time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", probeService)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(id)
	sp.SetSpanID(pcommon.SpanID([8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	sp.SetName(probeSpan)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(at))
	return td
}

// onEachTick calls fn every d until ctx ends.
func onEachTick(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// poll looks up the outstanding probes once.
func (ps *probeSet) poll(ctx context.Context, conn driver.Conn) {
	ps.mu.Lock()
	if len(ps.waiting) == 0 {
		ps.mu.Unlock()
		return
	}
	oldest := ps.waiting[0].sent // sent in order
	ps.mu.Unlock()
	found, err := storedProbeIDs(ctx, conn, "bench", oldest.Add(-time.Second))
	if err != nil {
		return
	}
	ps.settle(found, time.Now())
}

// settle moves the probes found (and those waited for too long) from
// waiting to results.
func (ps *probeSet) settle(found map[string]bool, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	keep := ps.waiting[:0]
	for _, p := range ps.waiting {
		switch {
		case found[p.id]:
			p.found = now.Sub(p.sent)
			ps.results = append(ps.results, p)
		case now.Sub(p.sent) >= probeTimeout:
			ps.results = append(ps.results, p)
		default:
			keep = append(keep, p)
		}
	}
	ps.waiting = keep
}

// storedProbeIDs is the trace IDs of the probes stored since the given
// time. Once a probe's span is in otel_traces, `flowlens trace` finds it:
// through the trace-ID index, which the same insert writes after the
// span's part, or its bloom-filter fallback. The query goes through the
// primary key (ServiceName, SpanName, time), so it reads one granule in
// each part written since then and none elsewhere: 1.6 ms of engine CPU
// on a few parts, against 9-18 ms for `TraceId IN (...)`, whose index
// analysis over every part cost the engine 0.1-0.2 cores at 10 polls/s,
// taken from the pipeline being measured.
func storedProbeIDs(ctx context.Context, conn driver.Conn, database string, since time.Time) (map[string]bool, error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"since": strconv.FormatInt(since.UnixNano(), 10)}))
	rows, err := conn.Query(qctx, "SELECT TraceId FROM `"+database+"`.otel_traces WHERE ServiceName = '"+probeService+
		"' AND SpanName = '"+probeSpan+"' AND Timestamp >= fromUnixTimestamp64Nano({since:Int64})")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		found[id] = true
	}
	return found, rows.Err()
}

// foundBefore are the trace IDs of the probes found (stored) before t,
// oldest first.
func (ps *probeSet) foundBefore(t time.Time) []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var ids []string
	for _, r := range ps.results {
		if r.found > 0 && r.sent.Add(r.found).Before(t) {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// foundIDs are the trace IDs of the probes that were found.
func (ps *probeSet) foundIDs() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var ids []string
	for _, r := range ps.results {
		if r.found > 0 {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// acceptedQuantiles is the p50 and p99 of the agent's answers to the
// probes sent in the window.
func (ps *probeSet) acceptedQuantiles() (p50, p99 time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var d []time.Duration
	for _, r := range append(ps.results[:len(ps.results):len(ps.results)], ps.waiting...) {
		if ps.inWindow(r) {
			d = append(d, r.accepted)
		}
	}
	return sampleQuantiles(d)
}

// inWindow reports whether probe r was sent during the measurement.
func (ps *probeSet) inWindow(r probeResult) bool {
	return !r.sent.Before(ps.from) && (ps.to.IsZero() || !r.sent.After(ps.to))
}

func (ps *probeSet) quantiles() (p50, p99 time.Duration, n, missing int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var d []time.Duration
	// Probes still waiting when the polling stopped count as not found.
	for _, r := range append(ps.results[:len(ps.results):len(ps.results)], ps.waiting...) {
		if !ps.inWindow(r) {
			continue
		}
		n++
		if r.found == 0 {
			missing++
			d = append(d, probeTimeout) // counted as the worst
			continue
		}
		d = append(d, r.found)
	}
	p50, p99 = sampleQuantiles(d)
	return p50, p99, n, missing
}

// cpuAll reads utime+stime of every process (and its threads) in seconds.
func cpuAll(ps []*proc) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = CPUSeconds(p.cmd.Process.Pid)
	}
	return out
}

// CPUSeconds is the user and system CPU time process pid has used so far
// (0 when it is gone).
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// fields after the command name in parentheses; utime is the 14th, stime the 15th field
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// PeakRSSMB is the peak resident memory of process pid in MB (VmHWM; 0
// when it is gone).
func PeakRSSMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func stop(p *proc) {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
	p.log.Close()
}

// loggedAddr waits (up to a minute) for the process's log line msg and
// returns its field key: the address the process bound.
func (p *proc) loggedAddr(ctx context.Context, msg, key string) (string, error) {
	return LoggedAddr(ctx, p.name, p.log.Name(), msg, key)
}

// LoggedAddr waits (up to a minute) for the log line msg in the log file
// of the process name and returns its field key: the address the process
// bound. The log is zap's console format, fields as a JSON object in the
// last tab-separated column.
func LoggedAddr(ctx context.Context, name, logPath, msg, key string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		data, err := os.ReadFile(logPath)
		if err != nil {
			return "", fmt.Errorf("%s log: %w", name, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			cols := strings.Split(line, "\t")
			if len(cols) < 2 || !slices.Contains(cols[:len(cols)-1], msg) {
				continue
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(cols[len(cols)-1]), &fields); err != nil {
				return "", fmt.Errorf("%s log line %q: %w", name, line, err)
			}
			switch v := fields[key].(type) {
			case string:
				return v, nil
			case []any: // a list of addresses: the first
				if len(v) > 0 {
					if s, ok := v[0].(string); ok {
						return s, nil
					}
				}
			}
			return "", fmt.Errorf("%s log line %q has no address %q", name, line, key)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: no %q line in its log (%s)", name, msg, logPath)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomID16() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
