package console_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

// The views of what the flows say about the system, over the stored shop:
// the logging policy, the service catalog and the suggested rules.
func TestInsightViewsInBrowser(t *testing.T) {
	s := theShop(t)
	requireBundle(t, s)
	b := newBrowser(t)
	rng := s.rangeQuery()

	t.Run("the logging policy is the truth's", func(t *testing.T) {
		// what the shop's truth says: every call between two services is
		// recorded on both sides; calls to the externals, calls refused by
		// the open breaker and messages the queue dropped on one side only
		made, one := map[string]uint64{}, map[string]uint64{}
		for _, e := range s.Truth.Edges {
			if e.Client == gen.User || e.ConnectionType == flowmodel.ConnectionDatabase {
				continue
			}
			made[e.Client] += e.Requests
			if e.ConnectionType == flowmodel.ConnectionVirtual {
				one[e.Client+" → "+e.Server] += e.Requests
			}
		}
		b.run(t, "open the policy", chromedp.Navigate(s.base+"/conformance?"+rng), ready("conformance"))
		rows := eval[[][]string](t, b, `[...document.querySelectorAll('table.conformance tbody tr')].map(r => [...r.cells].map(c => c.textContent))`)
		head := eval[[]string](t, b, `[...document.querySelectorAll('table.conformance thead th')].map(c => c.textContent)`)
		col := slices.Index(head, "calls made")
		if col < 0 {
			t.Fatalf("no calls made column in %v", head)
		}
		var services []string
		for _, r := range rows {
			services = append(services, r[0])
			if want := made[r[0]]; want > 0 && r[col] != thousands(want) {
				t.Errorf("%s made %s calls, the truth %d", r[0], r[col], want)
			}
			if logs := s.Truth.LogsByService[r[0]]; r[1] != thousands(logs) {
				t.Errorf("%s wrote %s log records, the truth %d", r[0], r[1], logs)
			}
			if trace := r[slices.Index(head, "trace id")]; trace != "100%" {
				t.Errorf("%s: %s of its records carry a trace ID, the shop logs every one", r[0], trace)
			}
		}
		if want := slices.Sorted(func(yield func(string) bool) {
			for k := range s.Truth.SpansByService {
				if !yield(k) {
					return
				}
			}
		}); !slices.Equal(services, want) {
			t.Errorf("services %v, want the shop's %v", services, want)
		}
		oneSided := eval[[][]string](t, b, `[...document.querySelectorAll('table.one-sided tbody tr')].map(r => [...r.cells].map(c => c.textContent))`)
		got := map[string]string{}
		for _, r := range oneSided {
			got[r[0]] = r[1] + ": " + r[2]
		}
		for edge, n := range one {
			if !strings.HasPrefix(got[edge], thousands(n)+": ") {
				t.Errorf("%s: %q, want %d calls recorded on one side", edge, got[edge], n)
			}
		}
		if len(got) != len(one) {
			t.Errorf("calls recorded on one side: %v, want %v", got, one)
		}
		for edge, why := range map[string]string{
			"payments → payment-provider": "payment-provider records nothing: an uninstrumented peer",
			"checkout → payments":         "payments records spans elsewhere: these calls were refused (an open breaker)",
			"checkout → orders":           "messages sent that nobody was seen receiving",
		} {
			if !strings.Contains(got[edge], why) {
				t.Errorf("%s: %q, want it to say %q", edge, got[edge], why)
			}
		}
		b.shot(t, "conformance")
	})

	t.Run("the catalog is the shop's", func(t *testing.T) {
		b.run(t, "open the catalog", chromedp.Navigate(s.base+"/catalog?"+rng), ready("catalog"))
		names := eval[[]string](t, b, `[...document.querySelectorAll('table.catalog tbody tr td:first-child')].map(c => c.textContent)`)
		want := []string{"payment-provider", "postgres", "redis", "smtp-relay"} // the nodes that record nothing
		for svc := range s.Truth.SpansByService {
			want = append(want, svc)
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("catalog lists %v, want %v", names, want)
		}
		b.shot(t, "catalog")
		b.run(t, "open checkout's entry", click(`table.catalog a[href^="/catalog/checkout"]`), ready("catalog"))
		ops := eval[[]string](t, b, `[...document.querySelectorAll('table.catalog-ops tbody tr')].map(r => r.cells[0].textContent + ' ← ' + r.cells[5].textContent.replace(/ [0-9.]+\/s/g, ''))`)
		if !slices.Equal(ops, []string{"POST /orders ← gateway"}) {
			t.Errorf("checkout serves %v", ops)
		}
		calls := eval[[]string](t, b, `[...document.querySelectorAll('table.catalog-calls tbody tr')].map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)`)
		if !slices.Contains(calls, "fulfilment messages via orders") || !slices.Contains(calls, "payments call") || len(calls) != 5 {
			t.Errorf("checkout calls %v", calls)
		}
		b.shot(t, "catalog-entry")
		b.run(t, "compare with the window before", chromedp.Navigate(s.base+"/catalog/checkout?compare=previous&"+rng), ready("catalog"))
		if changes := text(t, b, `table.changes`); !strings.Contains(changes, "new service") {
			t.Errorf("against the empty window before, checkout is new:\n%s", changes)
		}
	})

	t.Run("suggested rules from two hours of a system with designed ratios", func(t *testing.T) {
		base, from, to := historyConsole(t)
		b.run(t, "open the suggestions", chromedp.Navigate(base+"/suggest?from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339)), ready("suggest"))
		ratios := eval[[][]string](t, b, `[...document.querySelectorAll('table.suggested-ratios tbody tr')].map(r => [...r.cells].map(c => c.textContent))`)
		got := map[string]string{}
		for _, r := range ratios {
			got[r[2]] = r[3]
		}
		for flows, band := range map[string]string{
			"front → one per calls into front":                                   "1 ± 0.02",
			"messages worker received from jobs per messages front sent to jobs": "0.9",
		} {
			if !strings.HasPrefix(got[flows], band) {
				t.Errorf("%s: %q, want %s…; rules: %v", flows, got[flows], band, got)
			}
		}
		skipped := text(t, b, `table.suggest-skipped`)
		if !strings.Contains(skipped, "front->rare per request into front") || !strings.Contains(skipped, "unstable") {
			t.Errorf("the flows without a rule do not show rare and the unstable queue:\n%s", skipped)
		}
		if file := text(t, b, `pre.rule-file`); !strings.Contains(file, "name: FrontToFanPerRequest") {
			t.Errorf("rule file:\n%s", file)
		}
		b.shot(t, "suggest")
		b.run(t, "the default range is a week", chromedp.Navigate(base+"/suggest"), ready("suggest"))
		if q := eval[string](t, b, `location.search`); !strings.Contains(q, "from=now-7d") {
			t.Errorf("the view's URL is %q, want a week's range", q)
		}
	})

	t.Run("the loss ledger of a stored known state", func(t *testing.T) {
		// three hosts' reports and stored counts, as the agents and the
		// collectors write them (storage's functions the collector uses), in
		// the shop's database: web-1 lost 12 records after Kafka in one
		// interval and 10 in its agent's buffer in the next; web-2 is whole
		// but for 7 records stored without a report; web-3 is whole, with
		// its current interval still open
		ctx := context.Background()
		now := time.Now().UTC()
		t0 := now.Truncate(time.Minute).Add(-10 * time.Minute)
		t1, open := t0.Add(time.Minute), now.Truncate(time.Minute)
		reports := []storage.LedgerReport{
			{Interval: t0, Seconds: 60, Host: "web-1", Kind: "spans", Run: "r1", Accepted: 100, Acked: 90, Seq: 1},
			{Interval: t0, Seconds: 60, Host: "web-1", Kind: "spans", Run: "r1", Accepted: 100, Acked: 100, Seq: 2}, // the run's latest
			{Interval: t1, Seconds: 60, Host: "web-1", Kind: "logs", Run: "r1", Accepted: 40, Acked: 30, Seq: 3},
			{Interval: t0, Seconds: 60, Host: "web-2", Kind: "logs", Run: "r2", Accepted: 50, Acked: 50, Seq: 1},
			{Interval: t0, Seconds: 60, Host: "web-3", Kind: "spans", Run: "r3", Accepted: 20, Acked: 20, Seq: 1},
			// a long interval, open for the whole test whatever the machine's pace
			{Interval: open, Seconds: 600, Host: "web-3", Kind: "spans", Run: "r3", Accepted: 10, Acked: 10, Seq: 2},
		}
		if err := s.st.InsertLedgerReports(ctx, reports, "console-ledger-reports"); err != nil {
			t.Fatal(err)
		}
		counts := []storage.LedgerCount{
			{Interval: t0, Host: "web-1", Kind: "spans", Stored: 85, DeadLettered: 3},
			{Interval: t1, Host: "web-1", Kind: "logs", Stored: 30},
			{Interval: t0, Host: "web-2", Kind: "logs", Stored: 50},
			{Interval: t1, Host: "web-2", Kind: "logs", Stored: 7},
			{Interval: t0, Host: "web-3", Kind: "spans", Stored: 20},
			{Interval: open, Host: "web-3", Kind: "spans", Stored: 4},
		}
		if err := s.st.InsertLedgerCounts(ctx, counts, "console-ledger-counts"); err != nil {
			t.Fatal(err)
		}
		from, to := t0.Add(-10*time.Minute).Format(time.RFC3339), open.Add(time.Minute).Format(time.RFC3339)
		b.run(t, "open the ledger", chromedp.Navigate(s.base+"/ledger?from="+from+"&to="+to), ready("ledger"))

		hosts := eval[[][]string](t, b, `[...document.querySelectorAll('table.ledger tbody tr')].map(r => [r.className, ...[...r.cells].map(c => c.textContent)])`)
		want := [][]string{
			// standing, host, accepted, acked, dropped, stored, dead-lettered, missing, lost before Kafka, lost after Kafka, extra, open intervals
			{"standing-missing", "web-1", "140", "130", "0", "115", "3", "22 ✗", "10 ✗", "12 ✗", "0", "0"},
			{"standing-extra", "web-2", "50", "50", "0", "57", "0", "0", "0", "0", "7", "0"},
			{"standing-whole", "web-3", "20", "20", "0", "20", "0", "0", "0", "0", "0", "1"},
		}
		if !slices.EqualFunc(hosts, want, slices.Equal) {
			t.Errorf("hosts:\n got %q\nwant %q", hosts, want)
		}
		// the host with records missing stands out: a red row, red counts
		bg := eval[[]string](t, b, `[...document.querySelectorAll('table.ledger tbody tr')].map(r => getComputedStyle(r).backgroundColor)`)
		if len(bg) != 3 || bg[0] == bg[2] || bg[1] != bg[2] {
			t.Errorf("row backgrounds %q: want web-1's alone to differ", bg)
		}
		if banner := text(t, b, `.ledger-banner`); !strings.Contains(banner, "22 records missing on host web-1") {
			t.Errorf("banner %q", banner)
		}
		ivs := eval[[][]string](t, b, `[...document.querySelectorAll('table.ledger-intervals tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].firstChild.getAttribute('datetime'), r.cells[2].textContent, r.cells[7].textContent, r.cells[8].textContent])`)
		stamp := func(t time.Time) string { return t.Format(time.RFC3339) }
		wantIvs := [][]string{
			{"web-1", stamp(t0), "spans", "12 ✗", "12 lost after Kafka (acknowledged, never stored)"},
			{"web-1", stamp(t1), "logs", "10 ✗", "10 lost before Kafka (the agent's buffer)"},
			{"web-2", stamp(t1), "logs", "0", "7 stored without an agent report (its agent crashed before reporting, or runs without the ledger)"},
		}
		if !slices.EqualFunc(ivs, wantIvs, slices.Equal) {
			t.Errorf("intervals with records missing or extra:\n got %q\nwant %q", ivs, wantIvs)
		}
		if cur := eval[string](t, b, `document.querySelector('nav.sections a[aria-current="page"]')?.textContent ?? ''`); cur != "Loss ledger" {
			t.Errorf("the nav marks %q", cur)
		}
		b.shot(t, "ledger")

		b.run(t, "open web-3's intervals", click(`table.ledger a[href*="host=web-3"]`), ready("ledger"))
		q := eval[string](t, b, `location.pathname + location.search`)
		for _, part := range []string{"/ledger?", "host=web-3", "intervals=all", "from=" + url.QueryEscape(from)} {
			if !strings.Contains(q, part) {
				t.Errorf("the deep link %q lacks %q", q, part)
			}
		}
		ivs = eval[[][]string](t, b, `[...document.querySelectorAll('table.ledger-intervals tbody tr')].map(r => [r.className, r.cells[0].textContent, r.cells[8].textContent])`)
		if want := [][]string{{"standing-whole", "web-3", "whole"}, {"open", "web-3", "open: not judged yet"}}; !slices.EqualFunc(ivs, want, slices.Equal) {
			t.Errorf("web-3's intervals %q, want %q", ivs, want)
		}
		b.shot(t, "ledger-host")
		// the deep link, pasted, shows the same
		b.run(t, "paste the deep link", chromedp.Navigate(s.base+q), ready("ledger"))
		if n := eval[int](t, b, `document.querySelectorAll('table.ledger tbody tr').length`); n != 1 {
			t.Errorf("the pasted link shows %d hosts, want web-3 alone", n)
		}
	})

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page wrote errors to its console:\n%s", strings.Join(errs, "\n"))
	}
}

// thousands is how the page writes a count.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// historyConsole is a console over two hours of the system with designed
// ratios of rules/suggest/testdata (rollups only, and a minute of spans to
// name its queues), and the range they cover.
func historyConsole(t *testing.T) (base string, from, to time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := storetest.Config(t)
	st := storetest.Open(t, cfg)
	to = time.Now().UTC().Truncate(5 * time.Minute)
	from = to.Add(-2 * time.Hour)
	const system = "../rules/suggest/testdata/ratios.yaml"
	if _, err := storeload.Load(ctx, st, storeload.Options{Topology: system, Rate: 2, Duration: 2 * time.Hour, Seed: 6,
		Start: from, History: true}); err != nil {
		t.Fatal(err)
	}
	// a minute stored whole, in the range: its spans name the queues
	if _, err := storeload.Load(ctx, st, storeload.Options{Topology: system, Rate: 2, Duration: time.Minute, Seed: 7,
		Start: to.Add(-3 * time.Minute), LogsPerSpan: -1}); err != nil {
		t.Fatal(err)
	}
	reader, err := readerStore(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	c, err := console.New(console.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}}, console.Settings{Store: reader})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return c.URL(), from, to
}
