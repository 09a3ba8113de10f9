package peers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/container"
	"github.com/flowlens/flowlens/internal/config"
)

// Each input holds exactly the lines asked for, in the format its readers
// expect, and no two lines share an order, user or request ID or a trace
// ID (the peers cannot compress or deduplicate them away).
func TestAgentInputsShape(t *testing.T) {
	const lines = 3000
	now := time.Now()
	wantUnique := func(t *testing.T, fields []map[string]string) {
		t.Helper()
		if len(fields) != lines {
			t.Fatalf("%d lines, want %d", len(fields), lines)
		}
		for _, key := range []string{"order_id", "user_id", "request_id", "trace_id"} {
			seen := map[string]bool{}
			for i, f := range fields {
				v := f[key]
				if v == "" || seen[v] {
					t.Fatalf("line %d: %s %q empty or seen before", i, key, v)
				}
				seen[v] = true
			}
		}
	}
	jsonLine := func(t *testing.T, b []byte) map[string]string {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("line %q: %v", b, err)
		}
		out := map[string]string{}
		for k, v := range m {
			out[k] = strings.Trim(strings.TrimSpace(jsonString(v)), `"`)
		}
		if _, err := time.Parse(time.RFC3339Nano, out["time"]); err != nil || out["msg"] == "" || out["level"] == "" {
			t.Fatalf("line %q: no time, msg or level", b)
		}
		return out
	}

	t.Run(InputFiles, func(t *testing.T) {
		p, err := inputs[InputFiles].prepare(t.TempDir(), lines, now)
		if err != nil {
			t.Fatal(err)
		}
		var fields []map[string]string
		eachLine(t, p.path, func(b []byte) { fields = append(fields, jsonLine(t, b)) })
		wantUnique(t, fields)
	})

	t.Run(InputCRI, func(t *testing.T) {
		p, err := inputs[InputCRI].prepare(t.TempDir(), lines, now)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(p.path, "*", "*", "*.log"))
		if len(files) != 1 {
			t.Fatalf("container log files %q, want one under <namespace>_<pod>_<uid>/<container>/", files)
		}
		if meta, ok := container.PathMeta(files[0]); !ok || meta.Namespace != "shop" || meta.Container != "cart" {
			t.Errorf("path %s gives %+v", files[0], meta)
		}
		var (
			dec    container.Decoder
			line   container.Line
			fields []map[string]string
		)
		eachLine(t, files[0], func(b []byte) {
			if err := dec.Decode(b, &line); err != nil || line.Partial || line.Stream != "stdout" {
				t.Fatalf("CRI line %q: %v (partial %v, stream %q)", b, err, line.Partial, line.Stream)
			}
			fields = append(fields, jsonLine(t, line.Message))
		})
		wantUnique(t, fields)
	})

	t.Run(InputSyslog, func(t *testing.T) {
		p, err := inputs[InputSyslog].prepare(t.TempDir(), lines, now)
		if err != nil {
			t.Fatal(err)
		}
		parser := rfc5424.NewParser(rfc5424.WithBestEffort())
		var fields []map[string]string
		for rest := p.syslog; len(rest) > 0; {
			n, msg, ok := bytes.Cut(rest, []byte(" "))
			size, err := strconv.Atoi(string(n))
			if !ok || err != nil || size > len(msg) {
				t.Fatalf("octet count %q before %q", n, msg[:min(len(msg), 80)])
			}
			m, err := parser.Parse(msg[:size])
			if err != nil {
				t.Fatalf("RFC 5424 %q: %v", msg[:size], err)
			}
			sm := m.(*rfc5424.SyslogMessage)
			sd := (*sm.StructuredData)["order@32473"]
			if sm.Message == nil || sm.Appname == nil || sm.Timestamp == nil {
				t.Fatalf("message %q lacks a body, app name or time", msg[:size])
			}
			// the trace ID of a file line has no place in syslog: the
			// message is unique by the order ID in it
			fields = append(fields, map[string]string{"order_id": sd["id"], "user_id": sd["user"], "request_id": sd["request"], "trace_id": *sm.Message})
			rest = msg[size:]
		}
		wantUnique(t, fields)
	})

	t.Run(InputJournald, func(t *testing.T) {
		p, err := inputs[InputJournald].prepare(t.TempDir(), lines, now)
		if err != nil {
			t.Fatal(err)
		}
		// read back with the journal's own tool, as both peers do
		out, err := exec.Command("journalctl", "--directory", p.path, "--output=json", "--no-pager").Output()
		if err != nil {
			t.Fatalf("journalctl: %v", err)
		}
		var fields []map[string]string
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("entry %q: %v", sc.Bytes(), err)
			}
			prio := jsonString(e["PRIORITY"])
			if prio != "3" && prio != "4" && prio != "6" {
				t.Fatalf("priority %s: the OpenTelemetry Collector's default filter (info) would drop it", prio)
			}
			fields = append(fields, map[string]string{"order_id": jsonString(e["ORDER_ID"]), "user_id": jsonString(e["USER_ID"]),
				"request_id": jsonString(e["REQUEST_ID"]), "trace_id": jsonString(e["TRACE_ID"])})
		}
		wantUnique(t, fields)
	})
}

