package collector_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/collector"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/polltest"
	"github.com/flowlens/flowlens/storage"
)

// diesAfterStoring lets the first `healthy` inserts through; after that it
// answers every insert with a connection reset, having stored every other
// one, as if the collector had died after (or before) the engine stored the
// batch, and before it could commit. With dieOn, the inserts after those
// stay healthy until one whose token dieOn picks: a test that needs the
// failing batch to have a certain shape gets it whatever the feeds' timing.
type diesAfterStoring struct {
	*storage.Store
	healthy int32
	dieOn   func(token string) bool
	n       atomic.Int32
	dead    atomic.Bool
	once    sync.Once
	died    chan struct{}
}

// startUntilDead starts a collector of cfg over s and waits until s dies,
// failing t with notDead after a minute. The collector is left running, for
// the test to cut off.
func (s *diesAfterStoring) startUntilDead(t *testing.T, cfg collector.Config, notDead string) *collector.Collector {
	t.Helper()
	c, err := collector.New(cfg, collector.Settings{Settings: component.Settings{Logger: testLogger(t)}, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.died:
	case <-time.After(time.Minute):
		t.Fatal(notDead)
	}
	return c
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// call says whether this insert still works, and if not whether the engine
// stores the rows anyway (every other failing insert: half the pending
// batches the successor finds are stored, half are not).
func (s *diesAfterStoring) call(token string) (healthy, stores bool) {
	n := s.n.Add(1)
	if !s.dead.Load() && (n <= s.healthy || (s.dieOn != nil && !s.dieOn(token))) {
		return true, true
	}
	s.dead.Store(true)
	s.once.Do(func() { close(s.died) })
	return false, n%2 == 0
}

func (s *diesAfterStoring) InsertSpans(ctx context.Context, rows *storage.SpanRows, token string) error {
	healthy, stores := s.call(token)
	if stores {
		if err := s.Store.InsertSpans(ctx, rows, token); err != nil || healthy {
			return err
		}
	}
	return errReset
}

func (s *diesAfterStoring) InsertLogs(ctx context.Context, rows *storage.LogRows, token string) error {
	healthy, stores := s.call(token)
	if stores {
		if err := s.Store.InsertLogs(ctx, rows, token); err != nil || healthy {
			return err
		}
	}
	return errReset
}

// A collector that dies between storing batches and committing them, with
// other batches still open, and a successor that cuts batches differently:
// the pending markers make the successor rebuild the stored batches exactly,
// so the engine drops them as duplicates.
func TestKilledMidBatchThenRestartedStoresEverythingOnce(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	const nSpans, nLogs = 30000, 6000
	produceSpans(t, b.Addrs(), 0, nSpans, 500)
	produceLogs(t, b.Addrs(), 0, nLogs, 200)

	dying := &diesAfterStoring{Store: st, healthy: 4, died: make(chan struct{})}
	cfg := collectorConfig(b.Addrs())
	c1 := dying.startUntilDead(t, cfg, "the first collector never stored anything")
	time.Sleep(500 * time.Millisecond) // let more batches get stored-but-uncommitted
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c1.Shutdown(canceled) // no flush, no commit
	partial := spanCounts(t, st)
	if partial.rows == 0 || partial.rows >= nSpans {
		t.Fatalf("the first collector stored %v; the test wants a partial run", partial)
	}
	t.Logf("first collector stored %v spans before dying", partial)

	cfg2 := collectorConfig(b.Addrs())
	cfg2.Batch.MaxRows = 777             // different cuts: only the markers keep the tokens equal
	cfg2.Batch.MaxAge = time.Millisecond // and a batch age that expires while a pending batch is being rebuilt
	b.Cluster().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		time.Sleep(5 * time.Millisecond) // answered slowly: batches age mid-rebuild
		return nil, nil, false
	})
	startCollector(t, cfg2, st)
	waitExactly(t, st, spanCounts, nSpans, 2*time.Minute)
	waitExactly(t, st, logCounts, nLogs, time.Minute)
}

// The child process mode of the test binary: a collector that runs until it
// is killed. See TestSIGKILLedCollectorProcess.
const childEnv = "FLOWLENS_COLLECTOR_TEST_CHILD"

func runChild() int {
	brokers := strings.Split(os.Getenv("CHILD_BROKERS"), ",")
	log, _ := zap.NewDevelopment(zap.AddStacktrace(zap.FatalLevel))
	cfg := storage.Config{Addr: os.Getenv("CHILD_CH_ADDR"), Database: os.Getenv("CHILD_CH_DB"),
		Username: os.Getenv("CHILD_CH_USER"), Password: os.Getenv("CHILD_CH_PASSWORD")}
	cfg.SetDefaults()
	ctx := context.Background()
	st, err := storage.Open(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	httpAddr := os.Getenv("CHILD_HTTP")
	if httpAddr == "" {
		httpAddr = "off"
	}
	ccfg := collector.Config{HTTP: listener.Config{Listen: httpAddr}, SessionTimeout: 6 * time.Second, RebalanceFlushTimeout: 3 * time.Second}
	ccfg.Kafka.Brokers = brokers
	if v, err := strconv.Atoi(os.Getenv("CHILD_MAX_ROWS")); err == nil {
		ccfg.Batch.MaxRows = v // many batches, to be killed between them
	}
	ccfg.SetDefaults() // otherwise production batching
	c, err := collector.New(ccfg, collector.Settings{Settings: component.Settings{Logger: log.WithOptions(zap.IncreaseLevel(zap.ErrorLevel))}, Store: st})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := c.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if path := os.Getenv("CHILD_HTTP_ADDR_FILE"); path != "" {
		// renamed into place: the parent never reads half an address
		if err := os.WriteFile(path+".tmp", []byte(c.HTTPAddr()), 0o644); err != nil || os.Rename(path+".tmp", path) != nil {
			fmt.Fprintln(os.Stderr, "write the http address:", err)
			return 1
		}
	}
	select {} // until SIGKILL
}

func startChild(t *testing.T, brokers []string, st *storage.Store) *exec.Cmd {
	t.Helper()
	return startChildProcess(t, brokers, chAddr(t), st.Database())
}

func startChildProcess(t testing.TB, brokers []string, chAddr, db string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	user, password := chtest.Login(t, chserver.RoleWriter)
	cmd.Env = append(append(os.Environ(), env...), childEnv+"=1",
		"CHILD_BROKERS="+strings.Join(brokers, ","),
		"CHILD_CH_ADDR="+chAddr, "CHILD_CH_DB="+db, "CHILD_CH_USER="+user, "CHILD_CH_PASSWORD="+password)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestSIGKILLedCollectorProcessThenRestartedStoresEverythingOnce(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	const n = 60000
	produceSpans(t, b.Addrs(), 0, n, 500)

	child := startChildProcess(t, b.Addrs(), chAddr(t), st.Database(), "CHILD_MAX_ROWS=2000")
	polltest.Until(t, "the child to store some spans", 2*time.Minute, func() bool { return spanCounts(t, st).rows >= n/5 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	partial := spanCounts(t, st)
	t.Logf("child stored %v before SIGKILL", partial)
	if partial.rows >= n {
		t.Fatalf("the child finished before it was killed (%v); produce more", partial)
	}
	startChild(t, b.Addrs(), st)
	waitExactly(t, st, spanCounts, n, 3*time.Minute)
}
