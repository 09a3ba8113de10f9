package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

// load plays a topology into the CLI's database: a minute at 20
// requests a second, ending 5 minutes ago.
func (c *storageCLI) load(topology string) *gen.Truth {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := storage.Config{Addr: c.addr, Database: c.db}
	cfg.Username, cfg.Password = chtest.Admin(c.t)
	st, err := storeload.OpenMigrated(ctx, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	res, err := storeload.Load(ctx, st, storeload.Options{Topology: topology, Rate: 20, Duration: time.Minute,
		Seed: 3, Start: time.Now().Add(-6 * time.Minute)})
	if err != nil {
		c.t.Fatal(err)
	}
	return res.Truth
}

// `flowlens conformance` marks what falls below the target and names the
// peer of the calls recorded on one side only.
func TestConformanceCommand(t *testing.T) {
	c := newStorageCLI(t)
	tr := c.load("../../conformance/testdata/policy.yaml")
	toGeo := tr.Edge(gen.EdgeKey{Client: "front", Server: "geo-api", ConnectionType: gen.ConnVirtual}).Requests
	out := c.mustRun("conformance", "--since", "15m")
	lines := strings.Split(out, "\n")
	row := func(svc string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == svc {
				return f
			}
		}
		t.Fatalf("no row for %s in:\n%s", svc, out)
		return nil
	}
	// orders: trace IDs marked; front: calls made marked
	if r := strings.Join(row("orders"), " "); !strings.Contains(r, "100.0% 100.0% 100.0%") || strings.Count(r, "✗") != 1 {
		t.Errorf("orders' row %q: want its service name, instance and severity at 100%% and its trace IDs marked", r)
	}
	if r := strings.Join(row("front"), " "); strings.Count(r, "✗") != 1 {
		t.Errorf("front's row %q: want only its calls made marked", r)
	}
	want := "front → geo-api: " + fmt.Sprint(toGeo) + " calls: geo-api records nothing: an uninstrumented peer"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
