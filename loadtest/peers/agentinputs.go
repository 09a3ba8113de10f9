package peers

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/loadtest/logfile"
)

// prepared is an input written once and read by both peers.
type prepared struct {
	lines int
	// path is the file (files), the pods folder (cri) or the journal
	// folder (journald).
	path string
	// syslog holds the octet-counted messages to send (syslog).
	syslog []byte
}

// input is one kind of input: how it is written and how each peer is told
// to read it. Both peers parse what they read into the same fields: time,
// severity, body, trace and span IDs, the rest as attributes.
type input struct {
	prepare func(dir string, lines int, now time.Time) (*prepared, error)
	// agentSection is flowlens-agent's config section for it.
	agentSection func(p *prepared, syslogAddr string) string
	// otelReceiver is the OpenTelemetry Collector's receiver, named
	// <type>/in.
	otelReceiver func(p *prepared, syslogAddr string) string
}

var inputs = map[string]input{
	InputFiles: {
		prepare: func(dir string, lines int, now time.Time) (*prepared, error) {
			path := filepath.Join(dir, "app.log")
			return &prepared{lines: lines, path: path}, writeLines(path, lines, now, nil)
		},
		agentSection: func(p *prepared, _ string) string {
			return fmt.Sprintf("files:\n  - name: app\n    include: [%q]\n    parse: {format: json}\n", p.path)
		},
		otelReceiver: func(p *prepared, _ string) string {
			return fmt.Sprintf("file_log/in:\n  include: [%q]\n  start_at: beginning\n  operators:\n%s", p.path, otelJSONOperators(""))
		},
	},
	InputCRI: {
		prepare: func(dir string, lines int, now time.Time) (*prepared, error) {
			pods := filepath.Join(dir, "pods")
			path := filepath.Join(pods, "shop_cart-7d9f8b6c5-x2x7q_0f4c6a52-8d1e-4b9a-a0c3-5e2f7d9b1c44", "cart", "0.log")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			cri := func(dst []byte, t time.Time) []byte {
				dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
				return append(dst, " stdout F "...)
			}
			return &prepared{lines: lines, path: pods}, writeLines(path, lines, now, cri)
		},
		agentSection: func(p *prepared, _ string) string {
			return fmt.Sprintf("containers:\n  pods_dir: %q\n  parse: {format: json}\n", p.path)
		},
		otelReceiver: func(p *prepared, _ string) string {
			// the container operator needs the path for the pod, namespace
			// and container, as the agent takes them from it
			return fmt.Sprintf("file_log/in:\n  include: [%q]\n  include_file_path: true\n  start_at: beginning\n  operators:\n"+
				"    - type: container\n%s", filepath.Join(p.path, "*", "*", "*.log"), otelJSONOperators("body"))
		},
	},
	InputJournald: {
		prepare: func(dir string, lines int, now time.Time) (*prepared, error) {
			journal := filepath.Join(dir, "journal")
			if err := os.MkdirAll(journal, 0o755); err != nil {
				return nil, err
			}
			return &prepared{lines: lines, path: journal}, writeJournal(filepath.Join(journal, "bench.journal"), lines, now)
		},
		agentSection: func(p *prepared, _ string) string {
			return fmt.Sprintf("journald:\n  directory: %q\n", p.path)
		},
		otelReceiver: func(p *prepared, _ string) string {
			// its default priority filter (info and more important) lets
			// every entry through: they are err, warning or info
			return fmt.Sprintf("journald/in:\n  directory: %q\n  start_at: beginning\n", p.path)
		},
	},
	InputSyslog: {
		prepare: func(_ string, lines int, now time.Time) (*prepared, error) {
			return &prepared{lines: lines, syslog: syslogMessages(lines, now)}, nil
		},
		agentSection: func(_ *prepared, addr string) string {
			return fmt.Sprintf("syslog:\n  tcp: {listen: %q}\n  format: rfc5424\n", addr)
		},
		otelReceiver: func(_ *prepared, addr string) string {
			return fmt.Sprintf("syslog/in:\n  tcp: {listen_address: %q}\n  protocol: rfc5424\n  enable_octet_counting: true\n", addr)
		},
	},
}

