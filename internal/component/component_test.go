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

func part(f Component) Part {
	return Part{Name: f.(interface{ partName() string }).partName(), Build: func(context.Context) (Component, error) { return f, nil }}
}

func (f *fake) partName() string   { return f.name }
func (f failing) partName() string { return f.name }

func TestGroupStopsInReverse(t *testing.T) {
	fs, calls := newFakes("storage", "collector", "agent")
	off := Part{Name: "off", Build: func(context.Context) (Component, error) { return nil, nil }}
	g := &Group{Parts: []Part{part(fs[0]), off, part(fs[1]), part(fs[2])}}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
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

// A part that fails to start is shut down (releasing what its New took),
// and so is every part before it; the error names it; the parts after it
// are not built.
func TestGroupFailedStart(t *testing.T) {
	fs, calls := newFakes("storage", "collector")
	fs[1].startErr = errors.New("port in use")
	never := Part{Name: "agent", Build: func(context.Context) (Component, error) { t.Error("built after a failed part"); return nil, nil }}
	g := &Group{Parts: []Part{part(fs[0]), part(fs[1]), never}}
	err := g.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start collector: port in use") {
		t.Fatalf("Start = %v", err)
	}
	want := "start storage,start collector,stop collector,stop storage"
	if got := strings.Join(calls(), ","); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
	built := errors.New("bad config")
	g = &Group{Parts: []Part{{Name: "x", Build: func(context.Context) (Component, error) { return nil, built }}}}
	if err := g.Start(context.Background()); !errors.Is(err, built) {
		t.Errorf("a part that cannot be built: %v", err)
	}
}

func TestGroupReportsAPartsFailure(t *testing.T) {
	fs, _ := newFakes("storage", "agent")
	g := &Group{Parts: []Part{part(fs[0]), part(failing{fs[1]})}}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
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
