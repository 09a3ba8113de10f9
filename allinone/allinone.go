// Package allinone assembles every flowlens component in one process with
// one data folder: the embedded ClickHouse engine behind its HTTP
// endpoint, the embedded Kafka broker, the collector, the flow analyzer,
// the rules evaluator, a local agent and the web console. `flowlens up`
// runs it; the end-to-end tests start it too, so what they prove is what
// a newcomer runs.
//
// It sits above every component in the import graph (only cmd/ and tests
// import it) and owns nothing but the wiring: the parts' addresses,
// credentials, data folders and registries. The parts are a list, started
// in the order data flows backwards (storage first, sources last) and
// stopped in reverse (component.Group), so nothing is produced before it
// can be consumed and every part flushes into the one it feeds.
//
// Each part gets a metrics registry of its own, served on that part's
// listener: the collector's /metrics also serves the storage client it
// writes with, the rules evaluator's alerts listener its /metrics, the
// console's /metrics the storage client it reads with.
package allinone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/allinone/faultinject"
	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chdb"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/rules/eval"
	"github.com/flowlens/flowlens/storage"
)

// Settings are the pipeline's dependencies.
type Settings struct {
	// Logger of the pipeline; each part logs under its name. Default no-op.
	Logger *zap.Logger
	// BrokerCommand, when set, runs the embedded broker in a child process
	// it makes (see kafkabroker.Process): a crash of the broker then ends
	// that child, not this process and its engine. `flowlens up` sets it.
	BrokerCommand func() *exec.Cmd
	// Faults, when set, is bound to the running parts so that a test can
	// break them (see package faultinject). Nil outside tests.
	Faults *faultinject.Injector
}

// Pipeline is the whole pipeline in one process: New, Start, Shutdown.
type Pipeline struct {
	cfg    Config
	set    Settings
	log    *zap.Logger
	faults *faultinject.Injector
	parts  component.Group

	// set by the parts as they start
	ch       *chserver.Server
	store    *storage.Store // the parts write with it (as the endpoint's writer)
	broker   *brokerPart
	coll     *collectorPart
	graph    *flowgraph.Service
	graphReg *prometheus.Registry
	rules    *eval.Evaluator
	agent    *agent.Agent
	console  *console.Console
}

// New fills the pipeline's defaults and checks every part's config, naming
// each mistake by its key (agent.files[0].service_rules[0].path); nothing
// starts before Start.
func New(cfg Config, set Settings) (*Pipeline, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	cfg.placeFolders()
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	p := &Pipeline{cfg: cfg, set: set, log: set.Logger, faults: set.Faults}
	p.parts.Parts = []component.Part{
		{Name: "data folder", Build: p.dataFolder},
		{Name: "clickhouse", Build: p.clickhouse},
		{Name: "storage", Build: p.storage},
		{Name: "broker", Build: p.brokerPart},
		{Name: "collector", Build: p.collectorPart},
		{Name: "flow analyzer", Build: p.flowAnalyzer},
		{Name: "rules", Build: p.rulesEvaluator},
		{Name: "agent", Build: p.localAgent},
		{Name: "console", Build: p.webConsole},
	}
	return p, nil
}

// Start brings every part up, in order. On error, what was started is
// stopped again, and an address in use is an *AddrInUseError naming its
// config key.
func (p *Pipeline) Start(ctx context.Context) error {
	if err := p.parts.Start(ctx); err != nil {
		return explainListenError(err, &p.cfg)
	}
	if p.faults != nil {
		p.faults.Bind(faultinject.Hooks{KillCollector: p.coll.kill, StartCollector: p.coll.Start,
			StopBroker: p.broker.Shutdown, StartBroker: p.broker.Start})
	}
	return nil
}

// Shutdown stops the parts in reverse order: sources first, so every part
// flushes into the ones it feeds (the agent into Kafka, the collector into
// ClickHouse, committing what it stored), storage last. Safe without
// Start and twice.
func (p *Pipeline) Shutdown(ctx context.Context) error { return p.parts.Shutdown(ctx) }

