package component

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fake records its calls in a shared log.
type fake struct {
	name     string
	log      *[]string
	mu       *sync.Mutex
	startErr error
	failed   chan error
}

func (f *fake) record(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.log = append(*f.log, what+" "+f.name)
}

func (f *fake) Start(context.Context) error    { f.record("start"); return f.startErr }
func (f *fake) Shutdown(context.Context) error { f.record("stop"); return nil }

type failing struct {
	*fake
}

func (f failing) Failed() <-chan error { return f.failed }

func newFakes(names ...string) ([]*fake, func() []string) {
	var log []string
	var mu sync.Mutex
	var out []*fake
	for _, n := range names {
		out = append(out, &fake{name: n, log: &log, mu: &mu, failed: make(chan error, 1)})
	}
	return out, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), log...)
	}
}

func TestGroupStopsInReverse(t *testing.T) {
	fs, calls := newFakes("storage", "collector", "agent")
	var g Group
	ctx := context.Background()
	for _, f := range fs {
		if err := g.Add(ctx, f.name, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	want := "start storage,start collector,start agent,stop agent,stop collector,stop storage"
	if got := strings.Join(calls(), ","); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

// A part that fails to start is shut down (releasing what New took); the
// error names it; the parts before it run until the caller stops them.
func TestGroupFailedStart(t *testing.T) {
	fs, calls := newFakes("storage", "collector")
	fs[1].startErr = errors.New("port in use")
	var g Group
	ctx := context.Background()
	if err := g.Add(ctx, "storage", fs[0]); err != nil {
		t.Fatal(err)
	}
	err := g.Add(ctx, "collector", fs[1])
	if err == nil || !strings.Contains(err.Error(), "start collector: port in use") {
		t.Fatalf("Add = %v", err)
	}
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	want := "start storage,start collector,stop collector,stop storage"
	if got := strings.Join(calls(), ","); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

func TestGroupReportsAPartsFailure(t *testing.T) {
	fs, _ := newFakes("storage", "agent")
	var g Group
	ctx := context.Background()
	_ = g.Add(ctx, "storage", fs[0])
	_ = g.Add(ctx, "agent", failing{fs[1]})
	fs[1].failed <- errors.New("disk buffer: fsync failed")
	select {
	case err := <-g.Failed():
		if !strings.Contains(err.Error(), "agent: disk buffer: fsync failed") {
			t.Errorf("failure %q does not name the part", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failure reported")
	}
	_ = g.Shutdown(ctx)
}

func TestRun(t *testing.T) {
	t.Run("until ctx ends", func(t *testing.T) {
		fs, calls := newFakes("c")
		ctx, cancel := context.WithCancel(context.Background())
		started := false
		err := Run(ctx, fs[0], RunOptions{Started: func() { started = true; cancel() }})
		if err != nil || !started {
			t.Fatalf("Run = %v, started %v", err, started)
		}
		if got := strings.Join(calls(), ","); got != "start c,stop c" {
			t.Errorf("calls %s", got)
		}
	})
	t.Run("a failed start is shut down", func(t *testing.T) {
		fs, calls := newFakes("c")
		fs[0].startErr = errors.New("no")
		if err := Run(context.Background(), fs[0], RunOptions{Started: func() { t.Error("Started after a failed start") }}); err == nil {
			t.Fatal("no error")
		}
		if got := strings.Join(calls(), ","); got != "start c,stop c" {
			t.Errorf("calls %s", got)
		}
	})
	t.Run("until the component fails", func(t *testing.T) {
		fs, calls := newFakes("c")
		fs[0].failed <- errors.New("broken")
		err := Run(context.Background(), failing{fs[0]}, RunOptions{})
		if err == nil || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("Run = %v", err)
		}
		if got := strings.Join(calls(), ","); got != "start c,stop c" {
			t.Errorf("calls %s", got)
		}
	})
}

func TestRegisterTwiceIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := func() prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_test_total", Help: "x"})
	}
	if err := Register(reg, "test", c()); err != nil {
		t.Fatal(err)
	}
	err := Register(reg, "test", c())
	if err == nil || !strings.Contains(err.Error(), "its own registry") {
		t.Fatalf("second Register = %v", err)
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := Settings{}.WithDefaults()
	if s.Logger == nil || s.Registerer == nil || s.Gatherer == nil {
		t.Fatalf("%+v", s)
	}
	reg := prometheus.NewRegistry()
	if s := (Settings{Registerer: reg}).WithDefaults(); s.Gatherer != prometheus.Gatherer(reg) {
		t.Errorf("the registry given is not what is served")
	}
}
