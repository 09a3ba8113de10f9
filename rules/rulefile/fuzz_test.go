package rulefile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// FuzzLoad: any input yields diagnostics or rules, never a panic, and rules
// loaded without diagnostics always export to a file Prometheus accepts.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	bad, _ := filepath.Glob("testdata/bad/*.yml")
	for _, p := range append(files, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("groups:\n- name: x\n  rules:\n  - latency: {name: L, edge: a->b, baseline: {offset: 1d}, factor: 2}\n"))
	f.Add([]byte("groups:\n- name: x\n  rules:\n  - ratio: {name: R, numerator: {metric: 'a_total{x=\"1\"}'}, denominator: {sent: q, service: s}, baseline: {window: 1h, offset: 1d}, tolerance: 0.1, by: [instance]}\n"))
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, inline := range []bool{false, true} {
			groups, diags := Load("fuzz.yml", data, Options{Inline: inline})
			if groups == nil {
				t.Fatal("nil groups")
			}
			if len(diags) > 0 {
				continue
			}
			out, err := Export(groups)
			if err != nil {
				t.Fatal(err)
			}
			if _, errs := rulefmt.Parse(out, false, model.UTF8Validation, p, promslog.NewNopLogger()); len(errs) > 0 {
				t.Fatalf("valid input exported to a file Prometheus refuses: %v\ninput:\n%s\nexport:\n%s", errs, data, out)
			}
		}
	})
}
