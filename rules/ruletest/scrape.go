package ruletest

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/rules/gather"
)

// Scrape appends what g exposes now as samples at offset at, exactly as the
// rules evaluator copies the flow analyzer's registry (rules/gather): a
// histogram becomes _bucket{le}, _sum and _count series, a counter's created
// timestamp a zero sample, and a series that disappeared since the previous
// Scrape of g gets a stale marker. A live registry, such as the flow
// analyzer's fed simulated traffic, can so drive the rules instead of input
// series written by hand. Scrapes must go forward in time.
func (s *Simulation) Scrape(ctx context.Context, g prometheus.Gatherer, at time.Duration) error {
	c, ok := s.scrapers[g]
	if !ok {
		if s.scrapers == nil {
			s.scrapers = map[prometheus.Gatherer]*gather.Copier{}
		}
		c = gather.NewCopier(g, s.db)
		s.scrapers[g] = c
	}
	if _, err := c.Copy(ctx, Epoch.Add(at).UnixMilli()); err != nil {
		return fmt.Errorf("scrape at %s: %w", at, err)
	}
	return nil
}
