package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/flowlens/flowlens/storage"
)

// screenshots is where the browser tests leave a picture of each view
// (git ignores it): look at them after a change to the page.
const screenshots = "screenshots"

// browser is a headless Debian Chromium on a fresh profile, with what the
// page writes to its console collected.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []string // errors and exceptions
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is not installed (make tools-chromium): %v", err)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline: one would stop it
		t.Fatalf("start %s: %v", path, err)
	}
	b := &browser{ctx: ctx}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.msgs = append(b.msgs, m.String()+" at "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// run runs steps with a deadline.
func (b *browser) run(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action with a deadline and returns its value.
func value[T any](t testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval is the value of a JavaScript expression in the page.
func eval[T any](t testing.TB, b *browser, expr string) T {
	t.Helper()
	return value(t, b, expr, chromedp.Evaluate[T](expr))
}

// text is the text of the first element matching a CSS selector.
func text(t testing.TB, b *browser, sel string) string {
	t.Helper()
	return value(t, b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// ready waits until the page shows a view of kind, rendered.
func ready(kind string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-view=%q][data-state="ready"]`, kind)))
}

func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

// shot writes the page as name.png into screenshots/.
func (b *browser) shot(t testing.TB, name string) {
	t.Helper()
	png := value(t, b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// requireBundle fails unless the binary under test embeds the built page.
func requireBundle(t *testing.T, s *shop) {
	t.Helper()
	resp, err := http.Get(s.base + "/map")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "/assets/app.js") {
		t.Fatalf("the console's page is not built (make console writes console/bundle/):\n%s", body)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The console in a real browser, over the stored shop: what a person sees
// in each view is the shop's truth, links lead where they say, the keyboard
// reaches the map, and the page writes no error to its console.
func TestConsoleInBrowser(t *testing.T) {
	s := theShop(t)
	requireBundle(t, s)
	b := newBrowser(t)
	rng := s.rangeQuery()

	t.Run("the map shows the truth's nodes and links", func(t *testing.T) {
		b.run(t, "open the map", chromedp.Navigate(s.base+"/map?"+rng), ready("map"))
		nodes := eval[[]string](t, b, `[...document.querySelectorAll('[data-node]')].map(e => e.dataset.node).sort()`)
		links := eval[[]string](t, b, `[...document.querySelectorAll('[data-link]')].map(e => e.dataset.link).sort()`)
		rendered := eval[float64](t, b, `performance.getEntriesByName('map-render')[0]?.duration ?? -1`)
		wantNodes, wantLinks := map[string]bool{}, map[string]bool{}
		for _, e := range s.Truth.Edges {
			wantNodes[e.Client], wantNodes[e.Server] = true, true
			wantLinks[e.Client+"->"+e.Server] = true
		}
		if !slices.Equal(nodes, keys(wantNodes)) {
			t.Errorf("nodes\n got %v\nwant %v", nodes, keys(wantNodes))
		}
		if !slices.Equal(links, keys(wantLinks)) {
			t.Errorf("links\n got %v\nwant %v", links, keys(wantLinks))
		}
		t.Logf("map of %d nodes, %d links rendered in %.0f ms after its data", len(nodes), len(links), rendered)
		b.shot(t, "map")
	})

	t.Run("an open breaker is a badge and a banner", func(t *testing.T) {
		badge := eval[string](t, b, `document.querySelector('[data-breaker="payments->payment-provider"]')?.textContent ?? ''`)
		banner := text(t, b, `.banner-open`)
		if badge != "BREAKER OPEN" || !strings.Contains(banner, "1 breaker open") || !strings.Contains(banner, "payments → payment-provider") {
			t.Errorf("badge %q, banner %q", badge, banner)
		}
	})

	t.Run("clicking the queue edge shows its delivery ratio", func(t *testing.T) {
		q := s.Truth.Queue("orders")
		eval[bool](t, b, `document.querySelector('[data-link="checkout->fulfilment"] .hit').dispatchEvent(new MouseEvent('click', {bubbles: true}))`)
		ratio := text(t, b, `.details .delivery-ratio`)
		want := fmt.Sprintf("(%d of %d sent)", q.Received["fulfilment"], q.Sent)
		if !strings.Contains(ratio, want) || !strings.HasSuffix(strings.Fields(ratio)[0], "%") {
			t.Errorf("delivery ratio %q, want %s", ratio, want)
		}
		b.shot(t, "map-queue-edge")
	})

	t.Run("a neighbourhood", func(t *testing.T) {
		b.run(t, "open checkout's neighbourhood", chromedp.Navigate(s.base+"/map?service=checkout&depth=1&"+rng), ready("map"))
		nodes := eval[[]string](t, b, `[...document.querySelectorAll('[data-node]')].map(e => e.dataset.node).sort()`)
		want := map[string]bool{"checkout": true}
		for _, e := range s.Truth.Edges {
			if e.Client == "checkout" || e.Server == "checkout" {
				want[e.Client], want[e.Server] = true, true
			}
		}
		if !slices.Equal(nodes, keys(want)) {
			t.Errorf("checkout's neighbourhood %v, want %v", nodes, keys(want))
		}
		b.shot(t, "map-neighbourhood")
	})

	t.Run("the keyboard reaches a service and its page", func(t *testing.T) {
		b.run(t, "open the map", chromedp.Navigate(s.base+"/map?"+rng), ready("map"))
		focused := ""
		for i := 0; i < 40 && focused == ""; i++ {
			b.run(t, "tab", chromedp.KeyEvent(kb.Tab))
			focused = eval[string](t, b, `document.activeElement?.dataset?.node ?? ''`)
		}
		if focused == "" {
			t.Fatal("40 tabs reached no node of the map")
		}
		b.run(t, "select it", chromedp.KeyEvent(kb.Enter))
		if heading := text(t, b, `.details h2`); heading != focused {
			t.Fatalf("focused %q, details of %q", focused, heading)
		}
		onLink := ""
		for i := 0; i < 10 && onLink != "service page"; i++ {
			b.run(t, "tab", chromedp.KeyEvent(kb.Tab))
			onLink = eval[string](t, b, `document.activeElement?.textContent ?? ''`)
		}
		b.run(t, "follow it", chromedp.KeyEvent(kb.Enter), ready("service"))
		if path := eval[string](t, b, `decodeURIComponent(location.pathname)`); path != "/services/"+focused {
			t.Errorf("Enter on the service page link of %s went to %s", focused, path)
		}
	})

	t.Run("the service page", func(t *testing.T) {
		b.run(t, "open checkout", chromedp.Navigate(s.base+"/services/checkout?"+rng), ready("service"))
		topics := text(t, b, `.interface`)
		charts := eval[int](t, b, `document.querySelectorAll('.chart canvas').length`)
		if !strings.Contains(topics, "orders") || !strings.Contains(topics, "sends") || charts < 3 {
			t.Errorf("interface %q, %d charts", topics, charts)
		}
		b.shot(t, "service")
	})

	t.Run("the edge page", func(t *testing.T) {
		b.run(t, "open checkout -> fulfilment", chromedp.Navigate(s.base+"/edges/checkout/fulfilment?connection_type=messaging_system&"+rng), ready("edge"))
		captions := eval[[]string](t, b, `[...document.querySelectorAll('figure.chart-box figcaption')].map(e => e.textContent)`)
		if !slices.Contains(captions, "Delivery ratio (received / sent)") {
			t.Errorf("charts %v", captions)
		}
		b.shot(t, "edge")
		b.run(t, "open checkout -> payments", chromedp.Navigate(s.base+"/edges/checkout/payments?"+rng), ready("edge"))
		if main := text(t, b, `main`); !strings.Contains(main, "CheckoutPaymentsErrors") {
			t.Errorf("the edge page of checkout -> payments does not name its firing alert:\n%s", main)
		}
		b.shot(t, "edge-alert")
	})

	t.Run("trace search leads to a waterfall of the trace's spans and logs", func(t *testing.T) {
		b.run(t, "search", chromedp.Navigate(s.base+"/traces?service=checkout&status=error&"+rng), ready("traces"))
		b.shot(t, "traces")
		b.run(t, "open the first", click(`table.traces tbody tr:first-child a`), ready("trace"))
		id := eval[string](t, b, `location.pathname.split('/').pop()`)
		tr, err := s.st.GetTrace(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		spans := eval[[]string](t, b, `[...document.querySelectorAll('.wf-row.span')].map(e => e.dataset.span).sort()`)
		entries := eval[int](t, b, `document.querySelectorAll('.wf-row.entry').length`)
		var want []string
		events := 0
		for _, sp := range tr.Spans {
			want = append(want, sp.SpanID)
			events += len(sp.Events)
		}
		slices.Sort(want)
		if !slices.Equal(spans, want) || entries != events+len(tr.Logs) || len(tr.Logs) == 0 {
			t.Errorf("waterfall: spans %v (want %v), %d events and logs (want %d + %d)", spans, want, entries, events, len(tr.Logs))
		}
		b.shot(t, "trace")
	})

	t.Run("a log links to its trace", func(t *testing.T) {
		change := s.Truth.Breakers[0]
		contains := "circuit breaker " + change.Name
		b.run(t, "search logs", chromedp.Navigate(s.base+"/logs?contains="+url.QueryEscape(contains)+"&"+rng), ready("logs"))
		b.shot(t, "logs")
		b.run(t, "follow the first log's trace", click(`table.logs tbody tr:first-child a[href^="/traces/"]`), ready("trace"))
		id := eval[string](t, b, `location.pathname.split('/').pop()`)
		waterfall := text(t, b, `.waterfall`)
		logs, err := s.st.SearchLogs(context.Background(), storage.LogQuery{Contains: contains, From: s.From, To: s.To, Limit: 1})
		if err != nil || len(logs) != 1 {
			t.Fatalf("the newest breaker log: %v %v", logs, err)
		}
		if id != logs[0].TraceID || !strings.Contains(waterfall, logs[0].Body) {
			t.Errorf("the log of trace %s led to %s, whose waterfall lacks %q", logs[0].TraceID, id, logs[0].Body)
		}
	})

	t.Run("links lead from a consumer to its producer and back", func(t *testing.T) {
		consumers, err := s.st.SearchSpans(context.Background(), storage.SpanQuery{Service: "fulfilment", Operation: "process order", From: s.From, To: s.To, Limit: 1})
		if err != nil || len(consumers) != 1 || len(consumers[0].Links) == 0 {
			t.Fatalf("a consumer span with a link: %v %v", consumers, err)
		}
		c := consumers[0]
		b.run(t, "open the consumer's trace and follow its link",
			chromedp.Navigate(s.base+"/traces/"+c.TraceID+"?span="+c.SpanID), ready("trace"),
			click(`.span-detail a[href^="/traces/`+c.Links[0].TraceID+`"]`), ready("trace"))
		at := eval[string](t, b, `location.pathname.split('/').pop()`)
		back := strings.ToLower(text(t, b, `.span-detail`)) // headings are upper case by style
		if at != c.Links[0].TraceID || !strings.Contains(back, "linked from") || !strings.Contains(back, "fulfilment: process order") {
			t.Errorf("the link led to %s (want %s); the producer's span says %q", at, c.Links[0].TraceID, back)
		}
		b.shot(t, "trace-producer")
	})

	t.Run("alerts", func(t *testing.T) {
		b.run(t, "open the alerts", chromedp.Navigate(s.base+"/alerts"), ready("alerts"))
		names := eval[[]string](t, b, `[...document.querySelectorAll('table.alerts tbody tr td:nth-child(2) strong')].map(e => e.textContent)`)
		if !slices.Equal(names, []string{"CheckoutPaymentsErrors", "OrdersQueueDelivery", "GatewayCheckoutP99"}) {
			t.Errorf("alerts %v", names)
		}
		b.shot(t, "alerts")
	})

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page wrote errors to its console:\n%s", strings.Join(errs, "\n"))
	}
}