// Failed delivers the first part that stopped working on its own.
func (p *Pipeline) Failed() <-chan error { return p.parts.Failed() }

// Everything below DataDir (spans, logs, Kafka segments, credentials) is
// for this user only.
func (p *Pipeline) dataFolder(context.Context) (component.Component, error) {
	return nil, chdb.PrivateDir(p.cfg.DataDir)
}

func (p *Pipeline) settings(name string, reg prometheus.Registerer) component.Settings {
	return component.Settings{Logger: p.log.Named(name), Registerer: reg}
}

// clickhouse is the engine and its HTTP endpoint.
func (p *Pipeline) clickhouse(context.Context) (component.Component, error) {
	var err error
	p.ch, err = chserver.New(p.cfg.ClickHouse, p.settings("clickhouse", nil))
	return p.ch, err
}

// storage applies the schema as the endpoint's admin and opens the
// client the parts write with, as its writer.
func (p *Pipeline) storage(ctx context.Context) (component.Component, error) {
	scfg, admin := p.storageConfig(chserver.RoleWriter), p.storageConfig(chserver.RoleAdmin)
	if err := storage.MigrateAs(ctx, admin, p.log.Named("storage")); err != nil {
		return nil, err
	}
	st, err := storage.Open(ctx, scfg, p.log.Named("storage"))
	if err != nil {
		return nil, err
	}
	p.store = st
	return component.Funcs{ShutdownFunc: func(context.Context) error { return st.Close() }}, nil
}

// storageConfig is the storage section, connected to the embedded
// endpoint as role unless it names another ClickHouse.
func (p *Pipeline) storageConfig(role chserver.Role) storage.Config {
	c := p.cfg.Storage
	if c.Addr == "" {
		c.Addr = p.ch.Addr()
		c.Username, c.Password, _ = p.ch.Credentials().Login(role)
		if p.cfg.ClickHouse.HTTP.TLS.On() {
			c.TLS = p.trustEndpoint()
		}
	}
	c.SetDefaults()
	return c
}

