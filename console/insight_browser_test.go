package console_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/listener"
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
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	st, err := storeload.OpenMigrated(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
