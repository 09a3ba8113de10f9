package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/flowgraph"
	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

// Counts in the header read as English.
func TestPrintGraphOneEdge(t *testing.T) {
	gr := api.Graph{From: time.Unix(0, 0), To: time.Unix(3600, 0), Source: "storage",
		Nodes: []api.Node{{ID: "checkout"}}, Edges: []api.Edge{{Client: "user", Server: "checkout", Requests: 1}}}
	var buf bytes.Buffer
	printGraph(&buf, gr, "", time.Now())
	if !strings.Contains(buf.String(), "1 node, 1 edge\n") {
		t.Errorf("header:\n%s", buf.String())
	}
}

func TestPrintGraph(t *testing.T) {
	ratio := 0.95
	gr := api.Graph{From: time.Unix(0, 0), To: time.Unix(3600, 0), Source: "storage",
		Nodes: []api.Node{{ID: "checkout"}, {ID: "fulfilment"}},
		Edges: []api.Edge{
			{Client: "checkout", Server: "fulfilment", ConnectionType: "messaging_system", Requests: 380, MessagesSent: 380, MessagesReceived: 380, ProducerSent: 400, DeliveryRatio: &ratio,
				Destinations: []api.Destination{{Name: "orders", MessagesSent: 380, MessagesReceived: 380, ProducerSent: 400, DeliveryRatio: &ratio}}},
			{Client: "checkout", Server: "payments", Requests: 407, ErrorPercent: 9.83, P99ms: 48.2,
				BreakerRequests: &api.BreakerRequests{Closed: 257, Open: 100, HalfOpen: 50}, BreakerTransitions: 3},
		},
		Breakers: []api.Breaker{{Service: "checkout", Target: "payments", State: "closed", Transitions: map[string]uint64{"open": 1, "half_open": 1, "closed": 1}}},
	}
	var buf bytes.Buffer
	printGraph(&buf, gr, "", time.Now())
	out := buf.String()
	for _, want := range []string{"2 nodes, 2 edges", "95.00% (380/400)", "messaging_system", "100 open/50 half/257 closed, 3 changes", "BREAKERS", "9.83", "48.2",
		"DESTINATIONS", "orders       checkout  fulfilment  380   380       95.00% (380/400)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestGraphCommandReadsRollups(t *testing.T) {
	st := storetest.Migrated(t)
	addr, db := chtest.Addr(t), st.Database()
	ctx := context.Background()
	// an hour ago, whole: rows meet no TTL or window, whatever the date
	bucket := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	lat := flowmodel.NewHistogram(flowmodel.LatencyBounds)
	lat.Counts[3] = 90
	rows := []flowmodel.EdgeRollup{
		{Bucket: bucket, Client: "checkout", Server: "payments", Requests: 90, Failed: 9, ServerLatency: lat,
			Breaker: flowmodel.BreakerCounts{Closed: 80, Open: 10, Transitions: 2}},
		{Bucket: bucket, Client: "checkout", Server: "fulfilment", ConnectionType: "messaging_system", Requests: 95, MessagesSent: 95, MessagesReceived: 95},
		{Bucket: bucket, Client: "checkout", Server: "orders", ConnectionType: "virtual_node", Requests: 5, MessagesSent: 5, Unpaired: 5},
	}
	if err := st.InsertEdgeRollups(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		g := &globalFlags{}
		root := &cobra.Command{Use: "flowlens", SilenceUsage: true, SilenceErrors: true}
		g.register(root)
		root.AddCommand(newGraphCmd(g))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"--clickhouse", addr, "--data-dir", chtest.DataDir(t), "--database", db, "--log-level", "warn", "graph",
			"--from", bucket.Add(-30 * time.Minute).Format(time.RFC3339), "--to", bucket.Add(30 * time.Minute).Format(time.RFC3339)}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("graph %v: %v", args, err)
		}
		return out.String()
	}
	text := run()
	for _, want := range []string{"3 edges", "95.00% (95/100)", "10 open/0 half/80 closed, 2 changes", "10.00"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	var gr api.Graph
	if err := json.Unmarshal([]byte(run("-o", "json", "--service", "payments")), &gr); err != nil {
		t.Fatal(err)
	}
	if len(gr.Edges) != 1 || gr.Edges[0].Requests != 90 || gr.Source != "storage" {
		t.Fatalf("json graph %+v", gr)
	}
}

// A breaker that never changed shows since when it was first seen, said so,
// not the time of its latest call; one that changed shows when it did.
func TestBreakerSinceIsWhenItChangedOrFirstSeen(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	tr := breaker.NewTracker(0, int64(time.Minute))
	for i := 0; i < 600; i++ { // a call every second for 10 minutes
		at := t0.Add(time.Duration(i) * time.Second).UnixNano()
		tr.Observe("hx-cart", "hx-pay", breaker.Closed, at, at)
		st := breaker.Closed
		if i >= 300 {
			st = breaker.Open
		}
		tr.Observe("hx-cart", "hx-stock", st, at, at)
	}
	tr.Advance(time.Now().UnixNano())
	gr := api.BuildGraph(nil, tr.Snapshot(), t0, t0.Add(10*time.Minute), "memory")
	var buf bytes.Buffer
	printGraph(&buf, gr, "", time.Now())
	lines := map[string]string{}
	for _, l := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "hx-cart" {
			lines[f[1]] = strings.Join(f, " ") // columns one space apart
		}
	}
	if l, want := lines["hx-pay"], "hx-cart hx-pay closed unknown (first seen "+t0.Format(time.RFC3339)+") 0 0 0"; l != want {
		t.Errorf("never-changed breaker:\n%q, want\n%q\n%s", l, want, buf.String())
	}
	if l, want := lines["hx-stock"], "hx-cart hx-stock open "+t0.Add(300*time.Second).Format(time.RFC3339)+" 1 0 0"; l != want {
		t.Errorf("opened breaker:\n%q, want\n%q\n%s", l, want, buf.String())
	}
}

