package agent

import (
	"context"
	"sync/atomic"

	"github.com/flowlens/flowlens/agent/ledger"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/syslogin"
)

// syslogOutputs makes the output of each syslog connection: its own batch,
// appended to the disk buffer when full or when the connection has nothing
// more to read. Syslog senders get no acknowledgement, so nothing waits
// for the fsync; a full buffer holds the connection (block).
type syslogOutputs struct {
	resource []logrec.Attr
	service  string
	batch    BatchConfig
	buf      Appender
	version  string
	byTrace  bool // partition_logs_by_trace_id
	records  atomic.Int64
	ledger   *ledger.Book // nil: records go unstamped
}

func newSyslogOutputs(cfg *syslogin.Config, global *Config, buf Appender, version string) *syslogOutputs {
	svc := cfg.Service
	if svc == "" {
		svc = global.ServiceName
	}
	return &syslogOutputs{resource: sourceResource(global, cfg.Attributes), service: svc, batch: global.Batch, buf: buf, version: version,
		byTrace: global.PartitionLogsByTraceID}
}

func (o *syslogOutputs) newOutput() syslogin.Output {
	b := logrec.NewBatch(o.resource, o.service, nil, o.version)
	w := newRecordWriter(o.buf, b, o.batch, o.byTrace, true, func(n int) { o.records.Add(int64(n)) })
	w.ledger = o.ledger
	return &syslogOutput{w: w}
}

type syslogOutput struct{ w *recordWriter }

func (s *syslogOutput) Add(ctx context.Context, r *logrec.Record) error {
	if s.w.add(r) {
		return s.w.flush(ctx, nil)
	}
	return nil
}

func (s *syslogOutput) Flush(ctx context.Context) error { return s.w.flush(ctx, nil) }
