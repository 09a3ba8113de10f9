package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/flowlens/flowlens/internal/config"
)

// ScrapeGatherer is a prometheus.Gatherer that reads another process's
// /metrics page, for running the evaluator outside the flow analyzer's
// process. It asks for the Prometheus protobuf format first, the one that
// carries the counters' created timestamps (see copier), and reads the text
// format from servers that offer nothing else.
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
	// errors name the target by scheme and host: its URL may hold a
	// password or a token
	target := config.RedactURL(s.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", target, config.RedactURLError(err))
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", target, config.RedactURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", target, resp.Status, b)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("scrape %s: parse: %w", target, err)
		}
		out = append(out, mf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// acceptHeader prefers delimited protobuf, as Prometheus does with
// created-timestamp-zero-ingestion on.
var acceptHeader = string(expfmt.FmtProtoDelim) + ";q=0.9," + string(expfmt.FmtText) + ";q=0.5"
