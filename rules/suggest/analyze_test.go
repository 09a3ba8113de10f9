package suggest

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/storage"
)

// A caller serving two kinds of request in changing proportions calls its
// downstreams in changing proportion to its requests, but in a steady one
// to each other: the siblings' ratio gets the rule the per-request ratios
// cannot have.
func TestSiblingsWhereRequestsMixChanges(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var h History
	h.From, h.To = from, from.Add(2*time.Hour)
	for w := range 24 {
		at := from.Add(time.Duration(w) * 5 * time.Minute)
		share := 0.3 // of the requests that call checkout once and cart twice
		if w%2 == 1 {
			share = 0.7
		}
		calls := 600 * share
		for _, e := range []struct {
			client, server string
			n              float64
		}{{"user", "bff", 600}, {"bff", "checkout", calls}, {"bff", "cart", 2 * calls}} {
			h.Windows = append(h.Windows, storage.EdgeWindow{Time: at, Client: e.client, Server: e.server, Requests: uint64(e.n)})
		}
	}
	res := Analyze(h, Options{})
	if len(res.Ratios) != 1 {
		t.Fatalf("ratios %+v, want one; skipped %+v", res.Ratios, res.Skipped)
	}
	r := res.Ratios[0]
	if r.Kind != KindSiblings || r.Numerator.Edge != "bff->checkout" || r.Denominator.Edge != "bff->cart" || r.Expected != 0.5 || r.Tolerance != 0.01 {
		t.Errorf("suggested %+v, want bff->checkout per bff->cart = 0.5 ± 2%%", r)
	}
	unstable := 0
	for _, s := range res.Skipped {
		if s.Kind == KindEdgePerRequest && s.Reason == skipUnstable {
			unstable++
		}
	}
	if unstable != 2 {
		t.Errorf("the per-request ratios should be unstable: %+v", res.Skipped)
	}
}