func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func eachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// The agent's config of every input loads and validates as the agent's
// would; the OpenTelemetry Collector's is YAML whose logs pipeline names
// the receiver it defines.
func TestAgentPeerConfigs(t *testing.T) {
	dir := t.TempDir()
	p := &prepared{lines: 1, path: dir}
	for _, name := range Inputs {
		in := inputs[name]
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, agentConfig(in.agentSection(p, "127.0.0.1:1514"), filepath.Join(dir, "data"), "127.0.0.1:9092", logsTopic), 0o600); err != nil {
			t.Fatal(err)
		}
		var cfg agent.Config
		if err := config.Load(path, &cfg); err != nil {
			t.Errorf("%s: agent config: %v", name, err)
		} else if err := cfg.Validate(); err != nil {
			t.Errorf("%s: agent config: %v", name, err)
		}

		var otel struct {
			Receivers map[string]any
			Exporters map[string]struct {
				Logs struct{ Topic string }
			}
			Service struct {
				Pipelines map[string]struct{ Receivers, Exporters []string }
			}
		}
		if err := yaml.Unmarshal(agentOtelConfig(in.otelReceiver(p, "127.0.0.1:1514"), "127.0.0.1:9092", logsTopic), &otel); err != nil {
			t.Fatalf("%s: otelcol config: %v", name, err)
		}
		logs := otel.Service.Pipelines["logs"]
		if len(logs.Receivers) != 1 || otel.Receivers[logs.Receivers[0]] == nil || otel.Exporters["kafka"].Logs.Topic != logsTopic {
			t.Errorf("%s: otelcol pipeline %+v, receivers %v, exporters %+v", name, logs, otel.Receivers, otel.Exporters)
		}
	}
}

func TestAgentTableMediansAndRatios(t *testing.T) {
	results := []AgentResult{
		{Peer: OTel, Input: InputFiles, Run: 1, Lines: 100_000, Records: 100_000, Wall: 4 * time.Second, CPU: 2, RSSMB: 600},
		{Peer: OTel, Input: InputFiles, Run: 2, Lines: 100_000, Records: 100_500, Wall: 5 * time.Second, CPU: 2.5, RSSMB: 700},
		{Peer: Agent, Input: InputFiles, Run: 1, Lines: 100_000, Records: 100_000, Wall: 1 * time.Second, CPU: 0.4, RSSMB: 40},
		{Peer: Agent, Input: InputFiles, Run: 2, Lines: 100_000, Records: 100_000, Wall: 1 * time.Second, CPU: 0.5, RSSMB: 50},
	}
	m, ok := AgentMedian(results, OTel)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6*b }
	// lines per CPU-second 50k and 40k, lines/s 25k and 20k
	if !ok || !near(m.LinesPerCPUSecond(), 45_000) || !near(m.LinesPerSec(), 22_500) || m.RSSMB != 650 {
		t.Errorf("otelcol median: %.0f lines per CPU-s, %.0f lines/s, %.0f MB", m.LinesPerCPUSecond(), m.LinesPerSec(), m.RSSMB)
	}
	var out bytes.Buffer
	if err := WriteAgentTable(&out, results); err != nil {
		t.Fatal(err)
	}
	// flowlens-agent: 225k lines per CPU-second (250k, 200k), 100k lines/s, 45 MB
	for _, want := range []string{"lines per CPU-second 5.00x", "lines/s 4.44x", "peak RSS 0.07x", "otelcol run 2: 100500 records in Kafka for 100000 lines"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, out.String())
		}
	}
}
