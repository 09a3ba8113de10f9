package collector_test

import (
	"testing"
	"time"
)

func TestEveryProducedSpanAndLogIsStoredOnce(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	const nSpans, nLogs = 20000, 5000
	produceSpans(t, b.Addrs(), 0, nSpans/2, 500)
	produceLogs(t, b.Addrs(), 0, nLogs, 250)
	startCollector(t, collectorConfig(b.Addrs()), st)
	produceSpans(t, b.Addrs(), nSpans/2, nSpans/2, 500) // while it runs
	waitExactly(t, st, spanCounts, nSpans, time.Minute)
	waitExactly(t, st, logCounts, nLogs, time.Minute)
}
