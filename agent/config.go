// Package agent wires the host agent: file sources (tail -> parse -> OTLP
// log batches) and OTLP receivers write into the disk buffer; the forwarder
// moves the buffer to Kafka. Nothing is acknowledged to a source (file
// checkpoint, OTLP 200 OK) before it is fsynced in the buffer.
package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/agent/forward"
	"github.com/flowlens/flowlens/agent/journald"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/otlpin"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/syslogin"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/logging"
)

// Config is the whole agent configuration (one YAML file).
type Config struct {
	// DataDir holds the disk buffer and the file checkpoints (default /var/lib/flowlens-agent).
	DataDir string         `yaml:"data_dir"`
	Log     logging.Config `yaml:"log"`
	// HostName is the host.name resource attribute (default: the OS host name).
	HostName string `yaml:"host_name"`
	// ServiceName is the default service.name of file records without a
	// per-source or per-line service.
	ServiceName string `yaml:"service_name"`
	// ResourceAttributes are added to the resource of every file record.
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	Files              []FileSource      `yaml:"files"`
	// Journald follows the systemd journal (absent: off).
	Journald *journald.Config `yaml:"journald"`
	// Containers follows the container runtimes' log files (absent: off).
	Containers *ContainersConfig `yaml:"containers"`
	// Syslog receives syslog messages over UDP and TCP (absent: off).
	Syslog *syslogin.Config `yaml:"syslog"`
	// Batch bounds the log batches built from files (one Kafka message each).
	Batch BatchConfig `yaml:"batch"`
	// OTLP receivers; otlp.grpc.listen / otlp.http.listen: off turns one off.
	OTLP otlpin.Config `yaml:"otlp"`
	// PartitionLogsByTraceID splits logs (of every input) by trace ID (key =
	// trace ID), like spans; records without one share a message without a key.
	PartitionLogsByTraceID bool           `yaml:"partition_logs_by_trace_id"`
	Buffer                 buffer.Config  `yaml:"buffer"`
	Kafka                  forward.Config `yaml:"kafka"`
	// Ledger stamps every message with this host and the interval its
	// records were accepted in, and publishes the per-interval counts to
	// the ledger topic (kafka.topics.ledger) for `flowlens ledger`.
	Ledger ledger.Config `yaml:"ledger"`
	// Metrics serves /metrics and /healthz: listen (default 127.0.0.1:9464;
	// off turns it off), tls and auth (see internal/listener).
	Metrics MetricsConfig `yaml:"metrics"`
	// Status is the local socket that `flowlens-agent status` and
	// `flowlens-agent reload` talk to.
	Status StatusConfig `yaml:"status"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT): the
	// garbage collector works harder near it instead of letting the heap
	// grow. Default 256MiB; 0 keeps the runtime default.
	MemoryLimit *bytesize.Size `yaml:"memory_limit"`
}

// DefaultMetricsListen is where /metrics and /healthz listen by default.
const DefaultMetricsListen = "127.0.0.1:9464"

// MetricsConfig is the self-monitoring listener.
type MetricsConfig struct {
	listener.Config `yaml:",inline"`
}

// RenamedKeys names what replaced the keys of earlier versions.
func (MetricsConfig) RenamedKeys() map[string]string { return map[string]string{"endpoint": "listen"} }

// DefaultDataDir is data_dir's default.
const DefaultDataDir = "/var/lib/flowlens-agent"

// DefaultStatusSocket is the status socket's name in the data folder.
const DefaultStatusSocket = "agent.sock"

// StatusConfig is the agent's local control socket: a unix socket (mode
// 0600, so only the agent's user and root reach it) answering GET /status
// and POST /reload.
type StatusConfig struct {
	// Socket is its path (default data_dir/agent.sock); off turns it off.
	Socket string `yaml:"socket"`
}

// StatusSocket is the status socket's path ("off": none). The default
// follows data_dir, which config.Load sets after the defaults.
func (c *Config) StatusSocket() string {
	if c.Status.Socket == "" {
		return filepath.Join(c.DataDir, DefaultStatusSocket)
	}
	return c.Status.Socket
}

// On reports whether the socket is served.
func (c StatusConfig) On() bool { return c.Socket != "off" }

// Validate checks the path fits a unix socket address.
func (c StatusConfig) Validate() error {
	if !c.On() {
		return nil
	}
	// sun_path holds 108 bytes with its terminating NUL
	if len(c.Socket) > 107 {
		return config.Errorf("socket", "%q is longer than a unix socket path may be (107 bytes)", c.Socket)
	}
	return nil
}

// BatchConfig bounds the batches of file records.
type BatchConfig struct {
	// MaxRecords per batch (default 4096).
	MaxRecords int `yaml:"max_records"`
	// MaxBytes of encoded records per batch (default 512KiB; must stay below
	// kafka.max_request_bytes).
	MaxBytes bytesize.Size `yaml:"max_bytes"`
}

// FileSource is one group of files with its format and enrichment.
type FileSource struct {
	// Name identifies the source; its checkpoints are stored under it.
	Name        string `yaml:"name"`
	tail.Config `yaml:",inline"`
	Parse       parse.Config `yaml:"parse"`
	// Service is the service.name of these files (overrides service_name).
	Service string `yaml:"service"`
	// ServiceRules pick the service.name from the file path; the first
	// matching rule wins over Service.
	ServiceRules []ServiceRule `yaml:"service_rules"`
	// Attributes are extra resource attributes of these files.
	Attributes map[string]string `yaml:"attributes"`
}

// ServiceRule maps file paths to a service name: Service may use the
// groups of Path ($1, ${name}).
type ServiceRule struct {
	Path    string `yaml:"path"`
	Service string `yaml:"service"`

	re *regexp.Regexp
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Batch.MaxRecords == 0 {
		c.Batch.MaxRecords = 4096
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = 512 << 10
	}
	c.Metrics.SetDefaults(DefaultMetricsListen)
	if c.MemoryLimit == nil {
		m := bytesize.Size(256 << 20)
		c.MemoryLimit = &m
	}
	c.OTLP.SetDefaults()
	c.Buffer.SetDefaults()
	c.Kafka.SetDefaults()
	c.Ledger.SetDefaults()
	// File sources decoded from YAML are defaulted in UnmarshalYAML; these
	// are for sources built in code (flowlens up's demo logs). Both only
	// fill fields that are still zero, so running both is harmless.
	for i := range c.Files {
		c.Files[i].Config.SetDefaults()
		c.Files[i].Parse.SetDefaults()
	}
	if c.Journald != nil {
		c.Journald.SetDefaults()
	}
	if c.Containers != nil {
		c.Containers.SetDefaults()
	}
	if c.Syslog != nil {
		c.Syslog.SetDefaults()
	}
}

// UnmarshalYAML applies the defaults of a file source before decoding it.
func (f *FileSource) UnmarshalYAML(unmarshal func(any) error) error {
	type plain FileSource
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	*f = FileSource(p)
	f.Config.SetDefaults()
	f.Parse.SetDefaults()
	return nil
}

// fileSourceName is what a file source's name may hold: it names its
// checkpoints file.
var fileSourceName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks everything and reports every bad field. It has no side
// effects: New compiles the service rules it checks.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.DataDir == "" {
		add(config.Errorf("data_dir", "required"))
	}
	if c.HostName == "" {
		if _, err := os.Hostname(); err != nil {
			add(config.Errorf("host_name", "not set and the OS host name is unknown: %v", err))
		}
	}
	names := map[string]bool{}
	for i := range c.Files {
		f := &c.Files[i]
		field := fmt.Sprintf("files[%d]", i)
		switch {
		case f.Name == "":
			add(config.Errorf(field+".name", "required (checkpoints are stored under it)"))
		case !fileSourceName.MatchString(f.Name):
			add(config.Errorf(field+".name", "%q: only letters, digits, '.', '_' and '-'", f.Name))
		case names[f.Name]:
			add(config.Errorf(field+".name", "%q is used twice", f.Name))
		}
		names[f.Name] = true
		add(config.Nest(field, f.Config.Validate()))
		add(config.Nest(field+".parse", f.Parse.Validate()))
		for j, r := range f.ServiceRules {
			if _, err := regexp.Compile(r.Path); err != nil {
				add(config.Errorf(fmt.Sprintf("%s.service_rules[%d].path", field, j), "%v", err))
			}
			if r.Service == "" {
				add(config.Errorf(fmt.Sprintf("%s.service_rules[%d].service", field, j), "required"))
			}
		}
	}
	if c.Batch.MaxRecords < 1 {
		add(config.Errorf("batch.max_records", "must be at least 1"))
	}
	if c.Batch.MaxBytes < 1024 {
		add(config.Errorf("batch.max_bytes", "must be at least 1KiB"))
	}
	add(config.Nest("otlp", c.OTLP.Validate()))
	add(config.Nest("status", StatusConfig{Socket: c.StatusSocket()}.Validate()))
	add(config.Nest("buffer", c.Buffer.Validate()))
	add(config.Nest("kafka", c.Kafka.Validate()))
	add(config.Nest("ledger", c.Ledger.Validate()))
	if c.Batch.MaxBytes > c.Kafka.MaxRequestBytes-4096 {
		add(config.Errorf("batch.max_bytes", "must be below kafka.max_request_bytes (%s) minus 4KiB", c.Kafka.MaxRequestBytes))
	}
	for i := range c.Files {
		// a batch is sent when it reaches batch.max_bytes, so it can hold
		// that plus one more record of up to max_line_size
		if c.Files[i].MaxLineSize+c.Batch.MaxBytes > c.Kafka.MaxRequestBytes-4096 {
			add(config.Errorf(fmt.Sprintf("files[%d].max_line_size", i), "%s plus batch.max_bytes (%s) must stay below kafka.max_request_bytes (%s) minus 4KiB, or Kafka would refuse the batch",
				c.Files[i].MaxLineSize, c.Batch.MaxBytes, c.Kafka.MaxRequestBytes))
		}
	}
	if c.Journald != nil {
		add(config.Nest("journald", c.Journald.Validate()))
	}
	if c.Containers != nil {
		add(config.Nest("containers", c.Containers.Validate()))
		if names["containers"] {
			add(config.Errorf("files", `a file source is named "containers", which the container logs' metrics use: rename it`))
		}
	}
	if c.Syslog != nil {
		add(config.Nest("syslog", c.Syslog.Validate()))
	}
	// as for files: a batch can hold batch.max_bytes plus one more record
	type recordBound struct {
		key  string
		size bytesize.Size
	}
	var bounds []recordBound
	if c.Journald != nil {
		bounds = append(bounds, recordBound{"journald.max_entry_size", c.Journald.MaxEntrySize})
	}
	if c.Containers != nil {
		bounds = append(bounds, recordBound{"containers.max_line_size", c.Containers.MaxLineSize})
	}
	if c.Syslog != nil {
		bounds = append(bounds, recordBound{"syslog.max_message_size", c.Syslog.MaxMessageSize})
	}
	for _, b := range bounds {
		if b.size+c.Batch.MaxBytes > c.Kafka.MaxRequestBytes-4096 {
			add(config.Errorf(b.key, "%s plus batch.max_bytes (%s) must stay below kafka.max_request_bytes (%s) minus 4KiB, or Kafka would refuse the batch",
				b.size, c.Batch.MaxBytes, c.Kafka.MaxRequestBytes))
		}
	}
	add(config.Nest("metrics", c.Metrics.Validate()))
	if c.MemoryLimit != nil && *c.MemoryLimit != 0 && *c.MemoryLimit < 32<<20 {
		add(config.Errorf("memory_limit", "must be 0 (none) or at least 32MiB"))
	}
	if len(c.Files) == 0 && !c.OTLP.GRPC.On() && !c.OTLP.HTTP.On() && c.Journald == nil && c.Containers == nil && c.Syslog == nil {
		add(config.Errorf("files", "no file, journald, containers or syslog source and both OTLP receivers are off: nothing to do"))
	}
	return errors.Join(errs...)
}

// compileServiceRules compiles the service rules of every file source
// (checked by Validate).
func (c *Config) compileServiceRules() error {
	for i := range c.Files {
		for j := range c.Files[i].ServiceRules {
			r := &c.Files[i].ServiceRules[j]
			re, err := regexp.Compile(r.Path)
			if err != nil {
				return config.Errorf(fmt.Sprintf("files[%d].service_rules[%d].path", i, j), "%v", err)
			}
			r.re = re
		}
	}
	return nil
}

// hostName returns the configured or the OS host name.
func (c *Config) hostName() string {
	if c.HostName != "" {
		return c.HostName
	}
	h, _ := os.Hostname()
	return h
}

// serviceFor picks the service.name of a file.
func (f *FileSource) serviceFor(path, fallback string) string {
	for _, r := range f.ServiceRules {
		if r.re == nil {
			continue
		}
		if m := r.re.FindStringSubmatchIndex(path); m != nil {
			return string(r.re.ExpandString(nil, r.Service, path, m))
		}
	}
	if f.Service != "" {
		return f.Service
	}
	return fallback
}

// shutdownGrace bounds the final flush at shutdown.
const shutdownGrace = 10 * time.Second
