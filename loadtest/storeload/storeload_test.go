package storeload

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// What Load stores is the truth: every span and log once, and the graph of
// the rollups equal to the truth's edges, queue and breakers.
func TestStoredShopIsTheTruth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := storetest.Migrated(t)
	res, err := Load(ctx, st, Options{Rate: 20, Duration: 30 * time.Second, Seed: 7,
		Faults: "../testdata/faults.yaml", Start: time.Now().Add(-10 * time.Minute), BatchSpans: 3000})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Truth
	var spans, logs uint64
	db := "`" + st.Database() + "`"
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+db+".otel_traces").Scan(&spans); err != nil {
		t.Fatal(err)
	}
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+db+".otel_logs").Scan(&logs); err != nil {
		t.Fatal(err)
	}
	if spans != tr.Spans || logs != tr.Logs || spans == 0 {
		t.Fatalf("stored %d spans and %d logs; the truth has %d and %d", spans, logs, tr.Spans, tr.Logs)
	}
	aggs, err := st.QueryEdges(ctx, tr.Start.Add(-time.Minute), tr.End.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ requests, failed, retries uint64 }
	got, want := map[[3]string]counts{}, map[[3]string]counts{}
	for _, a := range aggs {
		got[[3]string{a.Client, a.Server, a.ConnectionType}] = counts{a.Requests, a.Failed, a.Retries}
	}
	for _, e := range tr.Edges {
		k := [3]string{e.Client, e.Server, e.ConnectionType}
		c := want[k]
		c.requests, c.failed, c.retries = c.requests+e.Requests, c.failed+e.Failed, c.retries+e.Retries
		want[k] = c
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("edge %v: stored %+v, truth %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d edges stored, the truth has %d", len(got), len(want))
	}
	// Log lines are read as the agent reads the shop's files: each breaker
	// change is a record at its time with the message as body.
	for _, b := range tr.Breakers {
		recs, err := st.SearchLogs(ctx, storage.LogQuery{TraceID: b.TraceID, Contains: "circuit breaker",
			From: tr.Start.Add(-time.Hour), To: tr.End.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want := "circuit breaker " + b.Name + " " + b.From + " -> " + b.To
		found := false
		for _, r := range recs {
			found = found || (r.Body == want && r.Timestamp.Equal(b.Time) && r.ServiceName == b.Service && r.SeverityText == "warn")
		}
		if !found {
			t.Errorf("breaker change %+v: stored as %+v", b, recs)
		}
	}
	var open uint64
	for _, a := range aggs {
		if a.Client == "checkout" && a.Server == "payments" {
			open += a.Breaker.Open
		}
	}
	if open == 0 {
		t.Error("the forced-open breaker checkout -> payments is not stored")
	}
}

// A History load stores the rollups of hours long gone, each call in the
// minute it was made: the graph of the whole run is the truth's, and so is
// the graph of each hour (an analyzer on the wall clock would have moved
// everything older than an hour into one minute).
func TestHistoryIsTheTruthHourByHour(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := storetest.Migrated(t)
	start := time.Now().UTC().Truncate(time.Hour).Add(-5 * time.Hour)
	res, err := Load(ctx, st, Options{Rate: 1, Duration: 3 * time.Hour, Seed: 9, Start: start, History: true})
	if err != nil {
		t.Fatal(err)
	}
	var spans uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM `"+st.Database()+"`.otel_traces").Scan(&spans); err != nil {
		t.Fatal(err)
	}
	if spans != 0 {
		t.Errorf("a History load stored %d spans, want only rollups", spans)
	}
	requests := func(from, to time.Time) map[[3]string]uint64 {
		aggs, err := st.QueryEdges(ctx, from, to, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[[3]string]uint64{}
		for _, a := range aggs {
			out[[3]string{a.Client, a.Server, a.ConnectionType}] = a.Requests
		}
		return out
	}
	want := map[[3]string]uint64{}
	for _, e := range res.Truth.Edges {
		want[[3]string{e.Client, e.Server, e.ConnectionType}] += e.Requests
	}
	got := requests(start.Add(-time.Hour), start.Add(5*time.Hour))
	for k, w := range want {
		if got[k] != w {
			t.Errorf("edge %v: stored %d requests, truth %d", k, got[k], w)
		}
	}
	// root requests arrive at 1/s: 3600 in each hour (and the hours are
	// read from the hourly tier)
	for h := range 3 {
		from := start.Add(time.Duration(h) * time.Hour)
		if n := requests(from, from.Add(time.Hour))[[3]string{"user", "gateway", ""}]; n != 3600 {
			t.Errorf("hour %d: %d root requests, want 3600", h, n)
		}
	}
}
