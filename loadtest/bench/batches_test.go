package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseMetrics(t *testing.T, text string) collectorMetrics {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return collectorMetrics(mf)
}

// The window's figures come from the difference of two scrapes, so what
// the collector did before the window does not count.
func TestBatchStatsWindow(t *testing.T) {
	const tmpl = `# TYPE flowlens_collector_batch_insert_seconds histogram
flowlens_collector_batch_insert_seconds_bucket{kind="spans",le="0.5"} A
flowlens_collector_batch_insert_seconds_bucket{kind="spans",le="1"} B
flowlens_collector_batch_insert_seconds_bucket{kind="spans",le="+Inf"} B
flowlens_collector_batch_insert_seconds_sum{kind="spans"} S
flowlens_collector_batch_insert_seconds_count{kind="spans"} B
# TYPE flowlens_collector_batch_rows histogram
flowlens_collector_batch_rows_bucket{kind="spans",le="+Inf"} B
flowlens_collector_batch_rows_sum{kind="spans"} R
flowlens_collector_batch_rows_count{kind="spans"} B
`
	fill := func(a, b, s, r string) string {
		return strings.NewReplacer(" A\n", " "+a+"\n", " B\n", " "+b+"\n", " S\n", " "+s+"\n", " R\n", " "+r+"\n").Replace(tmpl)
	}
	// Before: 100 fast inserts. Window: 10 more, all between 0.5 and 1 s.
	before := parseMetrics(t, fill("100", "100", "10", "1000"))
	after := parseMetrics(t, fill("100", "110", "17.5", "51000"))
	got := batchStats(before, after)
	if len(got) != 1 || got[0].Kind != "spans" {
		t.Fatalf("stats = %+v, want one for spans", got)
	}
	b := got[0]
	if b.Inserts != 10 || b.RowsPerInsert != 5000 {
		t.Errorf("inserts %v rows each %v, want 10 and 5000", b.Inserts, b.RowsPerInsert)
	}
	if math.Abs(b.InsertP50-0.75) > 1e-9 || b.InsertP99 < 0.99 || b.InsertP99 > 1 {
		t.Errorf("insert p50 %v p99 %v, want 0.75 and about 1", b.InsertP50, b.InsertP99)
	}
}

// A tail beyond the histogram's last finite bucket reads as that bound,
// not as +Inf.
func TestQuantileBeyondLastBucket(t *testing.T) {
	m := parseMetrics(t, `# TYPE flowlens_collector_batch_insert_seconds histogram
flowlens_collector_batch_insert_seconds_bucket{kind="logs",le="0.5"} 9
flowlens_collector_batch_insert_seconds_bucket{kind="logs",le="4"} 9
flowlens_collector_batch_insert_seconds_bucket{kind="logs",le="+Inf"} 10
flowlens_collector_batch_insert_seconds_sum{kind="logs"} 12
flowlens_collector_batch_insert_seconds_count{kind="logs"} 10
`)
	got := batchStats(collectorMetrics{}, m)
	if len(got) != 1 || got[0].InsertP99 != 4 {
		t.Fatalf("stats = %+v, want insert p99 4 (the last finite bound)", got)
	}
}

// The collector logs its metrics listener as a URL (http://host:port):
// the scrape takes it as logged, or the report's batch table is missing.
func TestScrapeCollectorTakesTheLoggedURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE flowlens_collector_batch_rows histogram\nflowlens_collector_batch_rows_bucket{kind=\"spans\",le=\"+Inf\"} 3\nflowlens_collector_batch_rows_sum{kind=\"spans\"} 30\nflowlens_collector_batch_rows_count{kind=\"spans\"} 3\n")
	}))
	defer srv.Close()
	for _, addr := range []string{srv.URL, strings.TrimPrefix(srv.URL, "http://")} {
		m, err := scrapeCollector(context.Background(), addr)
		if err != nil {
			t.Fatalf("scrape %s: %v", addr, err)
		}
		if findHist(m, "flowlens_collector_batch_rows", "spans") == nil {
			t.Errorf("scrape %s: no batch_rows histogram", addr)
		}
	}
}
