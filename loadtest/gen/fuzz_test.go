package gen

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/topology"
)

// FuzzTopology: whatever topology validates, the generator runs without
// panicking and its truth adds up.
func FuzzTopology(f *testing.F) {
	f.Add(topology.ShopYAML())
	files, _ := filepath.Glob("../topology/testdata/*.yaml")
	bad, _ := filepath.Glob("../topology/testdata/bad/*.yaml")
	for _, p := range append(files, bad...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := topology.Parse(data)
		if err != nil {
			return
		}
		g, err := New(top, discard{}, &nullLogs{}, Options{Rate: 10, Count: 3, Seed: 1, Start: testStart, LogsPerSpan: 2})
		if err != nil {
			t.Fatalf("valid topology refused by the generator: %v", err)
		}
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr := g.Truth()
		var byService uint64
		for _, n := range tr.SpansByService {
			byService += n
		}
		if tr.Requests != 3 || byService != tr.Spans || tr.Logs < 2*tr.Spans {
			t.Fatalf("truth does not add up: %+v", tr)
		}
		if root := tr.Edge(EdgeKey{User, top.Entry.Service, flowmodel.ConnectionUnset, ""}); root.Requests != 3 {
			t.Fatalf("root edge %+v", root)
		}
	})
}
