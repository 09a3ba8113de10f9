// Package pipeline assembles the whole flowlens pipeline in one process with
// one data folder: the embedded ClickHouse engine and its HTTP endpoint, the
// embedded Kafka broker, the collector, the flow analyzer, an optional rules
// evaluator and a local agent. `flowlens up` runs it; the end-to-end tests
// start it too, so what they prove is what a newcomer runs.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chdb"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/rules/eval"
	"github.com/flowlens/flowlens/storage"
)

// Config of the one-machine pipeline. Each part keeps its own defaults; the
// pipeline only fills in what connects them (addresses, data folders).
type Config struct {
	// DataDir holds everything: clickhouse/, kafka/, agent/, rules/. Default "data".
	DataDir    string             `yaml:"data_dir"`
	ClickHouse chserver.Config    `yaml:"clickhouse"`
	Storage    storage.Config     `yaml:"storage"`
	Broker     kafkabroker.Config `yaml:"broker"`
	Collector  collector.Config   `yaml:"collector"`
	Flowgraph  flowgraph.Config   `yaml:"flowgraph"`
	// Agent is the local agent; agent.enabled: false leaves it out.
	Agent AgentConfig `yaml:"agent"`
	// Rules runs the rules evaluator over the analyzer's metrics when
	// rules.rule_files is not empty.
	Rules eval.Config `yaml:"rules"`
	// AlertsListen serves the evaluator's GET /api/v1/alerts (what
	// `flowlens alerts` reads); default 127.0.0.1:9095.
	AlertsListen string `yaml:"alerts_listen"`
	// Console is the web console (default 127.0.0.1:9400; listen: off
	// turns it off); its analyzer and alerts URLs default to this
	// pipeline's.
	Console console.Config `yaml:"console"`
	// BrokerCommand, when set, runs the embedded broker in a child process
	// it makes (see kafkabroker.Process): a crash of the broker then ends
	// that child, not this process and its engine. `flowlens up` sets it.
	BrokerCommand func() *exec.Cmd `yaml:"-"`
}

// AgentConfig is the local agent plus a switch.
type AgentConfig struct {
	Enabled      *bool `yaml:"enabled"`
	agent.Config `yaml:",inline"`
}

func (a AgentConfig) enabled() bool { return a.Enabled == nil || *a.Enabled }

// SetDefaults fills the pipeline's own defaults and every listen address.
// The parts' other defaults are filled by their constructors, after Start
// has connected them. The parts' data folders are placed under DataDir
// later (placeFolders), so that data_dir read from a file after
// SetDefaults (config.Load's order) moves them too.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.ClickHouse.HTTP.Listen == "" {
		c.ClickHouse.HTTP.Listen = storage.DefaultAddr
	}
	c.Broker.SetDefaults()
	c.Collector.HTTP.SetDefaults(collector.DefaultListen)
	c.Flowgraph.HTTP.SetDefaults(flowgraph.DefaultListen)
	c.Agent.OTLP.SetDefaults()
	c.Agent.Metrics.SetDefaults(agent.DefaultMetricsListen)
	if c.AlertsListen == "" {
		c.AlertsListen = "127.0.0.1:9095"
	}
	c.Console.SetDefaults()
}

// placeFolders puts each part's data under DataDir unless the config
// places it elsewhere.
func (c *Config) placeFolders() {
	if c.ClickHouse.DataDir == "" {
		c.ClickHouse.DataDir = filepath.Join(c.DataDir, "clickhouse")
	}
	if c.Broker.DataDir == "" {
		c.Broker.DataDir = filepath.Join(c.DataDir, "kafka")
	}
	if c.Agent.DataDir == "" {
		c.Agent.DataDir = filepath.Join(c.DataDir, "agent")
	}
	if c.Rules.DataDir == "" {
		c.Rules.DataDir = filepath.Join(c.DataDir, "rules")
	}
}

// Validate checks what the pipeline itself decides.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return config.Errorf("data_dir", "must not be empty")
	}
	placed := *c
	placed.placeFolders()
	var errs []error
	errs = append(errs, config.Nest("clickhouse", placed.ClickHouse.Validate()))
	errs = append(errs, config.Nest("broker", placed.Broker.Validate()))
	errs = append(errs, config.Nest("console", placed.Console.Validate()))
	return errors.Join(errs...)
}

// Listener is one address the pipeline listens on.
type Listener struct {
	Name string  // what listens there, for people
	Key  string  // its key in the config file
	Addr *string // the setting in the Config it was taken from
}

