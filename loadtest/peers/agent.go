package peers

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowlens/flowlens/internal/otlpwire"
	"github.com/flowlens/flowlens/loadtest/bench"
)

// The agent's inputs compared with the OpenTelemetry Collector's receivers.
const (
	InputFiles    = "files"    // JSON lines in one file: filelog + json_parser
	InputJournald = "journald" // a .journal file: journald receiver
	InputCRI      = "cri"      // CRI lines (JSON inside) under a pods folder: filelog + container + json_parser
	InputSyslog   = "syslog"   // RFC 5424 over TCP, octet counting: syslog receiver
)

// Inputs are the inputs AgentConfig.Input takes.
var Inputs = []string{InputFiles, InputJournald, InputCRI, InputSyslog}

// Agent is the flowlens peer's name in the agent comparison.
const Agent = "flowlens-agent"

// AgentConfig of an agent comparison: flowlens-agent and the OpenTelemetry
// Collector read the same input, one after the other, each into a fresh
// embedded broker.
type AgentConfig struct {
	// Flowlens runs the broker; Agent and Otelcol are the peers
	// (bin/flowlens, bin/flowlens-agent, bin/otelcol-peers).
	Flowlens, Agent, Otelcol string
	// Dir holds the input, each run's broker and data and every log.
	Dir string
	// Input is one of Inputs.
	Input string
	// Lines (entries, messages) of input; each peer sends all of them to
	// Kafka in every run.
	Lines int
	// Runs of each peer; the order alternates between runs.
	Runs int
	// Timeout of one peer's run; default 30 minutes.
	Timeout time.Duration
	// Out receives progress lines.
	Out io.Writer
}

// AgentResult is one peer's run on one input.
type AgentResult struct {
	Peer  string
	Run   int
	Input string
	// Lines is the input; Records the log records in Kafka two seconds
	// after Lines of them had arrived (more: some were sent twice).
	Lines, Records uint64
	// Wall is from the peer's start until Lines records were in Kafka.
	Wall time.Duration
	// CPU seconds of the peer and the processes it started (journalctl),
	// and the peak resident memory (MB) of them together.
	CPU, RSSMB float64
	// Calibration is bench.Calibrate before the run.
	Calibration time.Duration
}

// LinesPerCPUSecond is the input lines per CPU-second of the peer.
func (r AgentResult) LinesPerCPUSecond() float64 { return float64(r.Lines) / r.CPU }

// LinesPerSec is the input lines per second of wall time.
func (r AgentResult) LinesPerSec() float64 { return float64(r.Lines) / r.Wall.Seconds() }

// RunAgents prepares the input, then runs each peer cfg.Runs times on it
// and returns every run's result.
func RunAgents(ctx context.Context, cfg AgentConfig) ([]AgentResult, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Lines < 1 || cfg.Runs < 1 {
		return nil, fmt.Errorf("lines %d, runs %d: want at least 1 of each", cfg.Lines, cfg.Runs)
	}
	in, ok := inputs[cfg.Input]
	if !ok {
		return nil, fmt.Errorf("input %q: want one of %s", cfg.Input, strings.Join(Inputs, ", "))
	}
	for _, bin := range []string{cfg.Flowlens, cfg.Agent, cfg.Otelcol} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("binary: %w (make build otelcol)", err)
		}
	}
	inputDir := filepath.Join(cfg.Dir, "input")
	if err := os.MkdirAll(inputDir, 0o755); err != nil {
		return nil, fmt.Errorf("benchmark folder: %w", err)
	}
	fmt.Fprintf(cfg.Out, "writing %d lines of %s input to %s\n", cfg.Lines, cfg.Input, inputDir)
	start := time.Now()
	src, err := in.prepare(inputDir, cfg.Lines, time.Now())
	if err != nil {
		return nil, fmt.Errorf("prepare %s input: %w", cfg.Input, err)
	}
	fmt.Fprintf(cfg.Out, "written in %v\n", time.Since(start).Round(100*time.Millisecond))

	var results []AgentResult
	for run := 1; run <= cfg.Runs; run++ {
		order := []string{OTel, Agent}
		if run%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, peer := range order {
			r := agentRunner{cfg: cfg, in: in, src: src, run: run, peer: peer}
			res, err := r.measure(ctx)
			if err != nil {
				return results, fmt.Errorf("%s run %d: %w", peer, run, err)
			}
			fmt.Fprintf(cfg.Out, "%s run %d: %d lines (%d records) in %v, CPU-s %.1f (%.0f lines per CPU-second), peak RSS %.0f MB\n", peer, run,
				res.Lines, res.Records, res.Wall.Round(100*time.Millisecond), res.CPU, res.LinesPerCPUSecond(), res.RSSMB)
			results = append(results, res)
		}
	}
	return results, nil
}

