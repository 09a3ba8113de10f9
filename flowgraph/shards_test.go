package flowgraph

import (
	"testing"
	"time"
)

// A consumer's trace arrives on another partition (another shard) than its
// producer's trace: the link still pairs them, within one analyzer.
func TestLinksPairAcrossShards(t *testing.T) {
	cfg := testConfig()
	cfg.Shards = 4
	a := NewAnalyzer(cfg)
	tp := topology{Traces: 200, DropEvery: 10, Retries: 3}
	base := testBase
	now := base
	for i := 0; i < tp.Traces; i++ {
		spans := tp.traceSpans(base, i, nil)
		var own, other []genSpan
		for _, s := range spans {
			if s.trace == traceID(i, 1) {
				own = append(own, s)
			} else {
				other = append(other, s)
			}
		}
		// the consumer's trace first, on "partition" i+1: a different shard
		if len(other) > 0 {
			a.ConsumeTraces(i+1, toTraces(other), now)
		}
		a.ConsumeTraces(i, toTraces(own), now)
		now = now.Add(time.Millisecond)
	}
	a.Tick(now.Add(time.Minute))
	got := edgeMap(a)
	for k, w := range tp.expected() {
		if got[k] != w {
			t.Errorf("edge %s: got %+v, want %+v", k, got[k], w)
		}
	}
}
