package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/agent/container"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/config"
)

// ContainersConfig follows the log files of container runtimes. The files
// are read like file sources (checkpoints, rotation, truncation: the tail
// settings below), each line is decoded from the runtime's format (CRI or
// Docker json-file, told apart per line), partial lines are joined, and
// the container's own line is parsed with parse. Pod, namespace and
// container come from the path, as resource attributes.
type ContainersConfig struct {
	// PodsDir holds kubelet's CRI logs,
	// <pods_dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log
	// (default /var/log/pods; off: not read).
	PodsDir string `yaml:"pods_dir"`
	// ContainersDir holds <pod>_<namespace>_<container>-<id>.log files
	// (default off: on Kubernetes they are links into pods_dir, read there;
	// set it, with pods_dir: off, where they are the files themselves).
	ContainersDir string `yaml:"containers_dir"`
	// DockerDir holds Docker's json-file logs, <docker_dir>/<id>/<id>-json.log
	// (default off; Docker's own is /var/lib/docker/containers).
	DockerDir string `yaml:"docker_dir"`
	// Tail settings (start_at, scan_interval, poll_interval,
	// max_line_size, ...) as for files; include is made from the folders
	// above, multiline is not used (the runtimes mark partial lines).
	tail.Config `yaml:",inline"`
	// Parse is the format of the containers' own lines (default plain).
	Parse parse.Config `yaml:"parse"`
	// Service is the service.name of every container; default: the
	// container's name (or a service field of the line, with parse).
	Service string `yaml:"service"`
	// Attributes are extra resource attributes.
	Attributes map[string]string `yaml:"attributes"`
}

// SetDefaults fills the unset fields and makes the include patterns.
func (c *ContainersConfig) SetDefaults() {
	if c.PodsDir == "" {
		c.PodsDir = "/var/log/pods"
	}
	if c.ContainersDir == "" {
		c.ContainersDir = "off"
	}
	if c.DockerDir == "" {
		c.DockerDir = "off"
	}
	c.Config.Include = c.include()
	c.Config.SetDefaults()
	c.Parse.SetDefaults()
}

func (c *ContainersConfig) include() []string {
	var inc []string
	if c.PodsDir != "off" {
		inc = append(inc, filepath.Join(c.PodsDir, "*", "*", "*.log"))
	}
	if c.ContainersDir != "off" {
		inc = append(inc, filepath.Join(c.ContainersDir, "*.log"))
	}
	if c.DockerDir != "off" {
		inc = append(inc, filepath.Join(c.DockerDir, "*", "*-json.log"))
	}
	return inc
}

// Validate checks the settings.
func (c *ContainersConfig) Validate() error {
	var errs []error
	for _, d := range []struct{ key, dir string }{{"pods_dir", c.PodsDir}, {"containers_dir", c.ContainersDir}, {"docker_dir", c.DockerDir}} {
		if d.dir != "off" && !filepath.IsAbs(d.dir) {
			errs = append(errs, config.Errorf(d.key, "%q must be an absolute path, or off", d.dir))
		}
	}
	if len(c.include()) == 0 {
		errs = append(errs, config.Errorf("pods_dir", "pods_dir, containers_dir and docker_dir are all off: nothing to read"))
	} else if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Multiline.StartPattern != "" {
		errs = append(errs, config.Errorf("multiline", "not used for container logs: the runtimes mark partial lines"))
	}
	errs = append(errs, config.Nest("parse", c.Parse.Validate()))
	return errors.Join(errs...)
}

// containerCounters are the container logs' counters.
type containerCounters struct {
	records, decodeFailures, truncated atomic.Int64
}

// containerSource builds the handler of each container log file.
type containerSource struct {
	cfg      *ContainersConfig
	global   *Config
	parser   *parse.Parser
	buf      Appender
	counters containerCounters
	version  string
	ledger   *ledger.Book // nil: records go unstamped
}

func newContainerSource(cfg *ContainersConfig, global *Config, buf Appender, version string) (*containerSource, error) {
	p, err := parse.New(cfg.Parse)
	if err != nil {
		return nil, err
	}
	return &containerSource{cfg: cfg, global: global, parser: p, buf: buf, version: version}, nil
}