// otelJSONOperators parse a JSON line (from the body when from is "body")
// into what flowlens-agent's JSON parser makes of it: time, severity, trace
// and span IDs, the message as the body, the rest as attributes.
func otelJSONOperators(from string) string {
	parseFrom := ""
	if from != "" {
		parseFrom = "      parse_from: " + from + "\n"
	}
	return "    - type: json_parser\n" + parseFrom +
		"      timestamp: {parse_from: attributes.time, layout_type: gotime, layout: \"2006-01-02T15:04:05.999999999Z07:00\"}\n" +
		"      severity: {parse_from: attributes.level}\n" +
		"    - type: trace_parser\n" +
		"      trace_id: {parse_from: attributes.trace_id}\n" +
		"      span_id: {parse_from: attributes.span_id}\n" +
		"    - type: move\n" +
		"      from: attributes.msg\n" +
		"      to: body\n"
}

// services, levels and routes repeat; IDs never do.
var (
	benchServices = []string{"cart", "checkout", "payment", "inventory", "shipping", "users", "search", "gateway"}
	benchLevels   = []string{"info", "info", "info", "warn", "error", "info", "debug", "info"}
	benchRoutes   = []string{"/api/cart", "/api/checkout", "/api/orders/{id}", "/api/search", "/api/users/{id}"}
)

// id is a never-repeating pseudo-random value of line i.
func id(i int, salt byte) uint64 {
	h := fnv.New64a()
	var b [9]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	b[8] = salt
	h.Write(b[:])
	return h.Sum64() ^ uint64(i)<<40
}

// benchRecord is line i: a JSON log line of about 330 bytes like the
// synthetic services write (loadtest/logfile), with a trace and span ID,
// an order ID, a user ID and a request ID of its own.
func benchRecord(r *logfile.Record, i int, at time.Time) {
	r.Time = at
	r.Level = benchLevels[i%len(benchLevels)]
	r.Service = benchServices[i%len(benchServices)]
	order := strconv.FormatUint(id(i, 'o'), 36)
	r.Msg = "order " + order + " priced and reserved"
	binary.BigEndian.PutUint64(r.TraceID[:8], id(i, 't'))
	binary.BigEndian.PutUint64(r.TraceID[8:], uint64(i)+1)
	binary.BigEndian.PutUint64(r.SpanID[:], id(i, 's'))
	r.Seq = uint64(i) + 1
	r.Attrs = append(r.Attrs[:0],
		logfile.Attr{Key: "order_id", Value: order},
		logfile.Attr{Key: "user_id", Value: "u-" + strconv.FormatUint(id(i, 'u'), 36)},
		logfile.Attr{Key: "request_id", Value: strconv.FormatUint(id(i, 'r'), 16)},
		logfile.Attr{Key: "http.route", Value: benchRoutes[i%len(benchRoutes)]},
		logfile.Attr{Key: "duration_ms", Value: strconv.Itoa(i % 997)},
	)
}

// lineTime is line i's time: the lines end a moment before now, 1µs apart.
func lineTime(now time.Time, i, lines int) time.Time {
	return now.Add(time.Duration(i-lines) * time.Microsecond)
}