// Listeners are the addresses c's parts listen on (all set after SetDefaults;
// "off" for the collector's and the agent's metrics turns those off).
func (c *Config) Listeners() []Listener {
	return []Listener{
		{"ClickHouse HTTP endpoint", "clickhouse.listen", &c.ClickHouse.HTTP.Listen},
		{"Kafka broker", "broker.addr", &c.Broker.Addr},
		{"agent's OTLP gRPC receiver", "agent.otlp.grpc.listen", &c.Agent.OTLP.GRPC.Listen},
		{"agent's OTLP HTTP receiver", "agent.otlp.http.listen", &c.Agent.OTLP.HTTP.Listen},
		{"flow graph API and metrics", "flowgraph.listen", &c.Flowgraph.HTTP.Listen},
		{"alerts API", "alerts_listen", &c.AlertsListen},
		{"collector's metrics", "collector.listen", &c.Collector.HTTP.Listen},
		{"agent's metrics", "agent.metrics.listen", &c.Agent.Metrics.Listen},
		{"web console", "console.listen", &c.Console.HTTP.Listen},
	}
}

// AddrInUseError is a listen address another process holds.
type AddrInUseError struct {
	Addr string // as configured
	Name string // what wanted to listen there
	Key  string // the config key of the address
	// Setting says how to choose another address: Key, unless the caller
	// knows better (`flowlens up` names its flag).
	Setting string
	Err     error
}

func (e *AddrInUseError) Error() string {
	return fmt.Sprintf("%s is in use (another flowlens?): stop what listens there, or move the %s elsewhere (%s)", e.Addr, e.Name, e.Setting)
}

func (e *AddrInUseError) Unwrap() error { return e.Err }

// explainListenError turns a listen error on an address in use into an
// AddrInUseError naming the listener of cfg it belongs to.
func explainListenError(err error, cfg *Config) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "listen" || !errors.Is(err, syscall.EADDRINUSE) || op.Addr == nil {
		return err
	}
	_, port, _ := net.SplitHostPort(op.Addr.String())
	for _, l := range cfg.Listeners() {
		if _, p, _ := net.SplitHostPort(*l.Addr); p == port && p != "0" {
			return &AddrInUseError{Addr: *l.Addr, Name: l.Name, Key: l.Key, Setting: l.Key, Err: err}
		}
	}
	return &AddrInUseError{Addr: op.Addr.String(), Name: "listener", Setting: "see the listen addresses of the config", Err: err}
}

// Pipeline is a running pipeline.
type Pipeline struct {
	log     *zap.Logger
	started []part
	ch      *chserver.Server
	store   *storage.Store
	broker  embeddedBroker
	coll    *collector.Collector
	graph   *flowgraph.Service
	rules   *eval.Evaluator
	agent   *agent.Agent
	agentOn bool
	console *console.Console
	// failed carries the error of a part that stopped on its own.
	failed     chan error
	cfg        Config
	collCfg    collector.Config
	alertsAddr string
	// brokerAddr is where the broker listened before StopBroker.
	brokerAddr []string
}

// embeddedBroker is the embedded Kafka broker, in this process or in a child.
type embeddedBroker interface {
	Start(context.Context) error
	Addrs() []string
	Shutdown(context.Context) error
}

func newBroker(cfg Config, log *zap.Logger) (embeddedBroker, error) {
	if cfg.BrokerCommand != nil {
		return kafkabroker.NewProcess(cfg.Broker, cfg.BrokerCommand, component.Settings{Logger: log})
	}
	return kafkabroker.New(cfg.Broker, component.Settings{Logger: log})
}

type part struct {
	name string
	stop func(context.Context) error
}

