package rulefile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var knownServices = []string{"gateway", "checkout", "payments", "billing", "orders"}

func TestLoadValidFileExportsPlainPrometheusRules(t *testing.T) {
	groups, diags := LoadFile("testdata/flows.yml", Options{KnownServices: knownServices})
	if len(diags) > 0 {
		t.Fatalf("diagnostics on a valid file:\n%v", diags)
	}
	out, err := Export(groups)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RULEFILE_DUMP") != "" {
		t.Logf("\n%s", out)
	}
	// what we export is what Prometheus itself accepts, unknown fields refused
	back, errs := rulefmt.Parse(out, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	if len(errs) > 0 {
		t.Fatalf("Prometheus refuses the export: %v\n%s", errs, out)
	}
	var alerts, records int
	for _, g := range back.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
			} else {
				records++
			}
		}
	}
	// 7 shorthands (+1 flapping alert) and 2 plain rules
	if alerts != 9 {
		t.Errorf("alerts = %d, want 9", alerts)
	}
	if records < 10 {
		t.Errorf("records = %d, want the shorthands' recording rules too", records)
	}
	if !strings.Contains(string(out), "flowlens:payments_per_checkout:ratio") {
		t.Errorf("export lacks the recorded ratio:\n%s", out)
	}
}

func TestInlineCompilationHasNoRecordingRules(t *testing.T) {
	groups, diags := LoadFile("testdata/flows.yml", Options{Inline: true})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var records []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records = append(records, r.Record)
			}
			if r.Alert != "" && strings.Contains(r.Expr, RecordPrefix) {
				t.Errorf("inline alert %s refers to a recorded series: %s", r.Alert, r.Expr)
			}
		}
	}
	// only the file's own plain recording rule: no shorthand emitted one
	if want := []string{"flowlens:edges:count"}; !slices.Equal(records, want) {
		t.Errorf("inline mode recording rules %q, want only the file's own %q", records, want)
	}
}

// Bad files: every problem is reported with its line and what is wrong, and
// the valid rules of the same file survive.
func TestBadFiles(t *testing.T) {
	cases := []struct {
		file      string
		want      []string // "line: substring"
		survivors int      // rules still produced
	}{
		{"syntax.yml", []string{"3: YAML syntax: did not find expected"}, 0},
		{"unknown_key.yml", []string{`6: unknown key "severity"`, `13: unknown key "tolerence"`}, 0},
		{"unknown_edge.yml", []string{`6: rule "PaymentsPerCheckout": unknown server service "paymnets"`}, 4},
		{"identical.yml", []string{`7: rule "Same": ratio over identical series`}, 0},
		{"negative_tolerance.yml", []string{`9: rule "Neg": tolerance: must not be negative`}, 0},
		{"quantile.yml", []string{`7: rule "Q": quantile: must be between 0 and 1`}, 0},
		{"promql.yml", []string{`7: group "g": rule "Broken": could not parse expression`, `8: group "g": rule "bad{name}": braces present`}, 1},
		{"min_rate.yml", []string{`7: rule "E": min_rate: must not be negative`, `10: rule "B": state: "ajar" is not one of`}, 0},
		{"conformance.yml", []string{`6: rule "A": logs: "traceid" is not one of service_name, instance, timestamp, severity, trace_id`,
			`9: rule "B": conformance: give logs`, `12: rule "B": target: a share above 0 and at most 1, got 1.5`, `13: rule "B": by: a conformance rule is always per service`}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tc.file)
			groups, diags := LoadFile(path, Options{KnownServices: knownServices})
			if len(diags) == 0 {
				t.Fatal("no diagnostics")
			}
			got := diags.Error()
			for _, w := range tc.want {
				line, sub, _ := strings.Cut(w, ": ")
				if !strings.Contains(got, path+":"+line+":") || !strings.Contains(got, sub) {
					t.Errorf("want %s:%s: ...%s..., got:\n%s", path, line, sub, got)
				}
			}
			n := 0
			for _, g := range groups.Groups {
				n += len(g.Rules)
			}
			if n != tc.survivors {
				t.Errorf("%d rules survive, want %d", n, tc.survivors)
			}
		})
	}
}