// writeLines writes lines JSON lines to path, each after prefix (the
// container runtime's, or none).
func writeLines(path string, lines int, now time.Time, prefix func(dst []byte, t time.Time) []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var (
		rec logfile.Record
		buf []byte
	)
	for i := range lines {
		t := lineTime(now, i, lines)
		benchRecord(&rec, i, t)
		buf = buf[:0]
		if prefix != nil {
			buf = prefix(buf, t)
		}
		buf = append(logfile.AppendJSON(buf, &rec), '\n')
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// journalRemote is Debian's systemd-journal-remote (make
// tools-journal-remote): the journal file is written by the real tool.
const journalRemote = "/lib/systemd/systemd-journal-remote"

// writeJournal writes lines entries into the journal file path with
// systemd-journal-remote, from the export format.
func writeJournal(path string, lines int, now time.Time) error {
	if _, err := os.Stat(journalRemote); err != nil {
		return fmt.Errorf("systemd-journal-remote not installed: run `make tools-journal-remote` (%w)", err)
	}
	cmd := exec.Command(journalRemote, "--output="+path, "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := os.Create(path + ".log")
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-journal-remote: %w", err)
	}
	werr := writeJournalExport(stdin, lines, now)
	if cerr := stdin.Close(); werr == nil {
		werr = cerr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("systemd-journal-remote: %w (see %s)", err, out.Name())
	}
	return werr
}

// journaldPriorities are err, warning and info: what both peers read by
// default.
var journaldPriorities = []string{"6", "6", "6", "4", "3", "6", "6", "6"}

// writeJournalExport writes lines entries in the journal export format:
// the fields a service's entry has, with its message, trace and span IDs
// and order and user IDs of its own.
func writeJournalExport(w io.Writer, lines int, now time.Time) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var rec logfile.Record
	for i := range lines {
		t := lineTime(now, i, lines)
		benchRecord(&rec, i, t)
		fmt.Fprintf(bw, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n", t.UnixMicro(), t.UnixMicro())
		fmt.Fprintf(bw, "MESSAGE=%s\nPRIORITY=%s\n_SYSTEMD_UNIT=%s.service\nSYSLOG_IDENTIFIER=%s\n_PID=%d\n_HOSTNAME=web-%d\n",
			rec.Msg, journaldPriorities[i%len(journaldPriorities)], rec.Service, rec.Service, 1000+i%len(benchServices), i%3)
		fmt.Fprintf(bw, "TRACE_ID=%s\nSPAN_ID=%s\nORDER_ID=%s\nUSER_ID=%s\nREQUEST_ID=%s\nCODE_FILE=%s.go\n\n",
			hex.EncodeToString(rec.TraceID[:]), hex.EncodeToString(rec.SpanID[:]), rec.Attrs[0].Value, rec.Attrs[1].Value, rec.Attrs[2].Value, rec.Service)
	}
	return bw.Flush()
}

// syslogSeverities are RFC 5424 severities: info, warning, err.
var syslogSeverities = []int{6, 6, 6, 4, 3, 6, 6, 6}

// syslogMessages is lines RFC 5424 messages, octet-counted (RFC 6587) for
// TCP: local0, a host, app name, proc ID and message ID, structured data
// with the order, user and request IDs of each message.
func syslogMessages(lines int, now time.Time) []byte {
	var (
		rec      logfile.Record
		out, msg []byte
	)
	for i := range lines {
		t := lineTime(now, i, lines)
		benchRecord(&rec, i, t)
		msg = fmt.Appendf(msg[:0], "<%d>1 ", 16*8+syslogSeverities[i%len(syslogSeverities)])
		msg = t.UTC().AppendFormat(msg, "2006-01-02T15:04:05.000000Z07:00")
		msg = fmt.Appendf(msg, " web-%d %s %d %s [order@32473 id=%q user=%q request=%q route=%q] %s",
			i%3, rec.Service, 1000+i%len(benchServices), "ID47", rec.Attrs[0].Value, rec.Attrs[1].Value, rec.Attrs[2].Value, rec.Attrs[3].Value, rec.Msg)
		out = strconv.AppendInt(out, int64(len(msg)), 10)
		out = append(out, ' ')
		out = append(out, msg...)
	}
	return out
}

// sendSyslog connects to addr as soon as the peer listens and sends msgs.
func sendSyslog(ctx context.Context, addr string, msgs []byte) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_, err = conn.Write(msgs)
			if cerr := conn.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("send syslog to %s: %w", addr, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to syslog listener %s: %w", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
