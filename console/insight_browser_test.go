package console_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/flowlens/flowlens/loadtest/gen"
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
			if e.Client == gen.User || e.ConnectionType == gen.ConnDatabase {
				continue
			}
			made[e.Client] += e.Requests
			if e.ConnectionType == gen.ConnVirtual {
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
