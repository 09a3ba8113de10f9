package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent/journald"
	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/agent/syslogin"
	"github.com/flowlens/flowlens/agent/tail"
	"github.com/flowlens/flowlens/internal/config"
)

func benchConfig(b testing.TB, body string) Config {
	b.Helper()
	p := filepath.Join(b.TempDir(), "a.yaml")
	os.WriteFile(p, []byte("kafka: {brokers: ['127.0.0.1:9092']}\nhost_name: h\ndata_dir: "+b.TempDir()+"\n"+body), 0o644)
	var cfg Config
	if err := config.Load(p, &cfg); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkJournaldPipeline: 1000 journal entries of 16 fields each (as
// journalctl exports a service's line) per op, decoded, mapped and encoded
// into buffer records (no journalctl, no disk, no Kafka); ns/entry is the
// figure.
func BenchmarkJournaldPipeline(b *testing.B) {
	cfg := benchConfig(b, "journald: {}\n")
	var sink discardAppender
	src, err := newJournaldSource(cfg.Journald, &cfg, &sink, "", zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	var one bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&one, "__CURSOR=s=739ad463348b4ceca5a9e69c95a3c93f;i=%x;b=6c7c6013a8674ba3a3bc2c8a1d9b9a2e;m=3a5f4d55;t=5e3a8e0a9c0d0;x=f3c2d0e0c0b0a090\n"+
			"__REALTIME_TIMESTAMP=1700000000000000\n__MONOTONIC_TIMESTAMP=979211605\n_BOOT_ID=6c7c6013a8674ba3a3bc2c8a1d9b9a2e\n"+
			"_TRANSPORT=stdout\nPRIORITY=6\nSYSLOG_IDENTIFIER=cart\n_PID=1234\n_UID=1000\n_GID=1000\n_COMM=cart\n_EXE=/usr/bin/cart\n"+
			"_SYSTEMD_UNIT=cart.service\n_HOSTNAME=web-1\nTRACE_ID=0af7651916cd43dd8448eb211c80319c\nMESSAGE=GET /api/cart 200 12ms user=42 order=%d\n\n", i, i)
	}
	data := one.Bytes()
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var e journald.Entry
	n := 0
	for b.Loop() {
		d := journald.NewDecoder(bytes.NewReader(data), 256<<10)
		for d.Next(&e) == nil {
			cur, _ := e.Get("__CURSOR")
			if err := src.Entry(ctx, &e, cur); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
}

// BenchmarkContainerPipeline: one CRI line holding a ~200-byte JSON line,
// decoded, parsed and encoded into buffer records.
func BenchmarkContainerPipeline(b *testing.B) {
	cfg := benchConfig(b, "containers: {pods_dir: /var/log/pods, parse: {format: json}}\n")
	var sink discardAppender
	src, err := newContainerSource(cfg.Containers, &cfg, &sink, "")
	if err != nil {
		b.Fatal(err)
	}
	h := src.handler(tail.File{Path: "/var/log/pods/shop_cart-7d9f_1b2c/cart/0.log"})
	line := []byte(`2024-03-01T10:00:00.123456789Z stdout F {"ts":"2024-03-01T10:00:00.123Z","level":"info","service":"cart","msg":"GET /api/cart 200","trace_id":"0af7651916cd43dd8448eb211c80319c","user":42}`)
	ctx := context.Background()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Line(ctx, line, len(line), tail.Checkpoint{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyslogPipeline: one RFC 5424 message parsed and encoded into
// buffer records (no sockets).
func BenchmarkSyslogPipeline(b *testing.B) {
	cfg := benchConfig(b, "syslog: {udp: {listen: 127.0.0.1:0}}\n")
	var sink discardAppender
	outs := newSyslogOutputs(cfg.Syslog, &cfg, &sink, "")
	out := outs.newOutput()
	p := syslogin.NewParser(syslogin.FormatAuto, time.UTC, nil)
	msg := []byte(`<165>1 2024-03-01T10:00:00.123Z web-1 cart 4242 ID47 [meta seq="7"] GET /api/cart 200 12ms user=42 order=9917`)
	ctx := context.Background()
	var r logrec.Record
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		p.Parse(msg, &r)
		if err := out.Add(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}