// Start brings every part up, in the order data flows backwards (storage
// first, sources last), so nothing is produced before it can be consumed.
// On error, what was started is stopped again.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (_ *Pipeline, err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	cfg.placeFolders()
	if log == nil {
		log = zap.NewNop()
	}
	// p is not the named result: every error return sets that to nil, and
	// what was started must still be stopped.
	p := &Pipeline{log: log, cfg: cfg, failed: make(chan error, 1)}
	defer func() {
		if err != nil {
			err = explainListenError(err, &cfg)
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if serr := p.Shutdown(sctx); serr != nil {
				log.Warn("stopping what had started", zap.Error(serr))
			}
		}
	}()

	// Everything below DataDir (spans, logs, Kafka segments, credentials)
	// is for this user only.
	if err = chdb.PrivateDir(cfg.DataDir); err != nil {
		return nil, err
	}
	// ClickHouse: the engine, its HTTP endpoint, the schema.
	if p.ch, err = chserver.New(cfg.ClickHouse, component.Settings{Logger: log.Named("clickhouse")}); err != nil {
		return nil, err
	}
	if err = p.ch.Start(ctx); err != nil {
		_ = p.ch.Shutdown(context.Background())
		return nil, err
	}
	p.add("clickhouse", p.ch.Shutdown)
	scfg, admin := cfg.Storage, cfg.Storage
	if scfg.Addr == "" {
		// The embedded endpoint's own users: the parts write as writer,
		// the schema is applied as admin.
		scfg.Addr, admin.Addr = p.ch.Addr(), p.ch.Addr()
		scfg.Username, scfg.Password, _ = p.ch.Credentials().Login(chserver.RoleWriter)
		admin.Username, admin.Password, _ = p.ch.Credentials().Login(chserver.RoleAdmin)
	}
	scfg.SetDefaults()
	admin.SetDefaults()
	if err = storage.MigrateAs(ctx, admin, log.Named("storage")); err != nil {
		return nil, err
	}
	if p.store, err = storage.Open(ctx, scfg, log.Named("storage")); err != nil {
		return nil, err
	}
	p.add("storage client", func(context.Context) error { return p.store.Close() })

	// Kafka.
	if p.broker, err = newBroker(cfg, log.Named("broker")); err != nil {
		return nil, err
	}
	if err = p.broker.Start(ctx); err != nil {
		_ = p.broker.Shutdown(context.Background())
		return nil, err
	}
	p.add("broker", p.broker.Shutdown)
	brokers := p.broker.Addrs()

	// Collector: Kafka -> ClickHouse.
	p.collCfg = cfg.Collector
	if len(p.collCfg.Kafka.Brokers) == 0 {
		p.collCfg.Kafka.Brokers = brokers
		cfg.Broker.ClientSecurity(&p.collCfg.Kafka)
	}
	p.collCfg.SetDefaults()
	if err = p.StartCollector(ctx); err != nil {
		return nil, err
	}
	p.add("collector", func(ctx context.Context) error {
		if p.coll == nil {
			return nil
		}
		return p.coll.Shutdown(ctx)
	})

	// Flow analyzer.
	fcfg := cfg.Flowgraph
	if len(fcfg.Kafka.Brokers) == 0 {
		fcfg.Kafka.Brokers = brokers
		cfg.Broker.ClientSecurity(&fcfg.Kafka)
	}
	fcfg.SetDefaults()
	graphReg := prometheus.NewRegistry()
	if p.graph, err = flowgraph.New(fcfg, flowgraph.Settings{Settings: component.Settings{Logger: log.Named("flowgraph"), Registerer: graphReg}, Store: p.store}); err != nil {
		return nil, err
	}
	if err = p.graph.Start(ctx); err != nil {
		_ = p.graph.Shutdown(context.Background())
		return nil, err
	}
	p.add("flow analyzer", p.graph.Shutdown)

	// Rules over the analyzer's metrics, when there are rules.
	if len(cfg.Rules.RuleFiles) > 0 {
		rcfg := cfg.Rules
		rcfg.SetDefaults()
		rcfg.HTTP.Listen = cfg.AlertsListen
		if p.rules, err = eval.New(rcfg, eval.Settings{Settings: component.Settings{Logger: log.Named("rules")}, FlowMetrics: graphReg}); err != nil {
			return nil, err
		}
		if err = p.rules.Start(ctx); err != nil {
			_ = p.rules.Shutdown(context.Background())
			return nil, err
		}
		p.add("rules", p.rules.Shutdown)
		for _, bad := range p.rules.InvalidRules() {
			log.Warn("rule skipped", zap.Any("problem", bad))
		}
		p.alertsAddr = p.rules.Addr()
	}

	// The local agent: files and OTLP -> Kafka.
	if cfg.Agent.enabled() {
		acfg := cfg.Agent.Config
		if len(acfg.Kafka.Brokers) == 0 {
			acfg.Kafka.Brokers = brokers
			cfg.Broker.ClientSecurity(&acfg.Kafka.ClientConfig)
		}
		acfg.SetDefaults()
		if p.agent, err = agent.New(acfg, agent.Settings{Settings: component.Settings{Logger: log.Named("agent")}, Version: "flowlens-up"}); err != nil {
			return nil, err
		}
		if err = p.agent.Start(ctx); err != nil {
			_ = p.agent.Shutdown(context.Background())
			return nil, fmt.Errorf("start agent: %w", err)
		}
		p.agentOn = true
		p.add("agent", p.agent.Shutdown)
		go func(failed <-chan error) {
			if err, ok := <-failed; ok {
				p.fail(fmt.Errorf("the local agent stopped: %w", err))
			}
		}(p.agent.Failed())
	}

	// The web console over the store and the live APIs.
	ccfg := cfg.Console
	if ccfg.AnalyzerURL == "" {
		ccfg.AnalyzerURL = "http://" + p.graph.Addr()
	}
	if ccfg.AlertsURL == "" && p.alertsAddr != "" {
		ccfg.AlertsURL = "http://" + p.alertsAddr
	}
	// it reads as the endpoint's reader: the console never writes
	rcfg := scfg
	if cfg.Storage.Addr == "" {
		rcfg.Username, rcfg.Password, _ = p.ch.Credentials().Login(chserver.RoleReader)
	}
	consoleStore, err := storage.Open(ctx, rcfg, log.Named("console"))
	if err != nil {
		return nil, err
	}
	p.add("console's storage client", func(context.Context) error { return consoleStore.Close() })
	if p.console, err = console.New(ccfg, console.Settings{Settings: component.Settings{Logger: log.Named("console")}, Store: consoleStore}); err != nil {
		return nil, err
	}
	if err = p.console.Start(ctx); err != nil {
		return nil, err
	}
	p.add("console", p.console.Shutdown)
	return p, nil
}

