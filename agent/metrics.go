package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics is the prometheus.Collector of the agent's own counters,
// read from its parts (tailers, receivers, buffer, sink) at scrape time.
type agentMetrics struct {
	a *Agent
}

var (
	descLinesRead   = prometheus.NewDesc("flowlens_agent_file_lines_read_total", "Lines read from files.", []string{"source"}, nil)
	descBytesRead   = prometheus.NewDesc("flowlens_agent_file_bytes_read_total", "Bytes read from files.", []string{"source"}, nil)
	descOpenFiles   = prometheus.NewDesc("flowlens_agent_file_open", "Files being read.", []string{"source"}, nil)
	descKnownFiles  = prometheus.NewDesc("flowlens_agent_file_known", "File identities with a checkpoint.", []string{"source"}, nil)
	descRotations   = prometheus.NewDesc("flowlens_agent_file_rotations_total", "Files read to their end after being renamed away or deleted.", []string{"source"}, nil)
	descTruncations = prometheus.NewDesc("flowlens_agent_file_truncations_total", "Files found truncated (copytruncate) and read again from the start.", []string{"source"}, nil)
	descTooLong     = prometheus.NewDesc("flowlens_agent_file_lines_truncated_total", "Records cut at max_line_size (kept, marked flowlens.truncated).", []string{"source"}, nil)
	descBlank       = prometheus.NewDesc("flowlens_agent_file_blank_lines_total", "Empty lines skipped.", []string{"source"}, nil)
	descReadErrors  = prometheus.NewDesc("flowlens_agent_file_read_errors_total", "File read errors.", []string{"source"}, nil)
	descCkptErrors  = prometheus.NewDesc("flowlens_agent_checkpoint_errors_total", "Failed checkpoint writes.", []string{"source"}, nil)

	descJournalCursorErrs = prometheus.NewDesc("flowlens_agent_journald_cursor_errors_total", "Failed writes of the journald cursor checkpoint.", nil, nil)
	descContainerBad      = prometheus.NewDesc("flowlens_agent_container_lines_undecoded_total", "Container log lines in neither the CRI nor the Docker json-file format (kept whole, marked flowlens.parse_error=container_runtime).", nil, nil)
	descSyslogMsgs        = prometheus.NewDesc("flowlens_agent_syslog_messages_total", "Syslog messages received (UDP and TCP).", nil, nil)
	descSyslogBad         = prometheus.NewDesc("flowlens_agent_syslog_problems_total", "Syslog messages not parsed (kept whole), cut at max_message_size, or TCP streams closed for bad framing, by kind.", []string{"kind"}, nil)
	descSyslogConns       = prometheus.NewDesc("flowlens_agent_syslog_connections_total", "Syslog TCP connections accepted, or refused at max_connections.", []string{"outcome"}, nil)

	descParseFail   = prometheus.NewDesc("flowlens_agent_parse_failures_total", "File lines that did not match their format (kept as plain body, marked flowlens.parse_error).", nil, nil)
	descRecordsIn   = prometheus.NewDesc("flowlens_agent_records_received_total", "Records accepted into the disk buffer, by input.", []string{"input"}, nil)
	descOTLPReqs    = prometheus.NewDesc("flowlens_agent_otlp_requests_total", "OTLP requests by outcome.", []string{"outcome"}, nil)
	descBufBytes    = prometheus.NewDesc("flowlens_agent_buffer_bytes", "Unacknowledged bytes in the disk buffer.", nil, nil)
	descBufRecords  = prometheus.NewDesc("flowlens_agent_buffer_messages", "Unacknowledged Kafka messages in the disk buffer.", nil, nil)
	descBufSegments = prometheus.NewDesc("flowlens_agent_buffer_segments", "Segment files of the disk buffer.", nil, nil)
	descBufWaiting  = prometheus.NewDesc("flowlens_agent_buffer_waiting_writes", "Writes waiting for space in the full disk buffer (when_full: block): their sources are held back.", nil, nil)
	descFsyncs      = prometheus.NewDesc("flowlens_agent_buffer_fsyncs_total", "fsync calls of the disk buffer.", nil, nil)
	descDropped     = prometheus.NewDesc("flowlens_agent_dropped_total", "Data lost, by reason: buffer_full (drop_oldest, Kafka messages), corrupt (buffer checksum errors), too_large (records Kafka refused), malformed_buffer (undecodable buffer messages).", []string{"reason"}, nil)
	descSentMsgs    = prometheus.NewDesc("flowlens_agent_kafka_messages_sent_total", "Kafka messages acknowledged by the brokers.", nil, nil)
	descSentRecs    = prometheus.NewDesc("flowlens_agent_kafka_records_sent_total", "Log records and spans acknowledged by Kafka.", nil, nil)
	descSentBytes   = prometheus.NewDesc("flowlens_agent_kafka_bytes_sent_total", "Message value bytes (uncompressed) acknowledged by Kafka.", nil, nil)
	descKafkaErrs   = prometheus.NewDesc("flowlens_agent_kafka_errors_total", "Failed Kafka produce attempts (retried).", nil, nil)
	descKafkaUp     = prometheus.NewDesc("flowlens_agent_kafka_connected", "1 when the last produce succeeded.", nil, nil)
	descLedgerSent  = prometheus.NewDesc("flowlens_agent_ledger_reports_sent_total", "Ledger reports (counts per interval and kind) published to the ledger topic.", nil, nil)
	descLedgerErrs  = prometheus.NewDesc("flowlens_agent_ledger_report_errors_total", "Failed publications of ledger reports (retried with the next report).", nil, nil)
)