func (s *containerSource) handler(f tail.File) tail.Handler {
	meta, _ := container.PathMeta(f.Path)
	own := meta.Attributes()
	for k, v := range s.cfg.Attributes {
		own[k] = v
	}
	svc := s.cfg.Service
	if svc == "" {
		svc = meta.Container
	}
	if svc == "" {
		svc = s.global.ServiceName
	}
	b := logrec.NewBatch(sourceResource(s.global, own), svc, []logrec.Attr{{Key: "log.file.path", Value: f.Path}}, s.version)
	w := newRecordWriter(s.buf, b, s.global.Batch, s.global.PartitionLogsByTraceID, true, func(n int) { s.counters.records.Add(int64(n)) })
	w.ledger = s.ledger
	return &containerHandler{src: s, w: w}
}

var (
	keyIOStream    = []byte("log.iostream")
	keyDecodeError = []byte("flowlens.parse_error")
	valRuntime     = []byte("container_runtime")
)

// containerHandler decodes one file's runtime lines, joins partial ones
// and parses the result. The checkpoint committed with a batch is that of
// its last complete line: a partial line pending at a restart is read
// again whole.
type containerHandler struct {
	src     *containerSource
	w       *recordWriter
	dec     container.Decoder
	line    container.Line
	rec     logrec.Record
	joined  []byte
	pending bool // joined holds partial pieces
	cut     bool // the pieces were longer than max_line_size
	first   container.Line
	last    tail.Checkpoint
}

func (h *containerHandler) Line(ctx context.Context, line []byte, origLen int, cp tail.Checkpoint) error {
	limit := int(h.src.cfg.MaxLineSize)
	if err := h.dec.Decode(line, &h.line); err != nil {
		// not runtime format: kept whole, marked (a pending partial ends here)
		if err := h.emitPending(ctx); err != nil {
			return err
		}
		r := &h.rec
		r.Reset()
		r.ObservedUnixNano = uint64(time.Now().UnixNano())
		r.Body = line
		r.AddString(keyDecodeError, valRuntime)
		h.src.counters.decodeFailures.Add(1)
		return h.add(ctx, r, cp)
	}
	if !h.pending {
		h.first = h.line
		h.joined = h.joined[:0]
		h.cut = origLen > len(line)
	}
	room := limit - len(h.joined)
	msg := h.line.Message
	if len(msg) > room {
		msg, h.cut = msg[:max(room, 0)], true
	}
	h.joined = append(h.joined, msg...)
	if h.line.Partial {
		h.pending = true
		return nil
	}
	h.pending = false
	return h.emit(ctx, cp)
}

// emitPending sends partial pieces whose final piece never came.
func (h *containerHandler) emitPending(ctx context.Context) error {
	if !h.pending {
		return nil
	}
	h.pending = false
	return h.emit(ctx, h.last)
}

func (h *containerHandler) emit(ctx context.Context, cp tail.Checkpoint) error {
	r := &h.rec
	r.Reset()
	r.ObservedUnixNano = uint64(time.Now().UnixNano())
	h.src.parser.Parse(h.joined, r)
	if r.TimeUnixNano == 0 {
		r.TimeUnixNano = uint64(h.first.Time.UnixNano())
	}
	r.AddString(keyIOStream, []byte(h.first.Stream))
	if h.cut {
		r.AddBool(attrTruncated, true)
		h.src.counters.truncated.Add(1)
	}
	return h.add(ctx, r, cp)
}

func (h *containerHandler) add(ctx context.Context, r *logrec.Record, cp tail.Checkpoint) error {
	h.last = cp
	if h.w.add(r) {
		return h.flush(ctx)
	}
	return nil
}

func (h *containerHandler) flush(ctx context.Context) error {
	if h.w.pending() == 0 {
		return nil
	}
	return h.w.flush(ctx, h.last.Commit)
}

func (h *containerHandler) Flush(ctx context.Context, idle bool) error {
	if err := h.flush(ctx); err != nil {
		return err
	}
	if idle {
		h.w.batch.Shrink(64 << 10)
		h.w.out.shrink(64 << 10)
		if cap(h.joined) > 64<<10 && !h.pending {
			h.joined = nil
		}
	}
	return nil
}

func (h *containerHandler) Close() {}

// UnmarshalYAML applies the defaults after decoding (they only fill what
// is unset), so that absent keys get them.
func (c *ContainersConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain ContainersConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	c.SetDefaults()
	return nil
}
