package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/storage"
)

// load plays a topology into the CLI's database: a minute at 20
// requests a second, ending 5 minutes ago.
func (c *storageCLI) load(topology string) *gen.Truth {
	c.t.Helper()
	return c.store(storeload.Options{Topology: topology, Rate: 20, Duration: time.Minute, Seed: 3, Start: time.Now().Add(-6 * time.Minute)})
}

// store plays opts into the CLI's database.
func (c *storageCLI) store(opts storeload.Options) *gen.Truth {
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
	res, err := storeload.Load(ctx, st, opts)
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
	toGeo := tr.Edge(gen.EdgeKey{Client: "front", Server: "geo-api", ConnectionType: flowmodel.ConnectionVirtual}).Requests
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

// `flowlens rules suggest` writes a rule file `flowlens rules check`
// accepts, and says on stderr which flows get no rule and why.
func TestRulesSuggestCommand(t *testing.T) {
	c := newStorageCLI(t)
	c.store(storeload.Options{Topology: "../../rules/suggest/testdata/ratios.yaml", Rate: 2, Duration: 2 * time.Hour, Seed: 5,
		Start: time.Now().Add(-130 * time.Minute), History: true})
	file := filepath.Join(t.TempDir(), "suggested.yml")
	out, errOut, err := c.run("rules", "suggest", "--since", "3h", "--out", file)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "front->rare per request into front: too little traffic") {
		t.Errorf("stderr does not say why front->rare has no rule:\n%s", errOut)
	}
	if out, errOut, err := c.run("rules", "check", file); err != nil || !strings.Contains(out, "OK") {
		b, _ := os.ReadFile(file)
		t.Errorf("rules check of the suggestions: %v\n%s%s\n%s", err, out, errOut, b)
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "name: FrontToFanPerRequest") {
		t.Errorf("no rule for the fan-out:\n%s", b)
	}
}

// `flowlens services` lists the shop's services and nodes, `flowlens
// services NAME` says what one does, and --compare-to what changed.
func TestServicesCommand(t *testing.T) {
	c := newStorageCLI(t)
	now := time.Now()
	c.store(storeload.Options{Rate: 20, Duration: time.Minute, Seed: 1, Start: now.Add(-50 * time.Minute)})
	c.store(storeload.Options{Topology: "../../catalog/testdata/shop-changed.yaml", Rate: 20, Duration: time.Minute, Seed: 2, Start: now.Add(-10 * time.Minute)})
	out := c.mustRun("services", "--since", "15m")
	for _, want := range []string{"payments          service", "postgres          database", "payment-provider  external"} {
		if !strings.Contains(out, want) {
			t.Errorf("the list lacks %q:\n%s", want, out)
		}
	}
	out = c.mustRun("services", "checkout", "--since", "15m", "--compare-to", "40m")
	for _, want := range []string{
		"checkout (service)",
		"POST /orders (server, http): ",
		"; called by gateway ",
		"fulfilment (messages via orders, kafka): ",
		"orders (kafka): produces",
		"checkout: new call shipping (via order-events)",
		"checkout: new topic order-events (produces)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("checkout's entry lacks %q:\n%s", want, out)
		}
	}
	if changes := out[strings.Index(out, "changes since"):]; strings.Count(changes, "\n") != 3 {
		t.Errorf("checkout's changes are its new call and topic, no more:\n%s", changes)
	}
}
