package gen

import (
	"encoding/hex"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/flowlens/flowlens/loadtest/logfile"
)

// LogSink receives the log records; logfile.Writer is one. A paced run
// also calls Flush, if the sink has it, at least every LogFlushInterval so
// a tailer sees lines soon after their span.
type LogSink interface {
	Write(r *logfile.Record) error
}

type flusher interface{ Flush() error }

// LogFlushInterval is how often a paced run flushes its log sink.
const LogFlushInterval = 100 * time.Millisecond

func (g *Generator) flushLogs(fl flusher) {
	if err := fl.Flush(); err != nil && g.logErr == nil {
		g.logErr = fmt.Errorf("flush logs: %w", err)
	}
}

// spanLogs writes the log lines of one span, spread over its duration.
func (g *Generator) spanLogs(svc string, sc trace.SpanContext, start, end int64, failed bool, startMsg, okMsg, failMsg string) {
	n := g.opts.LogsPerSpan
	if n == 0 {
		return
	}
	r := &g.rec
	r.Service, r.TraceID, r.SpanID = svc, sc.TraceID(), sc.SpanID()
	r.Attrs = append(r.Attrs[:0], logfile.Attr{Key: AttrRun, Value: g.opts.RunID})
	for i := range n {
		ts := end
		if n > 1 {
			ts = start + (end-start)*int64(i)/int64(n-1)
		}
		r.Time = time.Unix(0, ts)
		switch {
		case i == n-1 && failed:
			r.Level, r.Msg = "error", failMsg
		case i == n-1:
			r.Level, r.Msg = "info", okMsg
		case i == 0:
			r.Level, r.Msg = "info", startMsg
		default:
			r.Level, r.Msg = "debug", "working: "+startMsg
		}
		g.writeLog()
	}
}

func (g *Generator) breakerLog(svc, name string, sc trace.SpanContext, tr transition) {
	tid, sid := sc.TraceID(), sc.SpanID()
	g.transitions = append(g.transitions, BreakerTransition{Time: time.Unix(0, tr.at).UTC(), Service: svc, Name: name,
		From: tr.from, To: tr.to, TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:])})
	if g.logs == nil {
		return
	}
	r := &g.rec
	r.Service, r.TraceID, r.SpanID = svc, tid, sid
	r.Time = time.Unix(0, tr.at)
	r.Level, r.Msg = "warn", "circuit breaker "+name+" "+tr.from+" -> "+tr.to
	r.Attrs = append(r.Attrs[:0], logfile.Attr{Key: AttrRun, Value: g.opts.RunID}, logfile.Attr{Key: AttrBreakerName, Value: name},
		logfile.Attr{Key: AttrBreakerState, Value: tr.to}, logfile.Attr{Key: AttrBreakerPreviousState, Value: tr.from})
	g.writeLog()
}

func (g *Generator) writeLog() {
	g.logSeq++
	g.rec.Seq = g.logSeq
	if g.logsByService == nil {
		g.logsByService = map[string]uint64{}
	}
	g.logsByService[g.rec.Service]++
	tid, sid := g.rec.TraceID, g.rec.SpanID
	for _, fs := range g.logFaults[g.rec.Service] {
		if fs.activeAt(g.rec.Time.UnixNano()) && g.rng.Float64() < fs.f.Ratio {
			// the line as a service that does not log its trace writes it
			g.rec.TraceID, g.rec.SpanID = [16]byte{}, [8]byte{}
			fs.affected++
			break
		}
	}
	if err := g.logs.Write(&g.rec); err != nil && g.logErr == nil {
		g.logErr = fmt.Errorf("write log: %w", err)
	}
	g.rec.TraceID, g.rec.SpanID = tid, sid
}
