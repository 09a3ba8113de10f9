package storage

import (
	"bytes"
	"testing"

	"github.com/ClickHouse/ch-go/compress"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
)

// BenchmarkNativeEncodeSpans is the collector's side of an insert without
// the request: one 50k-span batch (wiretest.ManyUnique, decoded as the
// collector decodes it) encoded into a reused Native block, then
// compressed as Config.Compression says. The engine is not involved.
// cpu-s/100k is the process's CPU time (GC included) per 100k spans.
func BenchmarkNativeEncodeSpans(b *testing.B) {
	const batch = 50_000
	var rows SpanRows
	for seq := 0; seq < batch; seq += benchSpans {
		req := marshalTraces(b, wiretest.ShapedTraces(seq, benchSpans, 10, wiretest.ManyUnique))
		if _, err := rows.AppendTracesProto(req, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, method := range []string{"none", "lz4"} {
		b.Run("compression="+method, func(b *testing.B) {
			var blk nativeBlock
			cols := rows.columns()
			// the collector reuses its blocks: measure that, not the
			// first block's growth
			if err := blk.encode(TracesTable, spanColumns, cols); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := chtest.SampleCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := blk.encode(TracesTable, spanColumns, cols); err != nil {
					b.Fatal(err)
				}
				if method == "lz4" {
					if blk.cw == nil {
						blk.cw = compress.NewWriter(compress.LevelZero, compress.LZ4)
					}
					if err := blk.cw.Compress(blk.buf.Buf); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			total, _ := cpu.Since()
			b.SetBytes(int64(len(blk.buf.Buf)))
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "spans/s")
			// CPU time holds up better than wall time on a busy machine
			b.ReportMetric(total*100_000/float64(b.N*batch), "cpu-s/100k")
		})
	}
}

// BenchmarkDecodeEncodeSpans is the collector's CPU per batch without
// Kafka and the engine: 50k spans (wiretest.ManyUnique, a resource per
// span, as bench-peers writes them) arriving as messages of one trace
// (10 spans) each, every message a buffer of its own as kafka-go hands
// them out, decoded into rows and encoded into a reused Native block.
func BenchmarkDecodeEncodeSpans(b *testing.B) {
	const batch, perMessage = 50_000, 10
	var msgs [][]byte
	for seq := 0; seq < batch; seq += benchSpans {
		td := resourcePerSpan(wiretest.ShapedTraces(seq, benchSpans, perMessage, wiretest.ManyUnique))
		enc := kafkawire.Encoder{PartitionByTraceID: true}
		ms, err := enc.AppendTraceMessages(nil, td)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			msgs = append(msgs, bytes.Clone(m.Value))
		}
	}
	var (
		rows SpanRows
		blk  nativeBlock
	)
	run := func() {
		rows.Reset()
		for _, m := range msgs {
			if _, err := rows.AppendTracesProto(m, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := blk.encode(TracesTable, spanColumns, rows.columns()); err != nil {
			b.Fatal(err)
		}
		blk.release()
	}
	run() // the block and the rows' columns at their size
	b.ReportAllocs()
	cpu := chtest.SampleCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	total, _ := cpu.Since()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(total*100_000/float64(b.N*batch), "cpu-s/100k")
}
