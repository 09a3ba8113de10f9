package collector_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlens/flowlens/internal/polltest"
)

// With many partitions an insert still holds batch.max_rows rows: a batch
// takes what every partition has, instead of each partition cutting its own
// small one (6 partitions used to mean inserts of a sixth of the size, and
// about twice the engine's CPU per span).
func TestInsertsSpanPartitions(t *testing.T) {
	const partitions, n = 6, 30000
	b := startBroker(t, partitions)
	st := openStore(t, "", "")
	produceSpans(t, b.Addrs(), 0, n, 500)
	cfg := collectorConfig(b.Addrs())
	cfg.Batch.MaxRows = 10000
	cfg.Batch.MaxAge = 5 * time.Second // cut by size
	reg := prometheus.NewRegistry()
	startCollectorWithRegistry(t, cfg, st, reg)
	waitExactly(t, st, spanCounts, n, time.Minute)
	inserts, rows := histogram(reg, "flowlens_collector_batch_rows")
	_, parts := histogram(reg, "flowlens_collector_batch_partitions")
	t.Logf("%.0f inserts, %.0f rows, %.1f partitions per insert", inserts, rows, parts/inserts)
	if perPartition := n / partitions; rows/inserts <= float64(perPartition) {
		t.Errorf("%.0f inserts of %.0f rows on average: no more than one partition holds (%d); want inserts of up to %d rows across partitions",
			inserts, rows/inserts, perPartition, cfg.Batch.MaxRows)
	}
}

// Exactly once with batches that span partitions, while the group changes
// under them: a collector whose inserts start failing (half of them stored
// anyway) is stopped abruptly with batches pending on all its partitions;
// its partitions go to several others, each of which owns only part of a
// pending batch and must store it whole, once; then one of those is
// SIGKILLed and replaced, so rebalances happen mid-batch too.
func TestExactlyOnceAcrossPartitionsCollectorsKillsAndRebalances(t *testing.T) {
	for _, tc := range []struct{ partitions, collectors int }{{6, 2}, {12, 3}} {
		t.Run(fmt.Sprintf("%d partitions, %d collectors", tc.partitions, tc.collectors), func(t *testing.T) {
			exactlyOnceUnderChurn(t, tc.partitions, tc.collectors)
		})
	}
}

func exactlyOnceUnderChurn(t *testing.T, partitions, collectors int) {
	b := startBroker(t, partitions)
	st := openStore(t, "", "")
	const nSpans, nLogs = 40000, 8000
	produceSpans(t, b.Addrs(), 0, nSpans/2, 500)
	produceLogs(t, b.Addrs(), 0, nLogs/2, 100)

	// The first collector owns every partition: its batches span them all.
	dying := &diesAfterStoring{Store: st, healthy: 3, died: make(chan struct{})}
	c1 := dying.startUntilDead(t, collectorConfig(b.Addrs()), "the first collector never stored anything")

	// The others join while its inserts fail: a rebalance mid-batch.
	reg := prometheus.NewRegistry()
	startCollectorWithRegistry(t, collectorConfig(b.Addrs()), st, reg)
	var children []*exec.Cmd
	for i := 1; i < collectors; i++ {
		children = append(children, startChildProcess(t, b.Addrs(), chAddr(t), st.Database(), "CHILD_MAX_ROWS=2000"))
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produceSpans(t, b.Addrs(), nSpans/2, nSpans/2, 500)
		produceLogs(t, b.Addrs(), nLogs/2, nLogs/2, 100)
	}()
	polltest.Until(t, "the successor to get partitions", time.Minute, func() bool {
		return gauge(reg, "flowlens_collector_assigned_partitions") > 0
	})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c1.Shutdown(canceled) // abrupt: no flush, no commit; its batches stay pending
	partial := spanCounts(t, st)
	t.Logf("the failing collector left with %v spans stored", partial)

	polltest.Until(t, "more spans stored by the others", 2*time.Minute, func() bool { return spanCounts(t, st).rows > partial.rows })
	if err := children[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = children[0].Wait()
	t.Logf("SIGKILLed a collector at %v spans stored", spanCounts(t, st))
	startChildProcess(t, b.Addrs(), chAddr(t), st.Database(), "CHILD_MAX_ROWS=2000")
	<-produced
	waitExactly(t, st, spanCounts, nSpans, 3*time.Minute)
	waitExactly(t, st, logCounts, nLogs, time.Minute)
	rebuilt := mustCounter(t, reg, "flowlens_collector_pending_batches_total", "rebuilt")
	already := mustCounter(t, reg, "flowlens_collector_pending_batches_total", "already_stored")
	t.Logf("pending batches resolved by the in-process successor: rebuilt %v, already stored %v", testutil.ToFloat64(rebuilt), testutil.ToFloat64(already))
}

// A pending batch found on one partition is committed only on the
// partitions whose marker still names it: a successor that owned another of
// its partitions meanwhile, and moved that one on, must not rewind it (it
// used to: everything that partition stored since was stored again).
func TestPendingBatchDoesNotRewindPartitionsThatMovedOn(t *testing.T) {
	b := startBroker(t, 6)
	st := openStore(t, "", "")
	const n = 20000
	produceSpans(t, b.Addrs(), 0, n, 500)
	// The failing batch holds partitions of both halves of the topic, so
	// that the successor, which the range assignor gives one half, always
	// owns some of it. (Left to the feeds' timing, a batch on a loaded
	// machine sometimes held one half only, and a successor given the other
	// never saw it pending.)
	dying := &diesAfterStoring{Store: st, healthy: 3, died: make(chan struct{}), dieOn: func(token string) bool {
		low, high := false, false
		for _, p := range tokenPartitions(t, token) {
			low, high = low || p < 3, high || p >= 3
		}
		return low && high
	}}
	c1 := dying.startUntilDead(t, collectorConfig(b.Addrs()), "no batch held partitions of both halves of the topic")
	// The successor gets half the partitions, among them some of the
	// pending batch's, rebuilds it and moves them on; the failing one keeps
	// the others, pending.
	reg := prometheus.NewRegistry()
	startCollectorWithRegistry(t, collectorConfig(b.Addrs()), st, reg)
	polltest.Until(t, "the successor to rebuild the pending batch and store more", time.Minute, func() bool {
		stored, _ := histogram(reg, "flowlens_collector_batch_rows")
		return gauge(reg, "flowlens_collector_pending_batches_total") > 0 && stored > 1
	})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c1.Shutdown(canceled) // the successor now finds the batch pending on the failing one's partitions
	waitExactly(t, st, spanCounts, n, 2*time.Minute)
}

// tokenPartitions are the partitions a batch's deduplication token names
// (flowlens:<topic>:<partition>:<first>-<last>,...).
func tokenPartitions(t testing.TB, token string) []int {
	t.Helper()
	rest, ok := strings.CutPrefix(token, "flowlens:")
	if !ok {
		t.Fatalf("token %q: not a collector batch's", token)
	}
	_, ranges, ok := strings.Cut(rest, ":")
	if !ok {
		t.Fatalf("token %q: no partitions", token)
	}
	var parts []int
	for _, r := range strings.Split(ranges, ",") {
		p, _, _ := strings.Cut(r, ":")
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("token %q: partition %q: %v", token, p, err)
		}
		parts = append(parts, n)
	}
	return parts
}