func (c agentMetrics) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c agentMetrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, t := range c.a.tailers {
		s := t.t.Stats()
		counter(descLinesRead, s.LinesRead, t.name)
		counter(descBytesRead, s.BytesRead, t.name)
		gauge(descOpenFiles, s.OpenFiles, t.name)
		gauge(descKnownFiles, s.FilesSeen, t.name)
		counter(descRotations, s.Rotations, t.name)
		counter(descTruncations, s.Truncations, t.name)
		counter(descTooLong, s.LinesTooLong, t.name)
		counter(descBlank, s.BlankSkipped, t.name)
		counter(descReadErrors, s.ReadErrors, t.name)
		counter(descCkptErrors, s.CheckpointErr, t.name)
	}
	counter(descParseFail, c.a.counters.parseFailures.Load())
	counter(descRecordsIn, c.a.counters.records.Load(), "files")
	if j := c.a.journal; j != nil {
		counter(descRecordsIn, j.records.Load(), "journald")
		counter(descJournalCursorErrs, j.saveErrors.Load())
	}
	if cs := c.a.containers; cs != nil {
		counter(descRecordsIn, cs.counters.records.Load(), "containers")
		counter(descContainerBad, cs.counters.decodeFailures.Load())
	}
	if c.a.syslog != nil {
		s := c.a.syslog.Stats()
		counter(descRecordsIn, c.a.syslogOut.records.Load(), "syslog")
		counter(descSyslogMsgs, s.Messages)
		counter(descSyslogBad, s.ParseErrors, "parse")
		counter(descSyslogBad, s.Truncated, "truncated")
		counter(descSyslogBad, s.FramingErrors, "framing")
		counter(descSyslogConns, s.Connections, "accepted")
		counter(descSyslogConns, s.RefusedConnections, "refused_limit")
	}
	if c.a.recv != nil {
		s := c.a.recv.Stats()
		counter(descRecordsIn, s.Spans, "otlp_spans")
		counter(descRecordsIn, s.LogRecs, "otlp_logs")
		counter(descOTLPReqs, s.Accepted, "accepted")
		counter(descOTLPReqs, s.Refused, "refused_full")
		counter(descOTLPReqs, s.Malformed, "malformed")
		counter(descOTLPReqs, s.Failed, "failed")
	}
	if c.a.reports != nil {
		sent, failed := c.a.reports.Stats()
		counter(descLedgerSent, sent)
		counter(descLedgerErrs, failed)
	}
	ws := c.a.wal.Stats()
	gauge(descBufBytes, ws.Bytes)
	gauge(descBufRecords, ws.Records)
	gauge(descBufSegments, int64(ws.Segments))
	gauge(descBufWaiting, ws.Waiting)
	counter(descFsyncs, ws.Fsyncs)
	fs := c.a.fwd.Stats()
	counter(descDropped, ws.DroppedFull, "buffer_full")
	counter(descDropped, ws.DroppedCorrupt, "corrupt")
	counter(descDropped, fs.DroppedLarge, "too_large")
	counter(descDropped, fs.DroppedBad, "malformed_buffer")
	counter(descSentMsgs, fs.Messages)
	counter(descSentRecs, fs.Records)
	counter(descSentBytes, fs.Bytes)
	counter(descKafkaErrs, fs.Errors)
	up := int64(0)
	if fs.Connected {
		up = 1
	}
	gauge(descKafkaUp, up)
}