// shopCalls are 44 s of a shop at 20 requests/s ending now: user ->
// hx-cart, and hx-cart -> hx-stock behind a breaker (breaker.name, no
// peer.service) that opens for the last 40 calls, which it refuses: no
// server span.
func shopCalls(now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := func(service string) ptrace.SpanSlice {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		return rs.ScopeSpans().AppendEmpty().Spans()
	}
	cart, stock := spans("hx-cart"), spans("hx-stock")
	t0 := now.Add(-44 * time.Second)
	span := func(ss ptrace.SpanSlice, kind ptrace.SpanKind, trace, id, parent int, at time.Time) ptrace.Span {
		s := ss.AppendEmpty()
		s.SetKind(kind)
		s.SetTraceID(pcommon.TraceID{byte(trace >> 8), byte(trace), 0xca, 0xfe})
		s.SetSpanID(pcommon.SpanID{byte(trace >> 8), byte(trace), byte(id)})
		if parent > 0 {
			s.SetParentSpanID(pcommon.SpanID{byte(trace >> 8), byte(trace), byte(parent)})
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(5 * time.Millisecond)))
		return s
	}
	for i := 0; i < 880; i++ {
		at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		span(cart, ptrace.SpanKindServer, i, 1, 0, at)
		call := span(cart, ptrace.SpanKindClient, i, 2, 1, at.Add(time.Millisecond))
		call.Attributes().PutStr("breaker.name", "hx-stock")
		if i < 840 {
			call.Attributes().PutStr("breaker.state", "closed")
			span(stock, ptrace.SpanKindServer, i, 3, 2, at.Add(2*time.Millisecond))
		} else {
			call.Attributes().PutStr("breaker.state", "open")
			call.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// graphRows maps "client>server|TYPE" to the columns of its row in
// `flowlens graph` output.
func graphRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1); len(f) == 12 && f[0] != "CLIENT" {
			rows[f[0]+">"+f[1]+"|"+f[2]] = f
		}
	}
	return rows
}

// `flowlens graph` tells where its counts come from and how fresh they are,
// its rates are over the time that has calls (the 20 req/s shop, 44 s after
// it started, is 20 req/s in the last hour's graph), and its BREAKER column
// reads the same from ClickHouse and from the analyzer.
func TestGraphSaysWhereItsCountsComeFrom(t *testing.T) {
	c := newStorageCLI(t)
	c.mustRun("migrate")
	cfg := storage.Config{Addr: c.addr, Database: c.db}
	cfg.Username, cfg.Password = chtest.Login(t, chserver.RoleWriter) // as the analyzer writes its rollups
	cfg.SetDefaults()
	ctx := context.Background()
	st, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var fc flowgraph.Config
	fc.Instance, fc.HTTP.Listen, fc.Shards = "test", "127.0.0.1:0", 1
	fc.SetDefaults()
	fc.Store.Wait = 100 * time.Millisecond
	svc, err := flowgraph.New(fc, flowgraph.Settings{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown(ctx)
	svc.Analyzer().ConsumeTraces(0, shopCalls(time.Now()), time.Now())
	apiURL := "http://" + svc.Addr()

	// the refused calls become an edge once their wait is over
	var live string
	for deadline := time.Now().Add(30 * time.Second); ; {
		live = c.mustRun("graph", "--api", apiURL)
		if graphRows(live)["hx-cart>hx-stock|virtual_node"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refused calls never showed:\n%s", live)
		}
		time.Sleep(100 * time.Millisecond) // polling the output above
	}
	if err := svc.Shutdown(ctx); err != nil { // writes the last rollups
		t.Fatal(err)
	}
	stored := c.mustRun("graph")
	t.Log("\n" + live + "\n" + stored)

	for _, tc := range []struct {
		name, out, source string
	}{
		{"--api", live, "source: the analyzer at " + apiURL + ": ClickHouse rollups and the counts it has not written yet"},
		{"ClickHouse", stored, "source: ClickHouse rollups, which the analyzer writes about once a minute: the newest minute or two are not in them yet (--api <analyzer URL> adds them)"},
	} {
		if !strings.Contains(tc.out, tc.source+"\n") {
			t.Errorf("%s: no line %q", tc.name, tc.source)
		}
		if !strings.Contains(tc.out, "REQ/S is over these 44s") {
			t.Errorf("%s: the rates are not said to be over the 44 s of calls", tc.name)
		}
		rows := graphRows(tc.out)
		if r := rows["user>hx-cart|sync"]; r == nil || r[3] != "880" || r[4] != "20.02" {
			t.Errorf("%s: user -> hx-cart %q, want 880 requests at 20.02/s", tc.name, r)
		}
		if r := rows["hx-cart>hx-stock|virtual_node"]; r == nil || r[3] != "40" || !strings.HasPrefix(r[11], "40 open/0 half/0 closed") {
			t.Errorf("%s: the refused calls %q, want 40 on hx-cart -> hx-stock with the breaker open", tc.name, r)
		}
	}
	// one BREAKER format: the analyzer adds only the live state
	for _, edge := range []string{"hx-cart>hx-stock|sync", "hx-cart>hx-stock|virtual_node"} {
		l, s := graphRows(live)[edge], graphRows(stored)[edge]
		if l == nil || s == nil || l[11] != s[11]+"; now open" {
			t.Errorf("%s: BREAKER %q with --api, %q from ClickHouse; want the same counts, and the live state added", edge, l, s)
		}
	}
}
