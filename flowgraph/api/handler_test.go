package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/breaker"
	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

type fakeLive struct {
	e []edges.Edge
	b []breaker.Status
}

func (f fakeLive) Edges() []edges.Edge        { return f.e }
func (f fakeLive) Breakers() []breaker.Status { return f.b }

// liveNow is the fake analyzer's clock: its calls span the 100 s before it.
var liveNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func live() fakeLive {
	e := []edges.Edge{
		{Client: "user", Server: "gw", Counters: edges.Counters{Requests: 100}},
		{Client: "gw", Server: "pay", Counters: edges.Counters{Requests: 50, Failed: 5}},
		{Client: "gw", Server: "q", Destination: "q", Conn: flowmodel.ConnVirtualNode, Counters: edges.Counters{Requests: 1, Sent: 1, Unpaired: 1}},
		{Client: "gw", Server: "ship", Destination: "q", Conn: flowmodel.ConnMessaging, Counters: edges.Counters{Requests: 3, Sent: 3, Received: 3}},
	}
	for i := range e {
		e[i].FirstNs, e[i].LastNs = liveNow.Add(-100*time.Second).UnixNano(), liveNow.UnixNano()
	}
	return fakeLive{e: e, b: []breaker.Status{{Key: breaker.Key{Service: "gw", Target: "pay"}, State: breaker.Open, Transitions: [4]uint64{0, 0, 2, 0}}}}
}

func get(t *testing.T, h http.Handler, url string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if v != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, rec.Body.String())
		}
	}
	return rec.Code
}

func TestGraphEndpoint(t *testing.T) {
	now := liveNow
	h := New(Options{Live: live(), Now: func() time.Time { return now }})
	var g Graph
	if code := get(t, h, "/api/v1/graph?from=now-100s", &g); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if g.Source != "memory" || len(g.Edges) != 4 || len(g.Nodes) != 5 || !g.To.Equal(now) || g.To.Sub(g.From) != 100*time.Second {
		t.Fatalf("graph %+v", g)
	}
	byID := map[string]Edge{}
	for _, e := range g.Edges {
		byID[e.ID] = e
	}
	pay := byID["gw->pay|"]
	if pay.ErrorPercent != 10 || pay.RequestRate != 0.5 || pay.Breaker == nil || pay.Breaker.State != "open" || pay.Breaker.Transitions["open"] != 2 {
		t.Fatalf("gw->pay %+v", pay)
	}
	if r := byID["gw->ship|messaging_system"].DeliveryRatio; r == nil || *r != 0.75 {
		t.Fatalf("delivery ratio %v, want 3 received of 4 sent", r)
	}
	types := map[string]string{}
	for _, n := range g.Nodes {
		types[n.ID] = n.Type
	}
	if types["user"] != "user" || types["q"] != "virtual" || types["pay"] != "service" {
		t.Fatalf("node types %v", types)
	}
}

func TestServiceEdgesAndErrors(t *testing.T) {
	h := New(Options{Live: live()})
	var se ServiceEdges
	if code := get(t, h, "/api/v1/services/gw/edges", &se); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if len(se.Inbound) != 1 || len(se.Outbound) != 3 {
		t.Fatalf("gw edges: %d in, %d out", len(se.Inbound), len(se.Outbound))
	}
	for _, url := range []string{
		"/api/v1/graph?from=yesterday",
		"/api/v1/graph?from=now&to=now-1h",
		"/api/v1/graph?to=2026-13-01T00:00:00Z",
	} {
		if code := get(t, h, url, nil); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", url, code)
		}
	}
	var ng NodeGraph
	if code := get(t, h, "/api/v1/nodegraph", &ng); code != http.StatusOK || len(ng.Nodes) != 5 || len(ng.Edges) != 4 {
		t.Fatalf("nodegraph %d %+v", code, ng)
	}
	for _, n := range ng.Nodes {
		if n.ID == "pay" && (n.ArcFailed != 0.1 || n.ArcSuccess != 0.9) {
			t.Fatalf("pay arcs %+v", n)
		}
	}
	var bs []Breaker
	if code := get(t, h, "/api/v1/breakers", &bs); code != http.StatusOK || len(bs) != 1 || bs[0].State != "open" {
		t.Fatalf("breakers %d %+v", code, bs)
	}
}

// Unix numbers: seconds up to 10^12, milliseconds above (Grafana's
// ${__from}); either way an instant RFC 3339 can write, or an error.
func TestParseTimeSecondsAndMilliseconds(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want string // RFC 3339, "" for an error
	}{
		{"1700000000", "2023-11-14T22:13:20Z"},
		{"1700000000000", "2023-11-14T22:13:20Z"},
		{"1700000000123", "2023-11-14T22:13:20.123Z"},
		{"1000000000001", "2001-09-09T01:46:40.001Z"}, // just above the cut-off: milliseconds
		{"999999999999", ""},                          // just below: seconds, in the year 33658
		{"1000000000000", ""},                         // the cut-off itself: seconds
		{"253402300799", "9999-12-31T23:59:59Z"},      // the last second RFC 3339 can write
		{"253402300800", ""},
		{"0", "1970-01-01T00:00:00Z"},
		{"9223372036854775807", ""},
	} {
		got, err := ParseTime(tc.in, now, now)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: read as %s, want an error", tc.in, got.UTC().Format(time.RFC3339Nano))
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.in, got.UTC().Format(time.RFC3339Nano), err, tc.want)
		}
	}
}

