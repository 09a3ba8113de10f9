// Package kafkabroker runs franz-go's kfake, a Kafka-protocol broker, inside
// the flowlens process: the single-machine default when no Kafka brokers are
// configured. It persists to a data folder, binds 127.0.0.1 unless told
// otherwise, and creates the flowlens topics with explicit retention (kfake
// enforces retention only on topics that carry it).
//
// It is one node without replication: fine for one machine, not a
// production cluster. A real Kafka replaces it by configuration
// (kafkawire.ClientConfig.Brokers).
package kafkabroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// Config of the embedded broker.
type Config struct {
	// Addr is the host:port to bind and advertise (default 127.0.0.1:9092;
	// port 0 picks a free one). Agents on other hosts need a concrete,
	// reachable IP here: the broker advertises exactly this address, so an
	// unspecified one (0.0.0.0, ::) is refused.
	Addr string `yaml:"addr"`
	// Listener, when set, is served instead of binding Addr, and Addr
	// becomes its address: for a caller that must own the port before the
	// broker starts (a test where clients are configured first). Not read
	// from YAML.
	Listener net.Listener `yaml:"-"`
	// DataDir keeps the log segments and committed offsets across restarts.
	// Empty keeps everything in memory (tests only: memory grows with data).
	DataDir string `yaml:"data_dir"`
	// SyncWrites fsyncs every produced batch (slower; survives power loss).
	SyncWrites bool `yaml:"sync_writes"`
	// MaxMessageBytes is the broker's message.max.bytes (default 8 MiB, so
	// a record with a 1 MB attribute is accepted and reaches the collector,
	// which dead-letters it with a reason instead of the producer failing).
	MaxMessageBytes bytesize.Size `yaml:"max_message_bytes"`
	// MaxRequestBytes is the largest request a client may send (Kafka's
	// socket.request.max.bytes; default max_message_bytes + 1 MiB). A
	// larger one drops the connection as soon as its size is read, before
	// anything is allocated for it.
	MaxRequestBytes bytesize.Size `yaml:"max_request_bytes"`
	// SASL, when a mechanism is set, admits only clients that log in as
	// this user (SCRAM-SHA-256 or SCRAM-SHA-512; PLAIN only over TLS).
	// Off by default: the broker binds loopback, where every local user
	// can connect to it. `flowlens up` gives its own parts these
	// credentials.
	SASL kafkawire.SASLConfig `yaml:"sasl"`
	// TLS, when cert_file and key_file are set, serves TLS only.
	TLS TLSConfig `yaml:"tls"`
	// RetentionCheck is how often retention runs (log.cleaner.backoff.ms,
	// default 1m).
	RetentionCheck time.Duration `yaml:"retention_check"`
	// Topics are created at start when missing, with their retention.
	// Their partitions default to 1 here (not kafkawire's 6): one machine
	// has one collector, and per-partition batches make one partition's
	// inserts the largest, which is what the engine's CPU depends on most
	// (100k-row inserts cost it a third of 20k-row ones). Raise it, on the
	// broker or later on the topic, to share the load among collectors.
	Topics kafkawire.TopicsConfig `yaml:"topics"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.Listener != nil {
		c.Addr = c.Listener.Addr().String()
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 8 << 20
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = c.MaxMessageBytes + 1<<20
	}
	if c.RetentionCheck == 0 {
		c.RetentionCheck = time.Minute
	}
	if c.Topics.Partitions == 0 {
		c.Topics.Partitions = 1
	}
	c.Topics.SetDefaults()
}

// Validate checks the address and numbers, and reports every mistake.
func (c *Config) Validate() error {
	var errs []error
	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, config.Errorf("addr", "%q must be host:port", c.Addr))
	} else if ip := net.ParseIP(host); ip == nil {
		errs = append(errs, config.Errorf("addr", "%q: the host must be an IP address (it is advertised to clients as is)", c.Addr))
	} else if ip.IsUnspecified() {
		errs = append(errs, config.Errorf("addr", "%q: the broker advertises the address it binds, so bind a concrete IP clients can reach, not %s", c.Addr, host))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, config.Errorf("addr", "%q has an invalid port", c.Addr))
	}
	if c.MaxMessageBytes < 1<<10 {
		errs = append(errs, config.Errorf("max_message_bytes", "must be at least 1KiB"))
	}
	if c.MaxRequestBytes < c.MaxMessageBytes || c.MaxRequestBytes > math.MaxInt32 {
		errs = append(errs, config.Errorf("max_request_bytes", "must be between max_message_bytes (%s) and 2GiB", c.MaxMessageBytes))
	}
	errs = append(errs, c.validateSecurity())
	if c.RetentionCheck < time.Second {
		errs = append(errs, config.Errorf("retention_check", "must be at least 1s"))
	}
	errs = append(errs, config.Nest("topics", c.Topics.Validate()))
	return errors.Join(errs...)
}

// Broker is an embedded Kafka-protocol broker.
type Broker struct {
	cfg    Config
	logger *zap.Logger

	mu      sync.Mutex
	cluster *kfake.Cluster
	addrs   []string
	// refused counts connections dropped for a bad request.
	refused atomic.Int64
}

// New applies the config's defaults and checks it; Start binds and
// serves. The broker has no metrics of its own (set.Registerer is unused).
func New(cfg Config, set component.Settings) (*Broker, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka broker config: %w", err)
	}
	set = set.WithDefaults()
	return &Broker{cfg: cfg, logger: set.Logger}, nil
}

// Start binds the address, loads DataDir and creates missing topics. It
// returns once the broker accepts connections; it serves until Shutdown.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		return errors.New("kafka broker already started")
	}
	host, portStr, _ := net.SplitHostPort(b.cfg.Addr)
	port, _ := strconv.Atoi(portStr)
	tlsConfig, err := b.cfg.TLS.serverConfig()
	if err != nil {
		return err
	}
	security, err := b.cfg.saslOpts()
	if err != nil {
		return err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("flowlens"),
		// kfake always asks for 127.0.0.1:<port>; bind the configured host.
		// TLS is done here, not by kfake.TLS, so that the guard reads
		// the requests in clear.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			ln := b.cfg.Listener
			if ln == nil {
				_, p, err := net.SplitHostPort(address)
				if err != nil {
					return nil, err
				}
				var lc net.ListenConfig
				if ln, err = lc.Listen(ctx, network, net.JoinHostPort(host, p)); err != nil {
					return nil, err
				}
			}
			if tlsConfig != nil {
				ln = tls.NewListener(ln, tlsConfig)
			}
			return guardedListener{Listener: ln, maxRequestBytes: uint32(b.cfg.MaxRequestBytes), logger: b.logger, refused: &b.refused}, nil
		}),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes":      strconv.FormatInt(int64(b.cfg.MaxMessageBytes), 10),
			"log.cleaner.backoff.ms": strconv.FormatInt(b.cfg.RetentionCheck.Milliseconds(), 10),
		}),
		kfake.WithLogger(zapLogger{b.logger}),
	}
	opts = append(opts, security...)
	if b.cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(b.cfg.DataDir))
	}
	if b.cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start embedded kafka broker on %s: %w", b.cfg.Addr, err)
	}
	for _, s := range b.cfg.Topics.Specs() {
		if c.PartitionInfos(s.Name) != nil {
			continue // restored from DataDir
		}
		if err := c.CreateTopic(s.Name, int32(s.Partitions), s.ConfigEntries()); err != nil {
			c.Close()
			return fmt.Errorf("embedded kafka broker: create topic %s: %w", s.Name, err)
		}
	}
	b.cluster = c
	b.addrs = c.ListenAddrs()
	b.logger.Info("embedded kafka broker started", zap.Strings("addrs", b.addrs), zap.String("data_dir", b.cfg.DataDir),
		zap.Bool("tls", tlsConfig != nil), zap.String("sasl", b.cfg.SASL.Mechanism), zap.Bool("sync_writes", b.cfg.SyncWrites))
	return nil
}

// RefusedConnections counts the connections dropped because a request was
// too large or named an API the broker does not have.
func (b *Broker) RefusedConnections() int64 { return b.refused.Load() }

// Addrs returns the broker addresses to give clients (after Start).
func (b *Broker) Addrs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.addrs...)
}

// Cluster exposes the kfake cluster for tests (nil before Start).
func (b *Broker) Cluster() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}

// Shutdown stops serving and, with a DataDir, saves state to disk. Safe
// without Start and twice.
func (b *Broker) Shutdown(context.Context) error {
	b.mu.Lock()
	c := b.cluster
	b.cluster = nil
	b.mu.Unlock()
	if c != nil {
		c.Close()
		b.logger.Info("embedded kafka broker stopped")
	}
	return nil
}

type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		z.l.Sugar().Errorf("kfake: "+format, args...)
	case kfake.LogLevelWarn:
		z.l.Sugar().Warnf("kfake: "+format, args...)
	default:
		// kfake's info and debug logs are per request: too chatty.
	}
}