// trustEndpoint is the TLS config of a client of the endpoint over TLS:
// it trusts the endpoint's own certificate (and its chain).
func (p *Pipeline) trustEndpoint() *tls.Config {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(p.cfg.ClickHouse.HTTP.TLS.CertFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func (p *Pipeline) brokerPart(context.Context) (component.Component, error) {
	p.broker = &brokerPart{cfg: p.cfg.Broker, set: p.settings("broker", nil), command: p.set.BrokerCommand}
	if _, err := p.broker.new(p.cfg.Broker); err != nil { // the config, checked before the start
		return nil, err
	}
	return p.broker, nil
}

// kafka is how a part reaches Kafka: its section's own brokers, else the
// embedded broker, with the user the broker admits (broker.sasl, tls).
func (p *Pipeline) kafka(cc *kafkawire.ClientConfig) {
	if len(cc.Brokers) > 0 {
		return
	}
	cc.Brokers = p.broker.Addrs()
	p.cfg.Broker.ClientSecurity(cc)
}

func (p *Pipeline) collectorPart(context.Context) (component.Component, error) {
	ccfg := p.cfg.Collector
	p.kafka(&ccfg.Kafka)
	p.coll = &collectorPart{build: func() (*collector.Collector, error) {
		// a registry per collector, so that one started again after a
		// fault registers anew; the storage client's metrics beside its own
		reg := prometheus.NewRegistry()
		if err := p.store.RegisterMetrics(reg); err != nil {
			return nil, err
		}
		return collector.New(ccfg, collector.Settings{Settings: p.settings("collector", reg), Store: p.store})
	}}
	return p.coll, nil
}

func (p *Pipeline) flowAnalyzer(context.Context) (component.Component, error) {
	fcfg := p.cfg.Flowgraph
	p.kafka(&fcfg.Kafka)
	// the rules evaluator reads the analyzer's metrics from this registry
	p.graphReg = prometheus.NewRegistry()
	var err error
	p.graph, err = flowgraph.New(fcfg, flowgraph.Settings{Settings: p.settings("flowgraph", p.graphReg), Store: p.store})
	return p.graph, err
}

// rulesEvaluator runs when there are rule files; it serves the alerts API.
func (p *Pipeline) rulesEvaluator(context.Context) (component.Component, error) {
	if len(p.cfg.Rules.RuleFiles) == 0 {
		return nil, nil
	}
	var err error
	p.rules, err = eval.New(p.cfg.Rules, eval.Settings{Settings: p.settings("rules", nil), FlowMetrics: p.graphReg})
	if err != nil {
		return nil, err
	}
	return reportInvalidRules{p.rules, p.log}, nil
}

// reportInvalidRules logs, once the evaluator started, the rules it
// skipped.
type reportInvalidRules struct {
	*eval.Evaluator
	log *zap.Logger
}

func (r reportInvalidRules) Start(ctx context.Context) error {
	if err := r.Evaluator.Start(ctx); err != nil {
		return err
	}
	for _, bad := range r.InvalidRules() {
		r.log.Warn("rule skipped", zap.Any("problem", bad))
	}
	return nil
}

// localAgent is the agent: files and OTLP -> Kafka.
func (p *Pipeline) localAgent(context.Context) (component.Component, error) {
	if !p.cfg.Agent.enabled() {
		return nil, nil
	}
	acfg := p.cfg.Agent.Config
	p.kafka(&acfg.Kafka.ClientConfig)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	p.agent, err = agent.New(acfg, agent.Settings{Settings: p.settings("agent", reg), Version: "flowlens-up"})
	return p.agent, err
}

// webConsole reads the store as the endpoint's reader (it never writes),
// and the analyzer and the evaluator of this process.
func (p *Pipeline) webConsole(ctx context.Context) (component.Component, error) {
	ccfg := p.cfg.Console
	if !ccfg.Enabled() {
		return nil, nil
	}
	st, err := storage.Open(ctx, p.storageConfig(chserver.RoleReader), p.log.Named("console"))
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	set := console.Settings{Settings: p.settings("console", reg), Store: st}
	if ccfg.AnalyzerURL == "" {
		set.Breakers = p.graph
	}
	if ccfg.AlertsURL == "" && p.rules != nil {
		set.Alerts = query.LocalAlerts{Source: p.rules}
	}
	if p.console, err = console.New(ccfg, set); err != nil {
		_ = st.Close()
		return nil, err
	}
	_ = st.RegisterMetrics(reg) // a new registry: cannot collide
	c := p.console
	return component.Funcs{StartFunc: c.Start, ShutdownFunc: func(ctx context.Context) error {
		return errors.Join(c.Shutdown(ctx), st.Close())
	}}, nil
}

// collectorPart is the collector, which a test may kill and start again
// (faultinject).
type collectorPart struct {
	build func() (*collector.Collector, error)
	mu    sync.Mutex
	c     *collector.Collector
}

func (c *collectorPart) Start(ctx context.Context) error {
	next, err := c.build()
	if err != nil {
		return err
	}
	if err := next.Start(ctx); err != nil {
		return errors.Join(err, next.Shutdown(context.WithoutCancel(ctx)))
	}
	c.mu.Lock()
	c.c = next
	c.mu.Unlock()
	return nil
}

func (c *collectorPart) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	cur := c.c
	c.c = nil
	c.mu.Unlock()
	if cur == nil {
		return nil
	}
	return cur.Shutdown(ctx)
}

// kill stops the collector the way a crash would: no flush, no commit.
func (c *collectorPart) kill() {
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Shutdown(dead)
}

func (c *collectorPart) current() *collector.Collector {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c
}

// brokerPart is the embedded broker, in this process or in a child it
// restarts (command), which a test may stop and start again on the
// address it had (faultinject).
type brokerPart struct {
	cfg     kafkabroker.Config
	set     component.Settings
	command func() *exec.Cmd

	mu    sync.Mutex
	b     embeddedBroker
	addrs []string // where it listened last
}

// embeddedBroker is the broker in this process or in a child.
type embeddedBroker interface {
	component.Component
	Addrs() []string
}

func (b *brokerPart) new(cfg kafkabroker.Config) (embeddedBroker, error) {
	if b.command != nil {
		return kafkabroker.NewProcess(cfg, b.command, b.set)
	}
	return kafkabroker.New(cfg, b.set)
}

func (b *brokerPart) Start(ctx context.Context) error {
	cfg := b.cfg
	b.mu.Lock()
	if len(b.addrs) > 0 {
		cfg.Addr = b.addrs[0] // again where the clients look for it
	}
	b.mu.Unlock()
	next, err := b.new(cfg)
	if err != nil {
		return err
	}
	if err := next.Start(ctx); err != nil {
		return fmt.Errorf("start the broker on %s: %w", cfg.Addr, err)
	}
	b.mu.Lock()
	b.b, b.addrs = next, next.Addrs()
	b.mu.Unlock()
	return nil
}

func (b *brokerPart) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	cur := b.b
	b.b = nil
	b.mu.Unlock()
	if cur == nil {
		return nil
	}
	return cur.Shutdown(ctx)
}