// A time JSON cannot hold is the caller's mistake, said as such, not an
// empty 200.
func TestGraphOutOfRangeTimeIsBadRequest(t *testing.T) {
	h := New(Options{Live: live()})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/graph?to=1000000000000", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "0000-9999") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
}

// FuzzParseTime: whatever ParseTime accepts is an instant that survives
// RFC 3339 (the CLI sends it back that way, the API answers in it); a
// relative time is never after now; a number is seconds up to 10^12 and
// milliseconds above.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "now", "now-1h", "-15m", "1700000000", "1700000000000", "2026-01-01T00:00:00Z", "now--1h", "-", "now-9999999999h",
		"999999999999", "1000000000000", "1000000000001", "253402300799", "2026-01-01T00:00:00.123456789+05:30", " now-0s "} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	def := now.Add(-time.Hour)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, def)
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(s)
		if trimmed == "" && !got.Equal(def) {
			t.Fatalf("empty: %v, want the default %v", got, def)
		}
		relative := strings.HasPrefix(trimmed, "now-") || strings.HasPrefix(trimmed, "-")
		if relative && got.After(now) {
			t.Fatalf("%q: %v is after now (%v)", s, got, now)
		}
		// "-0" is now minus nothing: a leading minus always means relative
		if n, err := strconv.ParseInt(trimmed, 10, 64); err == nil && !relative {
			if ms := n > 1e12; ms && got.UnixMilli() != n || !ms && (got.Unix() != n || got.Nanosecond() != 0) {
				t.Fatalf("%q read as %v: want seconds up to 10^12, milliseconds above", s, got)
			}
		}
		text := got.Format(time.RFC3339Nano)
		back, err := ParseTime(text, now, def)
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v written as %q reads back as %v, %v", s, got, text, back, err)
		}
	})
}

// since= is a range back from to; a parameter the API does not know is an
// error that names it, never silently ignored.
func TestGraphRangeParameters(t *testing.T) {
	now := liveNow
	h := New(Options{Live: live(), Now: func() time.Time { return now }})
	for _, tc := range []struct {
		url      string
		from, to time.Time
	}{
		{"/api/v1/graph?since=15m", now.Add(-15 * time.Minute), now},
		{"/api/v1/graph?since=now-15m", now.Add(-15 * time.Minute), now},
		{"/api/v1/graph?since=1h&to=now-1h", now.Add(-2 * time.Hour), now.Add(-time.Hour)},
		{"/api/v1/graph?since=30m&to=2026-01-01T11:00:00Z", now.Add(-90 * time.Minute), now.Add(-time.Hour)},
		{"/api/v1/graph?from=now-2h&to=now-1h", now.Add(-2 * time.Hour), now.Add(-time.Hour)},
		{"/api/v1/services/gw/edges?since=10m", now.Add(-10 * time.Minute), now},
	} {
		var g struct{ From, To time.Time }
		if code := get(t, h, tc.url, &g); code != http.StatusOK {
			t.Errorf("%s: status %d", tc.url, code)
			continue
		}
		if !g.To.Equal(tc.to) || !g.From.Equal(tc.from) {
			t.Errorf("%s: range %s .. %s, want %s .. %s", tc.url, g.From, g.To, tc.from, tc.to)
		}
	}
	for url, want := range map[string]string{
		"/api/v1/graph?sinec=15m":             `unknown query parameter \"sinec\"; /api/v1/graph takes from, to, since, service`,
		"/api/v1/graph?since=15m&from=now-1h": "give from or since, not both",
		"/api/v1/graph?since=yesterday":       `since \"yesterday\": want a positive duration like 15m`,
		"/api/v1/graph?from=now-1h&from=now":  `query parameter \"from\" given 2 times`,
		"/api/v1/nodegraph?limit=10":          `unknown query parameter \"limit\"`,
		"/api/v1/services/gw/edges?service=x": `unknown query parameter \"service\"; /api/v1/services/gw/edges takes from, to, since`,
		"/api/v1/breakers?since=1h":           `unknown query parameter \"since\"`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d %s, want 400 saying %s", url, rec.Code, rec.Body.String(), want)
		}
	}
}

// Rates are over the time that has calls: 880 calls in the last 44 s are
// 20 requests/s in the last hour's graph, not 0.24.
func TestRatesAreOverTheTimeWithCalls(t *testing.T) {
	first, last := liveNow.Add(-44*time.Second), liveNow
	e := edges.Edge{Client: "user", Server: "gw", Counters: edges.Counters{Requests: 880, FirstNs: first.UnixNano(), LastNs: last.UnixNano()}}
	h := New(Options{Live: fakeLive{e: []edges.Edge{e}}, Now: func() time.Time { return liveNow }})
	var g Graph
	if code := get(t, h, "/api/v1/graph?since=1h", &g); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if len(g.Edges) != 1 || g.Edges[0].RequestRate != 20 || g.RateSeconds != 44 ||
		g.FirstCall == nil || !g.FirstCall.Equal(first) || !g.LastCall.Equal(last) {
		t.Fatalf("graph %+v, want 20 req/s over the 44 s of calls", g)
	}
}

// The console's range presets go back days and weeks: now-7d is a week
// before now, as Grafana and Prometheus read it.
func TestParseTimeDaysAndWeeks(t *testing.T) {
	now := time.Date(2026, 1, 8, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now-7d":    now.Add(-7 * 24 * time.Hour),
		"now-1w":    now.Add(-7 * 24 * time.Hour),
		"now-1d12h": now.Add(-36 * time.Hour),
		"now-90m":   now.Add(-90 * time.Minute),
		"now-1.5h":  now.Add(-90 * time.Minute),
	} {
		got, err := ParseTime(in, now, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
}