// StartCollector starts the collector (again, after KillCollector).
func (p *Pipeline) StartCollector(ctx context.Context) error {
	c, err := collector.New(p.collCfg, collector.Settings{Settings: component.Settings{Logger: p.log.Named("collector")}, Store: p.store})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		_ = c.Shutdown(context.Background())
		return err
	}
	p.coll = c
	return nil
}

// KillCollector stops the collector the way a crash would: no flush, no
// commit. What it had stored but not committed is consumed again by the next
// collector, which stores it once (see package collector).
func (p *Pipeline) KillCollector() {
	if p.coll == nil {
		return
	}
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.coll.Shutdown(dead)
	p.coll = nil
}

// StopBroker stops the embedded broker, as an outage of Kafka would; the
// agent buffers on disk and the consumers wait. StartBroker brings it back
// on the same address with the same data.
func (p *Pipeline) StopBroker() error {
	p.brokerAddr = p.broker.Addrs()
	return p.broker.Shutdown(context.Background())
}

// StartBroker restarts the broker stopped by StopBroker.
func (p *Pipeline) StartBroker(ctx context.Context) error {
	cfg := p.cfg
	if len(p.brokerAddr) > 0 {
		cfg.Broker.Addr = p.brokerAddr[0]
	}
	b, err := newBroker(cfg, p.log.Named("broker"))
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("restart broker on %s: %w", cfg.Broker.Addr, err)
	}
	p.broker = b
	return nil
}

// Failed delivers the error of a part that stopped on its own (the local
// agent, when its disk buffer cannot fsync): the pipeline should be shut
// down and the process exit non-zero, so that a service manager restarts it.
func (p *Pipeline) Failed() <-chan error { return p.failed }

func (p *Pipeline) fail(err error) {
	select {
	case p.failed <- err:
	default: // one is enough
	}
}

func (p *Pipeline) add(name string, stop func(context.Context) error) {
	p.started = append(p.started, part{name, stop})
}

// Shutdown stops the parts in reverse order: sources first, so every part
// flushes into the ones it feeds (the agent into Kafka, the collector into
// ClickHouse, committing what it stored), storage last.
// Safe on a nil Pipeline (a Start that failed) and twice.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	var errs []error
	for i := len(p.started) - 1; i >= 0; i-- {
		s := p.started[i]
		if err := s.stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	p.started = nil
	return errors.Join(errs...)
}

// Addresses of a running pipeline, for people and tests.
type Addresses struct {
	ClickHouse string   // HTTP endpoint
	Kafka      []string // bootstrap brokers
	Flowgraph  string   // /metrics, /api/v1/graph
	Collector  string   // /metrics, /healthz ("" when off)
	AgentOTLP  struct{ GRPC, HTTP string }
	Agent      string // agent /metrics ("" when off)
	Alerts     string // GET /api/v1/alerts ("" without rules)
	Console    string // the web console's base URL ("" when off)
}

// Addrs returns where the parts listen.
func (p *Pipeline) Addrs() Addresses {
	a := Addresses{ClickHouse: p.ch.Addr(), Kafka: p.broker.Addrs(), Flowgraph: p.graph.Addr(), Alerts: p.alertsAddr, Console: p.console.URL()}
	if p.agentOn {
		a.Agent = p.agent.MetricsAddr()
		if r := p.agent.Receiver(); r != nil {
			a.AgentOTLP.GRPC, a.AgentOTLP.HTTP = r.GRPCAddr(), r.HTTPAddr()
		}
	}
	return a
}

// Store is the storage client the pipeline writes with.
func (p *Pipeline) Store() *storage.Store { return p.store }

// Analyzer is the running flow analyzer.
func (p *Pipeline) Analyzer() *flowgraph.Service { return p.graph }

// Rules is the rules evaluator, nil when no rule files are configured.
func (p *Pipeline) Rules() *eval.Evaluator { return p.rules }

// Collector is the running collector.
func (p *Pipeline) Collector() *collector.Collector { return p.coll }
