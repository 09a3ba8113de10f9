package allinone

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/otlpin"
	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/rules/eval"
	"github.com/flowlens/flowlens/storage"
)

// Config of the one-machine pipeline: one section per part, each the
// part's own config. Each part keeps its own defaults; the pipeline only
// fills in what connects them (addresses, data folders, credentials).
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
	// rules.rule_files is not empty; rules.listen is its alerts API (what
	// `flowlens alerts` reads), default 127.0.0.1:9095.
	Rules eval.Config `yaml:"rules"`
	// Console is the web console (default 127.0.0.1:9400; listen: off
	// turns it off); it reads the analyzer and the evaluator of this
	// process unless its analyzer_url and alerts_url say otherwise.
	Console console.Config `yaml:"console"`
}

// RenamedKeys names what replaced the keys of earlier versions.
func (Config) RenamedKeys() map[string]string {
	return map[string]string{"alerts_listen": "rules.listen"}
}

// AgentConfig is the local agent plus a switch.
type AgentConfig struct {
	Enabled      *bool `yaml:"enabled"`
	agent.Config `yaml:",inline"`
}

func (a AgentConfig) enabled() bool { return a.Enabled == nil || *a.Enabled }

// SetDefaults fills the pipeline's own defaults and every listen address.
// The parts' other defaults are filled by their constructors. The parts'
// data folders are placed under DataDir later (placeFolders), so that
// data_dir read from a file after SetDefaults (config.Load's order) moves
// them too.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	c.ClickHouse.HTTP.SetDefaults(chserver.DefaultListen)
	c.Broker.SetDefaults()
	c.Collector.HTTP.SetDefaults(collector.DefaultListen)
	c.Flowgraph.HTTP.SetDefaults(flowgraph.DefaultListen)
	c.Agent.OTLP.GRPC.SetDefaults(otlpin.DefaultGRPCListen)
	c.Agent.OTLP.HTTP.SetDefaults(otlpin.DefaultHTTPListen)
	c.Agent.Metrics.SetDefaults(agent.DefaultMetricsListen)
	c.Rules.HTTP.SetDefaults(eval.DefaultListen)
	c.Console.HTTP.SetDefaults(console.DefaultListen)
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

// validationBrokers stand in for the embedded broker's address, known
// once it listens, when the parts' configs are checked before the start.
var validationBrokers = []string{"127.0.0.1:9092"}

// Validate checks every part's config as that part's New will, before
// anything starts, and names every mistake by its key in this file
// (agent.files[0].service_rules[0].path). It has no side effects.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return config.Errorf("data_dir", "must not be empty")
	}
	p := *c
	p.placeFolders()
	storage := p.Storage
	if storage.Addr == "" {
		storage.Addr = "127.0.0.1:8123"
	}
	storage.SetDefaults()
	coll := p.Collector
	if len(coll.Kafka.Brokers) == 0 {
		coll.Kafka.Brokers = validationBrokers
	}
	coll.SetDefaults()
	fg := p.Flowgraph
	fg.SetDefaults()
	rules := p.Rules
	rules.SetDefaults()
	cons := p.Console
	cons.SetDefaults()
	errs := []error{
		config.Nest("clickhouse", p.ClickHouse.Validate()),
		config.Nest("storage", storage.Validate()),
		config.Nest("broker", p.Broker.Validate()),
		config.Nest("collector", coll.Validate()),
		config.Nest("flowgraph", fg.Validate()),
		config.Nest("console", cons.Validate()),
	}
	if len(rules.RuleFiles) > 0 {
		errs = append(errs, config.Nest("rules", rules.Validate()))
	}
	if p.Agent.enabled() {
		ag := p.Agent.Config
		if len(ag.Kafka.Brokers) == 0 {
			ag.Kafka.Brokers = validationBrokers
		}
		ag.SetDefaults()
		errs = append(errs, config.Nest("agent", ag.Validate()))
	}
	return errors.Join(errs...)
}

// Listener is one address the pipeline listens on.
type Listener struct {
	Name string  // what listens there, for people
	Key  string  // its key in the config file
	Addr *string // the setting in the Config it was taken from
}

// Listeners are the addresses c's parts listen on (all set after
// SetDefaults; off turns all but the endpoint's and the broker's off).
func (c *Config) Listeners() []Listener {
	return []Listener{
		{"ClickHouse HTTP endpoint", "clickhouse.listen", &c.ClickHouse.HTTP.Listen},
		{"Kafka broker", "broker.addr", &c.Broker.Addr},
		{"agent's OTLP gRPC receiver", "agent.otlp.grpc.listen", &c.Agent.OTLP.GRPC.Listen},
		{"agent's OTLP HTTP receiver", "agent.otlp.http.listen", &c.Agent.OTLP.HTTP.Listen},
		{"flow graph API and metrics", "flowgraph.listen", &c.Flowgraph.HTTP.Listen},
		{"alerts API", "rules.listen", &c.Rules.HTTP.Listen},
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
