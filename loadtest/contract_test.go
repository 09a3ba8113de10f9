package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/loadtest/gen"
)

// The flow analyzer, fed what the generator sent, draws the truth's graph:
// the same edges with the same counts, the same breaker transitions.
func TestAnalyzerDrawsTheTruth(t *testing.T) {
	for _, tc := range []struct {
		faults string
		seed   uint64
	}{{"testdata/faults.yaml", 5}, {"testdata/faults.yaml", 6}, {"testdata/faults-payments-down.yaml", 7}} {
		t.Run(fmt.Sprintf("%s/seed=%d", tc.faults, tc.seed), func(t *testing.T) { analyzerDrawsTheTruth(t, tc.faults, tc.seed) })
	}
}

func analyzerDrawsTheTruth(t *testing.T, faults string, seed uint64) {
	cfg := Config{Rate: 100, Duration: time.Minute, Seed: seed, NoPacing: true, Faults: faults, ProgressInterval: -1}
	cfg.SetDefaults()
	sent, truth, err := Capture(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fc flowgraph.Config
	fc.SetDefaults()
	fc.Shards = 1
	a := flowgraph.NewAnalyzer(fc)
	now := truth.Start
	for _, td := range sent {
		a.ConsumeTraces(0, td, now)
	}
	a.FlushStore()
	got := map[gen.EdgeKey]flowgraphEdge{}
	for _, e := range a.Edges() {
		got[gen.EdgeKey{Client: e.Client, Server: e.Server, ConnectionType: e.Conn.String(), Destination: e.Destination}] =
			flowgraphEdge{e.Requests, e.Failed, e.Retries}
	}
	for _, e := range truth.Edges {
		g, ok := got[e.EdgeKey]
		if !ok {
			t.Errorf("edge %+v missing from the analyzer", e.EdgeKey)
			continue
		}
		if g != (flowgraphEdge{e.Requests, e.Failed, e.Retries}) {
			t.Errorf("edge %+v: truth requests/failed/retries %d/%d/%d, analyzer %d/%d/%d", e.EdgeKey,
				e.Requests, e.Failed, e.Retries, g.requests, g.failed, g.retries)
		}
		delete(got, e.EdgeKey)
	}
	for k, g := range got {
		t.Errorf("analyzer edge %+v %+v not in the truth", k, g)
	}
	// transitions into each state, per breaker, as the analyzer counted them
	want := map[string]uint64{}
	for _, b := range truth.Breakers {
		want[b.Service+" "+b.Name+" "+b.To]++
	}
	gotBrk := map[string]uint64{}
	for _, b := range a.Breakers() {
		for st, n := range b.Transitions {
			if n > 0 {
				gotBrk[b.Service+" "+b.Target+" "+breaker.State(st).String()] = n
			}
		}
	}
	t.Logf("%d spans, %d edges, breaker transitions %v", truth.Spans, len(truth.Edges), want)
	if len(want) == 0 || fmt.Sprint(want) != fmt.Sprint(gotBrk) {
		t.Errorf("breaker transitions: truth %v, analyzer %v", want, gotBrk)
	}
}

type flowgraphEdge struct{ requests, failed, retries uint64 }

// The agent's JSON parser reads every field of the generator's log lines.
func TestAgentParsesTheLogs(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Rate: 100, Duration: 40 * time.Second, Seed: 2, NoPacing: true, Faults: "testdata/faults.yaml",
		ProgressInterval: -1, LogDir: dir, LogsPerSpan: 2}
	cfg.OTLP.Endpoint = "-"
	cfg.SetDefaults()
	truth, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc := parse.Config{Format: parse.FormatJSON}
	pc.SetDefaults()
	p, err := parse.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var rec logrec.Record
	var lines, breakerLines uint64
	seqs := map[int64]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			rec.Reset()
			if !p.Parse(line, &rec) {
				t.Fatalf("agent cannot parse %s", line)
			}
			lines++
			if rec.TimeUnixNano == 0 || !rec.HasTraceID || !rec.HasSpanID || len(rec.Body) == 0 || rec.SeverityNumber == 0 ||
				string(rec.Service)+".log" != filepath.Base(f) {
				t.Fatalf("fields lost from %s: %+v", line, rec)
			}
			attrs := map[string]logrec.KV{}
			for _, kv := range rec.Attrs {
				attrs[string(kv.Key)] = kv
			}
			seq, ok := attrs["seq"]
			if !ok || seq.Kind != logrec.KindInt || seqs[seq.Int] {
				t.Fatalf("seq missing, not an integer or repeated in %s", line)
			}
			seqs[seq.Int] = true
			if string(attrs[gen.AttrRun].Str) != truth.RunID {
				t.Fatalf("run attribute lost from %s", line)
			}
			if _, ok := attrs[gen.AttrBreakerState]; ok {
				breakerLines++
			}
		}
	}
	if lines != truth.Logs || breakerLines != uint64(len(truth.Breakers)) || breakerLines == 0 {
		t.Fatalf("%d lines (truth %d), %d breaker lines (truth %d)", lines, truth.Logs, breakerLines, len(truth.Breakers))
	}
}
