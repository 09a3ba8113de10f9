package kafkawire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The loss ledger: an agent stamps every message it produces with its host
// and the interval in which it accepted the message's records (headers
// below), and publishes to the ledger topic, per interval and kind, how
// many records it accepted, how many Kafka acknowledged and how many it
// dropped itself (LedgerReport). The collector counts what it stored and
// dead-lettered per host and interval from the headers; the difference is
// what went missing on the way.
const (
	// HeaderLedgerHost is the agent's host name.
	HeaderLedgerHost = "flowlens.ledger.host"
	// HeaderLedgerInterval is the start of the interval in which the agent
	// accepted the records, in Unix seconds (decimal).
	HeaderLedgerInterval = "flowlens.ledger.interval"
)

// LedgerHeaders appends the two ledger headers to h.
func LedgerHeaders(h []kafka.Header, host string, interval int64) []kafka.Header {
	return append(h,
		kafka.Header{Key: HeaderLedgerHost, Value: []byte(host)},
		kafka.Header{Key: HeaderLedgerInterval, Value: strconv.AppendInt(nil, interval, 10)})
}

// LedgerStamp reads the ledger headers; ok is false for a message without
// them (another producer, or an agent with the ledger off).
func LedgerStamp(h []kafka.Header) (host string, interval int64, ok bool) {
	hv, iv := HeaderValue(h, HeaderLedgerHost), HeaderValue(h, HeaderLedgerInterval)
	if len(hv) == 0 || len(iv) == 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(string(iv), 10, 64)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return string(hv), n, true
}

// Ledger record kinds.
const (
	LedgerSpans = "spans"
	LedgerLogs  = "logs"
)

// LedgerReport is one agent run's counts for one interval and kind, as
// they stand when it is published: the counts only grow, so a later report
// of the same (Host, Run, Kind, Interval) replaces an earlier one (Seq
// orders them). A run is one agent process: after a restart, acks of the
// records the previous run accepted are counted by the new run, under its
// own Run, and readers sum the runs.
type LedgerReport struct {
	Host string `json:"host"`
	// Run identifies the agent process (random, fixed for its life).
	Run  string `json:"run"`
	Kind string `json:"kind"` // LedgerSpans or LedgerLogs
	// Interval is the start of the interval (Unix seconds); Seconds its length.
	Interval int64 `json:"interval"`
	Seconds  int64 `json:"seconds"`
	// Accepted records: made durable in the agent's buffer (the source was
	// answered). Acked: acknowledged by Kafka (acks=all). Dropped: refused
	// by Kafka as too large, dropped by the agent on purpose.
	Accepted uint64 `json:"accepted"`
	Acked    uint64 `json:"acked"`
	Dropped  uint64 `json:"dropped"`
	// Seq grows with every report of the run.
	Seq uint64 `json:"seq"`
}

// IntervalStart is the interval's start as a time.
func (r LedgerReport) IntervalStart() time.Time { return time.Unix(r.Interval, 0).UTC() }

// MarshalLedgerReport is the ledger topic's value (JSON: a few per host per
// interval, read by people too).
func MarshalLedgerReport(r LedgerReport) ([]byte, error) { return json.Marshal(r) }

var errBadLedgerReport = errors.New("malformed ledger report")

// UnmarshalLedgerReport reads a ledger topic value and checks it.
func UnmarshalLedgerReport(b []byte) (LedgerReport, error) {
	var r LedgerReport
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %w", errBadLedgerReport, err)
	}
	switch {
	case r.Host == "" || r.Run == "":
		return r, fmt.Errorf("%w: no host or run", errBadLedgerReport)
	case r.Kind != LedgerSpans && r.Kind != LedgerLogs:
		return r, fmt.Errorf("%w: kind %q", errBadLedgerReport, r.Kind)
	case r.Interval <= 0 || r.Seconds <= 0:
		return r, fmt.Errorf("%w: interval %d of %d s", errBadLedgerReport, r.Interval, r.Seconds)
	}
	return r, nil
}
