package pairing

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/edges"
	"github.com/flowlens/flowlens/flowgraph/extract"
	"github.com/flowlens/flowlens/flowgraph/intern"
)

// cpuTime is the process's user+system CPU time (spans per CPU-second is
// the per-core figure on a machine shared with other work).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSpans makes n spans forming n/2 client/server pairs over the given
// services and edges (edges/services distinct servers per client),
// interleaved so the server of pair i arrives a few pairs after its client.
func benchSpans(t *intern.Table, n, services, edgesN int) []extract.Span {
	svc := make([]intern.ID, services)
	for i := range svc {
		svc[i] = t.ID(fmt.Sprintf("svc-%03d", i))
	}
	out := make([]extract.Span, 0, n)
	for i := 0; i < n/2; i++ {
		var tr extract.TraceID
		binary.LittleEndian.PutUint64(tr[:], uint64(i)*0x9E3779B97F4A7C15+1)
		binary.LittleEndian.PutUint64(tr[8:], uint64(i))
		var cid, sid extract.SpanID
		binary.LittleEndian.PutUint64(cid[:], uint64(2*i+1))
		binary.LittleEndian.PutUint64(sid[:], uint64(2*i+2))
		base := int64(i) * 1000
		e := (i * 7) % edgesN // edge e: client e%services, server 1+e/services further on
		client, server := e%services, (e%services+1+e/services)%services
		out = append(out,
			extract.Span{TraceID: tr, SpanID: cid, ParentID: extract.SpanID{1}, Kind: extract.KindClient,
				Service: svc[client], StartNs: base, EndNs: base + 3e6, Error: i%50 == 0},
			extract.Span{TraceID: tr, SpanID: sid, ParentID: cid, Kind: extract.KindServer,
				Service: svc[server], StartNs: base + 1e5, EndNs: base + 2e6})
	}
	// move each server 4 spans later: out of order relative to other pairs
	for i := 1; i+8 < len(out); i += 10 {
		out[i], out[i+8] = out[i+8], out[i]
	}
	return out
}

// BenchmarkStoreAdd is the pairing hot path with aggregation, decode
// excluded: compact spans in, edge counters and histograms updated. The
// sub-benchmark names the services and edges the pairs fall on.
func BenchmarkStoreAdd(b *testing.B) {
	for _, shape := range []struct{ services, edges int }{{20, 20}, {200, 2000}} {
		b.Run(fmt.Sprintf("services=%d/edges=%d", shape.services, shape.edges), func(b *testing.B) {
			names := intern.NewTable(0)
			spans := benchSpans(names, 1<<16, shape.services, shape.edges)
			agg := edges.NewAggregator(edges.Config{BucketNs: 60e9, MaxLatenessNs: 1 << 62, MaxFutureNs: 1 << 62}, names)
			st := New(Config{Wait: time.Second, MaxItems: 1 << 15}, names, agg)
			now := int64(1)
			// warm up: every edge and bucket exists
			for i := range spans {
				st.Add(&spans[i], now)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				j := i & (len(spans) - 1)
				if j == 0 {
					now += int64(2 * time.Second) // everything waiting expires: steady state
					st.Expire(now)
				}
				st.Add(&spans[j], now)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu, "spans/cpu-s")
			}
			b.ReportMetric(float64(agg.Len()), "edges")
			out := st.Stats().Outcomes
			if out[OutcomePaired] == 0 || out[OutcomeEvicted] != 0 {
				b.Fatalf("benchmark does not pair: %v", out)
			}
		})
	}
}
