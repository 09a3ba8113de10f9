package tail

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// countHandler counts lines and commits at each flush, as the agent does
// once a batch is safe.
type countHandler struct {
	n    *atomic.Int64
	done func()
	want int64
	last Checkpoint
}

func (h *countHandler) Line(_ context.Context, _ []byte, _ int, cp Checkpoint) error {
	h.last = cp
	if h.n.Add(1) == h.want {
		h.done()
	}
	return nil
}

func (h *countHandler) Flush(context.Context, bool) error { h.last.Commit(); return nil }
func (h *countHandler) Close()                            {}

// BenchmarkTailFile is the tailer's hot path: one file of JSON lines of
// about 330 bytes read to its end (page-cached) and split into lines.
func BenchmarkTailFile(b *testing.B) {
	const lines = 200_000
	dir := b.TempDir()
	path := filepath.Join(dir, "app.log")
	var buf bytes.Buffer
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&buf, `{"ts":"2026-11-25T12:00:00.%06dZ","level":"info","service":"checkout","msg":"order placed","order_id":"o-%07d","user_id":"u-%05d","trace_id":"%032x","span_id":"%016x","duration_ms":%d,"region":"eu-west-1"}`+"\n", i%1000000, i, i%99999, i, i, i%1000)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := Config{Include: []string{filepath.Join(dir, "*.log")}}
	cfg.SetDefaults()
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	i := 0
	for b.Loop() {
		i++
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int64
		tl, err := New(cfg, filepath.Join(dir, fmt.Sprintf("ckpt-%d.json", i)), func(File) Handler {
			return &countHandler{n: &n, done: cancel, want: lines}
		}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		_ = tl.Run(ctx)
		_ = tl.Close()
		if n.Load() != lines {
			b.Fatalf("read %d lines, want %d", n.Load(), lines)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
	// CPU time is steadier than wall time on a shared machine
	b.ReportMetric(float64(lines*b.N)/(cpuTime(b)-cpu0).Seconds(), "lines/cpu-s")
}

// cpuTime is the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
