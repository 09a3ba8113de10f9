package console_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flowlens/flowlens/console"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/storeload"
)

// BenchmarkFirstRender opens the map of 50 services and 300 edges and the
// waterfall of a 500-span trace (with a log in every span) in headless
// Chromium, a fresh page load each time, and reports the time from the
// navigation's start to the view rendered (ready-ms: the page's own load,
// the API's answers and the drawing) and the drawing alone, from the
// answers in hand (draw-ms). Run on an idle machine:
//
//	make console
//	go test ./console -run '^$' -bench FirstRender -benchtime 10x -count 3
func BenchmarkFirstRender(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := storetest.Config(b)
	st := storetest.Open(b, cfg)
	end := time.Now().UTC().Truncate(time.Minute)
	if err := storeload.SyntheticEdgesAmong(ctx, st, 50, 300, end, time.Hour); err != nil {
		b.Fatal(err)
	}
	trace, err := storeload.SyntheticTrace(ctx, st, 500, end.Add(-10*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	reader, err := readerStore(b, cfg)
	if err != nil {
		b.Fatal(err)
	}
	c, err := console.New(console.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}}, console.Settings{Store: reader})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	br := newBrowser(b)
	for _, v := range []struct{ name, path, view, measure, shot string }{
		{"map/services=50/edges=300", "/map?from=now-1h", "map", "map-render", "map-50-services"},
		{"trace/spans=500", "/traces/" + trace, "trace", "trace-render", "trace-500-spans"},
	} {
		b.Run(v.name, func(b *testing.B) {
			var readyMs, drawMs float64
			for i := 0; i < b.N; i++ {
				br.run(b, "open "+v.path, chromedp.Navigate(c.URL()+v.path), ready(v.view))
				readyMs += eval[float64](b, br, `performance.getEntriesByName('view-ready').at(-1).startTime`)
				drawMs += eval[float64](b, br, fmt.Sprintf(`performance.getEntriesByName(%q).at(-1).duration`, v.measure))
			}
			br.shot(b, v.shot)
			b.ReportMetric(readyMs/float64(b.N), "ready-ms")
			b.ReportMetric(drawMs/float64(b.N), "draw-ms")
		})
	}
}
