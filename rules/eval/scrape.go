package eval

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ScrapeGatherer is a prometheus.Gatherer that reads another process's
// /metrics page (text format), for running the evaluator outside the flow
// analyzer's process.
type ScrapeGatherer struct {
	URL     string
	Client  *http.Client // nil: a client with a 10s timeout
	Context context.Context
}

// Gather implements prometheus.Gatherer.
func (s ScrapeGatherer) Gather() ([]*dto.MetricFamily, error) {
	ctx := s.Context
	if ctx == nil {
		ctx = context.Background()
	}
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.URL, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", s.URL, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: parse: %w", s.URL, err)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, n := range names {
		out = append(out, fams[n])
	}
	return out, nil
}