// Addrs are where the broker listens (where it listened, while stopped).
func (b *brokerPart) Addrs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.addrs...)
}

// Addresses of a running pipeline, for people and tests.
type Addresses struct {
	ClickHouse string   // HTTP endpoint (host:port)
	Kafka      []string // bootstrap brokers
	Flowgraph  string   // /metrics, /api/v1/graph ("" when off)
	Collector  string   // /metrics, /healthz ("" when off)
	AgentOTLP  struct{ GRPC, HTTP string }
	Agent      string // agent /metrics ("" when off)
	Alerts     string // GET /api/v1/alerts, /metrics ("" without rules, or off)
	Console    string // the web console's base URL ("" when off)
}

// Addrs returns where the parts listen, after Start.
func (p *Pipeline) Addrs() Addresses {
	a := Addresses{ClickHouse: p.ch.Addr(), Kafka: p.broker.Addrs(), Flowgraph: p.graph.Addr()}
	if c := p.coll.current(); c != nil {
		a.Collector = c.HTTPAddr()
	}
	if p.rules != nil {
		a.Alerts = p.rules.Addr()
	}
	if p.console != nil {
		a.Console = p.console.URL()
	}
	if p.agent != nil {
		a.Agent = p.agent.MetricsAddr()
		if r := p.agent.Receiver(); r != nil {
			a.AgentOTLP.GRPC, a.AgentOTLP.HTTP = r.GRPCAddr(), r.HTTPAddr()
		}
	}
	return a
}

// Store is the storage client the pipeline writes with.
func (p *Pipeline) Store() *storage.Store { return p.store }

// Flowgraph is the running flow analyzer service.
func (p *Pipeline) Flowgraph() *flowgraph.Service { return p.graph }

// Rules is the rules evaluator, nil when no rule files are configured.
func (p *Pipeline) Rules() *eval.Evaluator { return p.rules }

// Collector is the running collector (nil while a test has killed it).
func (p *Pipeline) Collector() *collector.Collector { return p.coll.current() }

// CredentialsPath is where the endpoint's users and passwords are.
func (p *Pipeline) CredentialsPath() string {
	return chserver.CredentialsPath(p.cfg.ClickHouse.DataDir)
}

// Config is the pipeline's config, defaults filled and folders placed.
func (p *Pipeline) Config() Config { return p.cfg }