// agentRunner is one peer's run: a fresh broker, the peer, until every
// line is in Kafka.
type agentRunner struct {
	cfg  AgentConfig
	in   input
	src  *prepared
	run  int
	peer string
}

// logsTopic is where the peers write; the broker is fresh each run, so one
// name does.
const logsTopic = "peer_logs"

func (r *agentRunner) measure(ctx context.Context) (AgentResult, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	dir := filepath.Join(r.cfg.Dir, fmt.Sprintf("run-%d-%s", r.run, r.peer))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return AgentResult{}, err
	}
	broker, err := startProcess(dir, "broker", r.cfg.Flowlens, "--log-level", "info", "--data-dir", dir,
		"broker", "--listen", "127.0.0.1:0", "--partitions", "6")
	if err != nil {
		return AgentResult{}, err
	}
	defer func() {
		broker.stop()
		// The broker's data and the agent's buffer hold the whole input;
		// the logs and configs stay.
		_ = os.RemoveAll(filepath.Join(dir, "kafka"))
		_ = os.RemoveAll(filepath.Join(dir, "agent-data"))
	}()
	kafkaAddr, err := broker.loggedAddr(ctx, "embedded kafka broker started", "addrs")
	if err != nil {
		return AgentResult{}, err
	}
	if err := createTopic(ctx, kafkaAddr, logsTopic, 6); err != nil {
		return AgentResult{}, err
	}
	counter, err := countRecords(ctx, kafkaAddr, logsTopic)
	if err != nil {
		return AgentResult{}, err
	}
	defer counter.close()

	syslogAddr := ""
	if r.src.syslog != nil {
		if syslogAddr, err = freeTCPAddr(); err != nil {
			return AgentResult{}, err
		}
	}
	calibration := bench.Calibrate()
	var peer *process
	start := time.Now()
	switch r.peer {
	case OTel:
		path := filepath.Join(dir, "otelcol.yaml")
		if err := os.WriteFile(path, agentOtelConfig(r.in.otelReceiver(r.src, syslogAddr), kafkaAddr, logsTopic), 0o600); err != nil {
			return AgentResult{}, err
		}
		peer, err = startProcess(dir, r.peer, r.cfg.Otelcol, "--config", path)
	case Agent:
		path := filepath.Join(dir, "agent.yaml")
		data := filepath.Join(dir, "agent-data")
		if err := os.WriteFile(path, agentConfig(r.in.agentSection(r.src, syslogAddr), data, kafkaAddr, logsTopic), 0o600); err != nil {
			return AgentResult{}, err
		}
		peer, err = startProcess(dir, r.peer, r.cfg.Agent, "--config", path, "run")
	}
	if err != nil {
		return AgentResult{}, err
	}
	defer peer.stop()
	sent := make(chan error, 1)
	if r.src.syslog != nil {
		go func() { sent <- sendSyslog(ctx, syslogAddr, r.src.syslog) }()
	}

	lines := uint64(r.src.lines)
	for counter.records() < lines {
		if err := peer.exited(); err != nil {
			return AgentResult{}, err
		}
		select {
		case <-ctx.Done():
			return AgentResult{}, fmt.Errorf("%d records of %d lines: %w (logs in %s)", counter.records(), lines, ctx.Err(), dir)
		case err := <-sent:
			if err != nil {
				return AgentResult{}, err
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	res := AgentResult{Peer: r.peer, Run: r.run, Input: r.cfg.Input, Lines: lines, Wall: time.Since(start), Calibration: calibration}
	for _, pid := range processTree(peer.pid()) {
		res.CPU += bench.CPUSeconds(pid)
		res.RSSMB += bench.PeakRSSMB(pid)
	}
	// A duplicate may show up late (a batch sent again after a timeout):
	// count again after a moment, so the table says so.
	time.Sleep(2 * time.Second)
	res.Records = counter.records()
	return res, nil
}

// agentConfig is flowlens-agent's config: section (the input's) with its
// defaults, into topic; no OTLP, metrics or status listeners (other agents
// may run on the machine).
func agentConfig(section, dataDir, kafkaAddr, topic string) []byte {
	return fmt.Appendf(nil, `data_dir: %q
host_name: bench-host
log: {level: info}
otlp: {grpc: {listen: "off"}, http: {listen: "off"}}
metrics: {listen: "off"}
status: {socket: "off"}
kafka:
  brokers: [%q]
  topics: {logs: %q, spans: %q, ledger: %q, create: true, partitions: 6}
%s`, dataDir, kafkaAddr, topic, topic+"_spans", topic+"_ledger", section)
}

// agentOtelConfig is the OpenTelemetry Collector's config: receiver (the
// input's, one YAML block named by its first line), the batch processor (1000 records,
// so a message stays under the broker's 1 MB) and the kafka exporter as the
// agent produces (otlp_proto, lz4, acks from all replicas).
func agentOtelConfig(receiver, kafkaAddr, topic string) []byte {
	name, _, _ := strings.Cut(receiver, ":")
	return fmt.Appendf(nil, `receivers:
%s
processors:
  batch: {send_batch_size: 1000, send_batch_max_size: 1000}
exporters:
  kafka:
    brokers: [%q]
    logs: {topic: %q, encoding: otlp_proto}
    producer: {compression: lz4, required_acks: -1}
service:
  telemetry:
    logs: {level: info}
    metrics: {level: none}
  pipelines:
    logs:
      receivers: [%s]
      processors: [batch]
      exporters: [kafka]
`, indent(receiver, "  "), kafkaAddr, topic, name)
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n")
}

// createTopic creates topic with its partitions before either peer
// writes, so both write to the same shape.
func createTopic(ctx context.Context, addr, topic string, partitions int) error {
	c := &kafka.Client{Addr: kafka.TCP(addr), Transport: &kafka.Transport{}}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// recordCounter counts the OTLP log records in a topic as they arrive,
// from the wire (no pdata), so it takes little of the peers' CPU.
type recordCounter struct {
	n      atomic.Uint64
	cancel context.CancelFunc
	done   chan struct{}
}

func countRecords(ctx context.Context, addr, topic string) (*recordCounter, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &recordCounter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				// A value that is not a logs request counts 0: the
				// count then falls short and the run says so.
				n, _ := otlpwire.ValidateLogs(r.Value)
				c.n.Add(uint64(n))
			})
		}
	}()
	return c, nil
}

func (c *recordCounter) records() uint64 { return c.n.Load() }

func (c *recordCounter) close() { c.cancel(); <-c.done }

// freeTCPAddr is a loopback address with a port free a moment ago, for a
// peer's syslog listener (the peers do not log the port they got from :0
// alike).
func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// processTree is pid and its descendants (the journald peers run
// journalctl), from /proc's parent IDs.
func processTree(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		// after "(comm) ": state, then the parent's pid
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}
