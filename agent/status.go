package agent

import (
	"context"
	"time"

	"github.com/flowlens/flowlens/agent/tail"
)

// Status is what the agent is doing now: `flowlens-agent status`.
type Status struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// Reload is the outcome of the last reload (nil: none since the start).
	Reload  *ReloadStatus  `json:"reload,omitempty"`
	Sources []SourceStatus `json:"sources"`
	Buffer  BufferStatus   `json:"buffer"`
	Kafka   KafkaStatus    `json:"kafka"`
}

// ReloadStatus is the outcome of a reload.
type ReloadStatus struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // the new config was refused; the running one was kept
}

// SourceStatus is one input.
type SourceStatus struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // files, containers, journald, syslog, otlp
	// Reading is what it reads: include patterns, or the listen addresses.
	Reading []string `json:"reading"`
	// Records accepted into the buffer (files: lines read).
	Records int64 `json:"records"`
	// Files being read now, with their offsets (files only).
	Files []tail.FileStatus `json:"files,omitempty"`
	// LagBytes adds up the files' lag: written but not read yet.
	LagBytes int64 `json:"lag_bytes"`
	// Cursor is the journal cursor of the last entry safe in the buffer
	// (journald only).
	Cursor    string `json:"cursor,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// BufferStatus is the disk buffer's fill.
type BufferStatus struct {
	Bytes       int64   `json:"bytes"`
	MaxBytes    int64   `json:"max_bytes"`
	FillPercent float64 `json:"fill_percent"`
	Messages    int64   `json:"messages"`
	WhenFull    string  `json:"when_full"`
	Full        bool    `json:"full"`
	Error       string  `json:"error,omitempty"`
}

// KafkaStatus says whether Kafka is reachable now (a metadata request
// made for the status) and how sending went.
type KafkaStatus struct {
	Brokers      []string `json:"brokers"`
	Reachable    bool     `json:"reachable"`
	Error        string   `json:"error,omitempty"`      // why it is not reachable
	LastSendOK   bool     `json:"last_send_ok"`         // the last produce succeeded
	LastError    string   `json:"last_error,omitempty"` // of the last failed produce
	MessagesSent int64    `json:"messages_sent"`        // since start
	RecordsSent  int64    `json:"records_sent"`         // since start
}

// pingTimeout bounds the status's Kafka metadata request.
const pingTimeout = 2 * time.Second

// Status reports the sources, the buffer and Kafka. It asks Kafka for its
// metadata (within pingTimeout).
func (a *Agent) Status(ctx context.Context) Status {
	a.mu.Lock()
	st := Status{Version: a.version, StartedAt: a.startedAt}
	a.mu.Unlock()
	for _, t := range a.tailers {
		ts := t.t.Stats()
		src := SourceStatus{Name: t.name, Kind: t.kind, Reading: t.include, Records: ts.LinesRead, Files: t.t.Files()}
		for _, f := range src.Files {
			src.LagBytes += f.LagBytes
		}
		if e := t.t.LastError(); e != nil {
			src.LastError = e.At.UTC().Format(time.RFC3339) + " " + e.Message
		}
		st.Sources = append(st.Sources, src)
	}
	if a.journal != nil {
		st.Sources = append(st.Sources, a.journal.status())
	}
	if a.syslog != nil {
		ss := a.syslog.Stats()
		src := SourceStatus{Name: "syslog", Kind: "syslog", Records: ss.Messages}
		if addr := a.syslog.TCPAddr(); addr != "" {
			src.Reading = append(src.Reading, "tcp "+addr)
		}
		if addr := a.syslog.UDPAddr(); addr != "" {
			src.Reading = append(src.Reading, "udp "+addr)
		}
		st.Sources = append(st.Sources, src)
	}
	if a.recv != nil {
		rs := a.recv.Stats()
		src := SourceStatus{Name: "otlp", Kind: "otlp", Records: rs.Spans + rs.LogRecs}
		if addr := a.recv.GRPCAddr(); addr != "" {
			src.Reading = append(src.Reading, "grpc "+addr)
		}
		if addr := a.recv.HTTPAddr(); addr != "" {
			src.Reading = append(src.Reading, "http "+addr)
		}
		st.Sources = append(st.Sources, src)
	}
	ws := a.wal.Stats()
	st.Buffer = BufferStatus{Bytes: ws.Bytes, MaxBytes: int64(a.cfg.Buffer.MaxSize), Messages: ws.Records,
		WhenFull: a.cfg.Buffer.WhenFull, Full: a.wal.Full(64 << 10)}
	if st.Buffer.MaxBytes > 0 {
		st.Buffer.FillPercent = 100 * float64(ws.Bytes) / float64(st.Buffer.MaxBytes)
	}
	if err := a.wal.Err(); err != nil {
		st.Buffer.Error = err.Error()
	}
	fs := a.fwd.Stats()
	st.Kafka = KafkaStatus{Brokers: a.cfg.Kafka.Brokers, LastSendOK: fs.Connected, LastError: fs.LastError,
		MessagesSent: fs.Messages, RecordsSent: fs.Records}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := a.fwd.Ping(pctx); err != nil {
		st.Kafka.Error = err.Error()
	} else {
		st.Kafka.Reachable = true
	}
	return st
}
