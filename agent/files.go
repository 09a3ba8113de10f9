package agent

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/agent/buffer"
	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
)

// Attribute keys of cut records.
var (
	attrTruncated    = []byte("flowlens.truncated")
	attrOriginalSize = []byte("flowlens.original_size")
)

// Appender is the part of the disk buffer the pipelines use. Append must
// copy recs before it returns (the WAL writes them to its file): callers
// reuse that memory for their next batch while the fsync is still pending.
type Appender interface {
	Append(ctx context.Context, recs [][]byte, wait bool, onDurable func()) error
}

// fileCounters are shared by all file handlers.
type fileCounters struct {
	records, parseFailures, truncated, batches atomic.Int64
}

// fileSource builds the handler of each file of one source.
type fileSource struct {
	cfg      *FileSource
	parser   *parse.Parser
	resource []logrec.Attr
	service  string
	batch    BatchConfig
	buf      Appender
	counters *fileCounters
	version  string
	// logsByTrace keys records that carry a trace ID by it
	// (partition_logs_by_trace_id), as OTLP logs are.
	logsByTrace bool
	ledger      *ledger.Book // nil: records go unstamped
}

func newFileSource(cfg *FileSource, global *Config, buf Appender, counters *fileCounters, version string) (*fileSource, error) {
	p, err := parse.New(cfg.Parse)
	if err != nil {
		return nil, err
	}
	return &fileSource{cfg: cfg, parser: p, resource: sourceResource(global, cfg.Attributes), service: global.ServiceName, batch: global.Batch,
		buf: buf, counters: counters, version: version, logsByTrace: global.PartitionLogsByTraceID}, nil
}

func (s *fileSource) handler(f tail.File) tail.Handler {
	svc := s.cfg.serviceFor(f.Path, s.service)
	return &fileHandler{
		src:   s,
		out:   batchRecords{byTrace: s.logsByTrace},
		batch: logrec.NewBatch(s.resource, svc, []logrec.Attr{{Key: "log.file.name", Value: filepath.Base(f.Path)}}, s.version),
	}
}

// fileHandler parses the lines of one file into a batch; a full batch (or
// the end of the file) becomes one buffer record whose durability commits
// the file checkpoint.
type fileHandler struct {
	src   *fileSource
	batch *logrec.Batch
	rec   logrec.Record
	last  tail.Checkpoint
	out   batchRecords
	now   uint64
	nowAt int
}

func (h *fileHandler) Line(ctx context.Context, line []byte, origLen int, cp tail.Checkpoint) error {
	r := &h.rec
	r.Reset()
	// the observed time is read once per 64 lines: a clock call per line
	// costs more than the rest of the encoding
	if h.nowAt == 0 {
		h.now = uint64(time.Now().UnixNano())
	}
	h.nowAt = (h.nowAt + 1) & 63
	r.ObservedUnixNano = h.now
	if !h.src.parser.Parse(line, r) {
		h.src.counters.parseFailures.Add(1)
	}
	if origLen > len(line) {
		r.AddBool(attrTruncated, true)
		r.AddInt(attrOriginalSize, int64(origLen))
		h.src.counters.truncated.Add(1)
	}
	h.batch.Add(r)
	h.last = cp
	if h.batch.Len() >= h.src.batch.MaxRecords || h.batch.Size() >= int(h.src.batch.MaxBytes) {
		return h.flush(ctx)
	}
	return nil
}

// Flush sends what is batched; when the file is idle it also lets go of
// large buffers (a host may follow thousands of idle files).
func (h *fileHandler) Flush(ctx context.Context, idle bool) error {
	h.nowAt = 0
	if h.batch.Len() > 0 {
		if err := h.flush(ctx); err != nil {
			return err
		}
	}
	if !idle {
		return nil
	}
	h.batch.Shrink(64 << 10)
	h.out.shrink(64 << 10)
	return nil
}

func (h *fileHandler) flush(ctx context.Context) error {
	n := h.batch.Len()
	cp := h.last
	// block: when the buffer is full the file is not read further
	if err := h.out.appendTo(ctx, h.src.buf, h.batch, h.src.ledger, true, cp.Commit); err != nil {
		return err
	}
	h.src.counters.records.Add(int64(n))
	h.src.counters.batches.Add(1)
	return nil
}

func (h *fileHandler) Close() {}

var _ Appender = (*buffer.WAL)(nil)
