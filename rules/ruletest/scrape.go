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

// Play drives the rules with a live system for d, as the evaluator does:
// every scrape interval it runs the system up to that offset (run) and
// Scrapes g, and at every EvalInterval it Steps and calls evaluated. scrape
// must divide EvalInterval.
func (s *Simulation) Play(ctx context.Context, d, scrape time.Duration, g prometheus.Gatherer,
	run func(at time.Duration) error, evaluated func(at time.Duration)) error {
	for at := scrape; at <= d; at += scrape {
		if err := run(at); err != nil {
			return err
		}
		if err := s.Scrape(ctx, g, at); err != nil {
			return err
		}
		if at%s.cfg.EvalInterval != 0 {
			continue
		}
		if err := s.Step(ctx, at); err != nil {
			return err
		}
		evaluated(at)
	}
	return nil
}
