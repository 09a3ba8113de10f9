// Package agentlogs turns the synthetic system's log lines into what the
// host agent forwards for them: each line written as the services write
// their files (loadtest/logfile), parsed by the agent's JSON parser and
// batched per service into one OTLP ExportLogsServiceRequest, with the
// agent's resource (host.name) and per-record attributes (log.file.name).
// Tests and benchmarks that need the log stream without running an agent
// (loadtest/storeload, loadtest/flowsim) share it.
package agentlogs

import (
	"time"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/loadtest/logfile"
)

// Batcher collects log lines. Not safe for concurrent use.
type Batcher struct {
	host    string
	parser  *parse.Parser
	line    []byte
	rec     logrec.Record
	batches map[string]*logrec.Batch
	n       int
}

// New returns a Batcher whose records say they were read on host.
func New(host string) (*Batcher, error) {
	cfg := parse.Config{Format: parse.FormatJSON}
	cfg.SetDefaults()
	p, err := parse.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Batcher{host: host, parser: p, batches: map[string]*logrec.Batch{}}, nil
}

// Add parses one line as the agent reads it, observed at observed (the
// agent's clock).
func (b *Batcher) Add(r *logfile.Record, observed time.Time) {
	b.line = logfile.AppendJSON(b.line[:0], r)
	b.rec.Reset()
	b.parser.Parse(b.line, &b.rec)
	b.rec.ObservedUnixNano = uint64(observed.UnixNano())
	batch := b.batches[r.Service]
	if batch == nil {
		batch = logrec.NewBatch([]logrec.Attr{{Key: "host.name", Value: b.host}}, r.Service,
			[]logrec.Attr{{Key: "log.file.name", Value: r.Service + ".log"}}, "")
		b.batches[r.Service] = batch
	}
	batch.Add(&b.rec)
	b.n++
}

// Len is the number of lines added since the last AppendRequest.
func (b *Batcher) Len() int { return b.n }

// AppendRequest appends the lines added so far as one
// ExportLogsServiceRequest to dst (nothing when there are none) and
// empties the batcher.
func (b *Batcher) AppendRequest(dst []byte) []byte {
	for _, batch := range b.batches {
		dst = batch.AppendRequest(dst)
	}
	b.n = 0
	return dst
}
