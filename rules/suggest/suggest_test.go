package suggest_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/oncetest"
	"github.com/flowlens/flowlens/loadtest"
	"github.com/flowlens/flowlens/loadtest/flowsim"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/query"
	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/rules/ruletest"
	"github.com/flowlens/flowlens/rules/suggest"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

const (
	system = "testdata/ratios.yaml"
	rate   = 2 // requests per second into front
)

// suggested is what `flowlens rules suggest` drafts from six hours of
// testdata/ratios.yaml that ended an hour ago (rollups only, as a
// retention that keeps them longer than spans leaves them), followed by a
// minute of it stored whole a few minutes ago (spans name the queues).
type suggested struct {
	res  suggest.Result
	file string // the rule file
	top  *gen.Truth
}

var history oncetest.Value[*suggested]

func theHistory(t *testing.T) *suggested {
	t.Helper()
	return history.Get(t, "history fixture", func() (*suggested, error) { return suggestFromHistory(t) })
}

func suggestFromHistory(t *testing.T) (*suggested, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	st, err := storeload.OpenMigrated(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	now := time.Now().UTC()
	start := now.Truncate(time.Hour).Add(-7 * time.Hour)
	res, err := storeload.Load(ctx, st, storeload.Options{Topology: system, Rate: rate, Duration: 6 * time.Hour, Seed: 1, Start: start, History: true})
	if err != nil {
		return nil, err
	}
	if _, err := storeload.Load(ctx, st, storeload.Options{Topology: system, Rate: rate, Duration: time.Minute, Seed: 2,
		Start: now.Add(-8 * time.Minute), LogsPerSpan: -1}); err != nil {
		return nil, err
	}
	r, err := query.Reader{Store: st}.SuggestRules(ctx, query.SuggestRequest{From: start, To: now})
	if err != nil {
		return nil, err
	}
	b, err := r.RuleFile()
	if err != nil {
		return nil, err
	}
	file := filepath.Join(os.TempDir(), "flowlens-suggested-"+filepath.Base(cfg.Database)+".yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return nil, err
	}
	return &suggested{res: r, file: file, top: res.Truth}, nil
}

func (s *suggested) ratio(t *testing.T, num, den string) (suggest.Suggestion, bool) {
	t.Helper()
	for _, r := range s.res.Ratios {
		if r.Numerator.String() == num && r.Denominator.String() == den {
			return r, true
		}
	}
	return suggest.Suggestion{}, false
}

// The suggestions recover the ratios the system was designed with, each
// within the noise of its mean over the history's windows.
func TestSuggestionsRecoverTheDesignedRatios(t *testing.T) {
	s := theHistory(t)
	designed := map[[2]string]float64{}
	for _, e := range s.top.Expected {
		designed[[2]string{e.Client, e.Server}] = e.PerRequest
	}
	for _, c := range []struct {
		what, num, den string
		want           float64
	}{
		{"1:1", "front->one", "*->front", designed[[2]string{"front", "one"}]},
		{"1:3", "front->third", "*->front", designed[[2]string{"front", "third"}]},
		{"fan-out", "front->fan", "*->front", designed[[2]string{"front", "fan"}]},
		{"a queue losing 2 %", "messages worker received from jobs", "messages front sent to jobs", 0.98},
	} {
		r, ok := s.ratio(t, c.num, c.den)
		if !ok {
			t.Errorf("%s: no rule for %s per %s; suggested %v; skipped %v", c.what, c.num, c.den, s.res.Ratios, s.res.Skipped)
			continue
		}
		noise := 4 * r.Spread / math.Sqrt(float64(r.Windows))
		if math.Abs(r.Expected-c.want) > noise || r.Tolerance < math.Abs(r.Expected-c.want) || r.Windows < 70 {
			t.Errorf("%s: expected %g ± %g over %d windows, designed %g (the mean's noise %g)", c.what, r.Expected, r.Tolerance, r.Windows, c.want, noise)
		}
		t.Logf("%s: %s per %s = %g ± %g (designed %.4g; spread %.3g over %d windows)", c.what, c.num, c.den, r.Expected, r.Tolerance, c.want, r.Spread, r.Windows)
	}
	if !slices.ContainsFunc(s.res.Latency, func(l suggest.Suggestion) bool { return l.Client == "front" && l.Server == "one" }) {
		t.Errorf("no latency rule for front->one: %v", s.res.Latency)
	}
}

// A pair that is unstable, or too quiet to judge, gets no rule; the
// result says why.
func TestUnstableAndQuietPairsGetNoRule(t *testing.T) {
	s := theHistory(t)
	for _, r := range append(slices.Clone(s.res.Ratios), s.res.Latency...) {
		for _, f := range []*suggest.Flow{r.Numerator, r.Denominator} {
			if f != nil && (strings.Contains(f.String(), "rare") || strings.Contains(f.String(), "stats") || strings.Contains(f.String(), "events")) {
				t.Errorf("rule %s watches %s", r.Name, f)
			}
		}
		if r.Server == "rare" {
			t.Errorf("latency rule %s for front->rare", r.Name)
		}
	}
	reasons := map[string]string{}
	for _, sk := range s.res.Skipped {
		reasons[sk.What] = sk.Reason
	}
	for what, why := range map[string]string{
		"front->rare per request into front":              "too little traffic",
		"p99 latency of front->rare":                      "too little traffic",
		"messages stats received per message front sent":  "unstable",
		"messages worker received per message front sent": "",
		"front->one per request into front":               "",
	} {
		if reasons[what] != why {
			t.Errorf("%s: skipped as %q, want %q", what, reasons[what], why)
		}
	}
}

// The draft is a valid rule file: `flowlens rules check` finds nothing.
func TestSuggestedFileLoads(t *testing.T) {
	s := theHistory(t)
	groups, diags := rulefile.LoadFile(s.file, rulefile.Options{})
	if len(diags) > 0 {
		b, _ := os.ReadFile(s.file)
		t.Fatalf("%v\n%s", diags, b)
	}
	if len(groups.Groups) != 2 {
		t.Errorf("%d groups", len(groups.Groups))
	}
	b, _ := os.ReadFile(s.file)
	t.Logf("\n%s", b)
}

// The suggested rules, evaluated on the next day's traffic: silent while
// the system is as it was, and each fires when the fault it watches for
// is injected, not before. (The evaluator starts with the system: until a
// first rate window is full, a ratio of a few dozen calls may waver into
// pending; it never fires.)
func TestSuggestedRulesOnTheNextDay(t *testing.T) {
	s := theHistory(t)
	t.Run("healthy", func(t *testing.T) {
		active := play(t, s.file, "", 3*time.Hour, 21)
		for name, acts := range active {
			for _, a := range acts {
				if a.state == "firing" || a.at > suggest.DefaultWindow {
					t.Errorf("%s was %s at %s on a healthy day", name, a.state, a.at)
				}
			}
		}
	})
	t.Run("faults", func(t *testing.T) {
		active := play(t, s.file, "testdata/next-day-faults.yaml", 2*time.Hour, 22)
		for name, window := range map[string][2]time.Duration{
			"JobsDeliveryToWorker": {40 * time.Minute, 65 * time.Minute},
			"FrontToOneP99":        {80 * time.Minute, 105 * time.Minute},
		} {
			fired := false
			for _, at := range active[name] {
				if at.state == "firing" && at.at > window[0] && at.at <= window[1] {
					fired = true
				}
				if at.at <= window[0] && (at.state == "firing" || at.at > suggest.DefaultWindow) {
					t.Errorf("%s %s at %s, before its fault", name, at.state, at.at)
				}
			}
			if !fired {
				t.Errorf("%s did not fire during its fault: %v", name, active[name])
			}
			delete(active, name)
		}
		for name, acts := range active {
			for _, a := range acts {
				if a.state == "firing" || a.at > suggest.DefaultWindow {
					t.Errorf("%s was %s at %s, no fault of its", name, a.state, a.at)
				}
			}
		}
	})
}

type activity struct {
	at    time.Duration
	state string
}

// play runs the system (with the faults file, if any) through a flow
// analyzer for d, evaluating rules every 30s as `flowlens up` does, and
// returns when each alert was pending or firing.
func play(t *testing.T, rules, faults string, d time.Duration, seed uint64) map[string][]activity {
	t.Helper()
	top, err := loadtest.LoadTopology(system, faults)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := flowsim.New(flowsim.Options{Topology: top, Rate: rate, Seed: seed, Start: ruletest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := ruletest.NewSimulation(ruletest.SimConfig{RuleFiles: []string{rules}, EvalInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx := context.Background()
	active := map[string][]activity{}
	run := func(at time.Duration) error { return sys.RunUntil(ctx, ruletest.Epoch.Add(at)) }
	if err := sim.Play(ctx, d, 15*time.Second, sys.Registry(), run, func(at time.Duration) {
		for _, a := range sim.Alerts() {
			active[a.Name] = append(active[a.Name], activity{at, a.State})
		}
	}); err != nil {
		t.Fatal(err)
	}
	return active
}
