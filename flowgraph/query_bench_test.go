package flowgraph

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/storetest"
)

func indexSums(col string, n int) string {
	var parts []string
	for i := 1; i <= n; i++ {
		parts = append(parts, fmt.Sprintf("sum(%s[%d])", col, i))
	}
	return strings.Join(parts, ", ")
}

// BenchmarkGraphQuery24h: the graph of a 24 h range over rollups of 200
// services and 2,000 edges, one row per edge per minute (2.88M rows), through
// storage.QueryEdges on the embedded engine and api.BuildGraph. One op = one
// graph.
func BenchmarkGraphQuery24h(b *testing.B) {
	st := storetest.Migrated(b)
	ctx := context.Background()
	const services, edgesN, minutes = 200, 2000, 24 * 60
	end := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	start := end.Add(-minutes * time.Minute)
	r := rand.New(rand.NewPCG(1, 1))
	type pair struct{ c, s string }
	pairs := make([]pair, 0, edgesN)
	seen := map[pair]bool{}
	for len(pairs) < edgesN {
		p := pair{fmt.Sprintf("svc-%03d", r.IntN(services)), fmt.Sprintf("svc-%03d", r.IntN(services))}
		if p.c == p.s || seen[p] {
			continue
		}
		seen[p] = true
		pairs = append(pairs, p)
	}
	hist := func(bounds []time.Duration) flowmodel.Histogram {
		h := flowmodel.NewHistogram(bounds)
		for i := range h.Counts {
			h.Counts[i] = uint64(r.IntN(20))
		}
		h.Sum = float64(r.IntN(100))
		return h
	}
	t0 := time.Now()
	rows := make([]flowmodel.EdgeRollup, 0, 60*edgesN)
	for m := 0; m < minutes; m++ {
		for _, p := range pairs {
			rows = append(rows, flowmodel.EdgeRollup{Bucket: start.Add(time.Duration(m) * time.Minute), Client: p.c, Server: p.s,
				Requests: 100, Failed: uint64(r.IntN(3)), ServerLatency: hist(flowmodel.LatencyBounds), ClientLatency: hist(flowmodel.LatencyBounds),
				Retries: uint64(r.IntN(2))})
		}
		if len(rows) >= 60*edgesN || m == minutes-1 {
			if err := st.InsertEdgeRollups(ctx, rows, ""); err != nil {
				b.Fatalf("insert: %v", err)
			}
			rows = rows[:0]
		}
	}
	b.Logf("inserted %d rows in %v", minutes*edgesN, time.Since(t0))
	h := api.New(api.Options{Store: st})
	from, to := start.Format(time.RFC3339), end.Format(time.RFC3339)
	b.Run("graph", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			g, err := h.Graph(ctx, from, to, "")
			if err != nil {
				b.Fatal(err)
			}
			if len(g.Edges) != edgesN {
				b.Fatalf("%d edges", len(g.Edges))
			}
		}
	})
	if os.Getenv("FLOWGRAPH_QUERY_VARIANTS") == "" {
		return
	}
	tbl := "`" + st.Database() + "`.flow_edges"
	for name, q := range map[string]string{
		"counters-only":      `SELECT Client, Server, ConnectionType, sum(Requests), sum(Failed) FROM ` + tbl + ` GROUP BY Client, Server, ConnectionType`,
		"one-array":          `SELECT Client, Server, ConnectionType, sum(Requests), sumForEach(ServerLatencyBuckets) FROM ` + tbl + ` GROUP BY Client, Server, ConnectionType`,
		"count":              `SELECT count() FROM ` + tbl + ``,
		"one-array-by-index": `SELECT Client, Server, ConnectionType, sum(Requests), ` + indexSums("ServerLatencyBuckets", len(flowmodel.LatencyBounds)+1) + ` FROM ` + tbl + ` GROUP BY Client, Server, ConnectionType`,
		"one-array-sumMap":   `SELECT Client, Server, ConnectionType, sum(Requests), sumMap(arrayEnumerate(ServerLatencyBuckets), ServerLatencyBuckets) FROM ` + tbl + ` GROUP BY Client, Server, ConnectionType`,
	} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rows, err := st.Conn().Query(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
			}
		})
	}
}
