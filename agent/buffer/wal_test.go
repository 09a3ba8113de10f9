package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
)

func open(t testing.TB, dir string, cfg Config) *WAL {
	t.Helper()
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func rec(i int, size int) []byte {
	b := fmt.Appendf(nil, "record-%08d;", i)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// readN reads n records (acking each batch if ack) and returns their payloads.
func readN(t *testing.T, w *WAL, n int, ack bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	var ents []Entry
	for len(out) < n {
		var err error
		ents, err = w.Read(ctx, 1<<20, ents)
		if err != nil {
			t.Fatalf("read after %d: %v", len(out), err)
		}
		last := ents[0].Pos
		for _, e := range ents {
			if len(out) == n {
				break
			}
			out = append(out, string(e.Data[:16]))
			last = e.Pos
		}
		if ack {
			if err := w.Ack(last); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func TestAppendReadAckAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, Config{MaxSize: 64 << 20, SegmentSize: 1 << 20})
	ctx := context.Background()
	var mu sync.Mutex
	var durable []int
	for i := 0; i < 3000; i++ {
		i := i
		if err := w.Append(ctx, [][]byte{rec(i, 1000)}, true, func() { mu.Lock(); durable = append(durable, i); mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	got := readN(t, w, 1000, true)
	for i, s := range got {
		if s != fmt.Sprintf("record-%08d;", i) {
			t.Fatalf("record %d is %q", i, s)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(durable) != 3000 {
		t.Fatalf("%d durability callbacks, want 3000", len(durable))
	}
	for i, v := range durable {
		if v != i {
			t.Fatalf("callback %d out of order: %d", i, v)
		}
	}
	mu.Unlock()
	st := w.Stats()
	if st.Records != 2000 || st.Acked != 1000 {
		t.Fatalf("stats %+v", st)
	}

	w = open(t, dir, Config{MaxSize: 64 << 20, SegmentSize: 1 << 20})
	defer w.Close()
	if st := w.Stats(); st.Records != 2000 {
		t.Fatalf("after reopen %d records unacknowledged, want 2000", st.Records)
	}
	got = readN(t, w, 2000, true)
	for i, s := range got {
		if s != fmt.Sprintf("record-%08d;", i+1000) {
			t.Fatalf("record %d is %q", i+1000, s)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("%d segments left after everything was acknowledged", len(segs))
	}
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, Config{})
	for i := 0; i < 10; i++ {
		if err := w.Append(context.Background(), [][]byte{rec(i, 100)}, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 'p', 'a', 'r'}) // a torn frame
	f.Close()
	w = open(t, dir, Config{})
	defer w.Close()
	if err := w.Append(context.Background(), [][]byte{rec(10, 100)}, true, nil); err != nil {
		t.Fatal(err)
	}
	got := readN(t, w, 11, true)
	if got[10] != "record-00000010;" {
		t.Fatalf("after torn tail: %q", got[10])
	}
}

func TestBlockPolicy(t *testing.T) {
	w := open(t, t.TempDir(), Config{MaxSize: 4 << 20, SegmentSize: 1 << 20})
	defer w.Close()
	ctx := context.Background()
	n := 0
	for ; ; n++ {
		err := w.Append(ctx, [][]byte{rec(n, 64<<10)}, false, nil)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 60 || n > 64 {
		t.Fatalf("full after %d records of 64KiB in 4MiB", n)
	}
	// a blocked writer proceeds once the reader acknowledged
	done := make(chan error, 1)
	go func() { done <- w.Append(ctx, [][]byte{rec(n, 64<<10)}, true, nil) }()
	for w.Stats().Waiting != 1 {
		select {
		case err := <-done:
			t.Fatalf("append did not block: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	readN(t, w, 20, true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("append still blocked after acknowledgements")
	}
	if st := w.Stats(); st.DroppedFull != 0 {
		t.Fatalf("block policy dropped %d", st.DroppedFull)
	}
}

func TestDropOldestPolicy(t *testing.T) {
	w := open(t, t.TempDir(), Config{MaxSize: 4 << 20, SegmentSize: 1 << 20, WhenFull: PolicyDropOldest})
	defer w.Close()
	for i := 0; i < 200; i++ {
		if err := w.Append(context.Background(), [][]byte{rec(i, 64<<10)}, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := w.Stats()
	if st.DroppedFull == 0 || st.DroppedFull+st.Records != 200 {
		t.Fatalf("dropped %d + kept %d != 200", st.DroppedFull, st.Records)
	}
	got := readN(t, w, int(st.Records), true)
	first := fmt.Sprintf("record-%08d;", st.DroppedFull)
	if got[0] != first || got[len(got)-1] != "record-00000199;" {
		t.Fatalf("kept %s..%s, want %s..199", got[0], got[len(got)-1], first)
	}
}

func BenchmarkAppend256KiB(b *testing.B) {
	w := open(b, b.TempDir(), Config{MaxSize: 1 << 40, SegmentSize: 64 << 20})
	defer w.Close()
	r := rec(0, 256<<10)
	b.SetBytes(int64(len(r)))
	b.ReportAllocs()
	ctx := context.Background()
	var ents []Entry
	for i := 0; b.Loop(); i++ {
		if err := w.Append(ctx, [][]byte{r}, true, nil); err != nil {
			b.Fatal(err)
		}
		var err error
		if ents, err = w.Read(ctx, 1<<20, ents); err != nil {
			b.Fatal(err)
		}
		w.Ack(ents[len(ents)-1].Pos)
	}
}

// With a sync interval, an append is acknowledged by the first fsync after
// the interval since the previous one, not before. The WAL runs in a
// synctest bubble: its clock moves only when every goroutine of the bubble
// waits, so "not yet acknowledged" is exact, not a race with the machine.
func TestSyncIntervalDelaysAcknowledgements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 100 * time.Millisecond
		w := open(t, t.TempDir(), Config{SyncInterval: interval})
		defer w.Close()
		ctx := context.Background()
		var acked [2]atomic.Bool
		// the first append is synced at once
		w.Append(ctx, [][]byte{rec(0, 10)}, true, func() { acked[0].Store(true) })
		synctest.Wait()
		if !acked[0].Load() {
			t.Fatal("the first append was not acknowledged at once")
		}
		start := time.Now()
		w.Append(ctx, [][]byte{rec(1, 10)}, true, func() { acked[1].Store(true) })
		synctest.Wait() // the sync loop waits for the interval, or has synced
		if acked[1].Load() {
			t.Fatalf("acknowledged %v after the previous fsync, before the %v sync interval", time.Since(start), interval)
		}
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if acked[1].Load() {
			t.Fatal("acknowledged before the sync interval had passed")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !acked[1].Load() {
			t.Fatal("not acknowledged once the sync interval had passed")
		}
		if st := w.Stats(); st.Fsyncs != 2 {
			t.Fatalf("%d fsyncs, want 2", st.Fsyncs)
		}
	})
}

// BenchmarkAppendDurable is one small (OTLP-request-sized) append waiting
// for its fsync, from 8 concurrent writers: the latency an OTLP client sees
// and how group commit shares fsyncs.
func BenchmarkAppendDurable(b *testing.B) {
	w := open(b, b.TempDir(), Config{MaxSize: 1 << 40, SegmentSize: 64 << 20})
	defer w.Close()
	r := rec(0, 16<<10)
	b.SetBytes(int64(len(r)))
	b.ReportAllocs()
	ctx := context.Background()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done := make(chan struct{})
			if err := w.Append(ctx, [][]byte{r}, true, func() { close(done) }); err != nil {
				b.Fatal(err)
			}
			<-done
		}
	})
	st := w.Stats()
	b.ReportMetric(float64(st.Appended)/float64(st.Fsyncs), "appends/fsync")
}
