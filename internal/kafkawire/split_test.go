package kafkawire_test

import (
	"encoding/hex"
	"hash/fnv"
	"testing"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func spanSeqs(t *testing.T, td ptrace.Traces, seen map[int64]int) {
	t.Helper()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if _, ok := rs.Resource().Attributes().Get("service.name"); !ok {
			t.Fatalf("resource lost its service.name")
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			if ss.Scope().Name() == "" {
				t.Fatalf("scope lost its name")
			}
			for k := 0; k < ss.Spans().Len(); k++ {
				v, _ := ss.Spans().At(k).Attributes().Get(wiretest.SeqKey)
				seen[v.Int()]++
			}
		}
	}
}

func TestEncoderOneMessagePerTraceKeyedByHexTraceID(t *testing.T) {
	const n, perTrace = 1000, 7
	td := wiretest.Traces(0, n, perTrace)
	enc := kafkawire.Encoder{Encoding: kafkawire.EncodingProto, PartitionByTraceID: true}
	msgs, err := enc.AppendTraceMessages(nil, td)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs := (n + perTrace - 1) / perTrace
	if len(msgs) != wantMsgs {
		t.Fatalf("got %d messages, want one per trace: %d", len(msgs), wantMsgs)
	}
	seen := map[int64]int{}
	var dec kafkawire.Decoder
	for _, m := range msgs {
		got, err := dec.DecodeTraces(m.Value, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		rss := got.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
				spans := rss.At(i).ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					id := spans.At(k).TraceID()
					ids[hex.EncodeToString(id[:])] = true
				}
			}
		}
		if len(ids) != 1 || !ids[string(m.Key)] {
			t.Fatalf("message key %q, trace IDs inside %v", m.Key, ids)
		}
		spanSeqs(t, got, seen)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct spans after split, want %d", len(seen), n)
	}
	for seq, c := range seen {
		if c != 1 {
			t.Fatalf("span %d appears %d times", seq, c)
		}
	}
}

func TestEncoderSingleTraceIsOneMessage(t *testing.T) {
	td := wiretest.Traces(0, 20, 20)
	enc := kafkawire.Encoder{PartitionByTraceID: true}
	msgs, err := enc.AppendTraceMessages(nil, td)
	if err != nil {
		t.Fatal(err)
	}
	id := wiretest.TraceID(0)
	if len(msgs) != 1 || string(msgs[0].Key) != hex.EncodeToString(id[:]) {
		t.Fatalf("got %d messages, key %q", len(msgs), msgs[0].Key)
	}
}

func TestEncoderWithoutPartitioningKeepsRequest(t *testing.T) {
	td := wiretest.Traces(0, 100, 3)
	enc := kafkawire.Encoder{Encoding: kafkawire.EncodingJSON}
	msgs, err := enc.AppendTraceMessages(nil, td)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Key != nil {
		t.Fatalf("got %d messages, key %q", len(msgs), msgs[0].Key)
	}
	got, err := kafkawire.Decoder{Encoding: kafkawire.EncodingJSON}.DecodeTraces(msgs[0].Value, nil)
	if err != nil || got.SpanCount() != 100 {
		t.Fatalf("decode: %v, %d spans", err, got.SpanCount())
	}
}

func TestLogsKeyedByTraceIDWhenTheyHaveOne(t *testing.T) {
	ld := wiretest.Logs(0, 100) // even records carry trace seq/2, odd none
	enc := kafkawire.Encoder{PartitionByTraceID: true}
	msgs, err := enc.AppendLogMessages(nil, ld)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 51 {
		t.Fatalf("got %d messages, want 50 keyed + 1 unkeyed", len(msgs))
	}
	total, unkeyed := 0, 0
	for _, m := range msgs {
		got, err := kafkawire.Decoder{}.DecodeLogs(m.Value, nil)
		if err != nil {
			t.Fatal(err)
		}
		total += got.LogRecordCount()
		if m.Key == nil {
			unkeyed++
			if got.LogRecordCount() != 50 {
				t.Fatalf("unkeyed message holds %d records, want 50", got.LogRecordCount())
			}
			continue
		}
		lr := firstLog(got)
		id := lr.TraceID()
		if string(m.Key) != hex.EncodeToString(id[:]) {
			t.Fatalf("key %q, record trace %x", m.Key, id)
		}
	}
	if total != 100 || unkeyed != 1 {
		t.Fatalf("total %d unkeyed %d", total, unkeyed)
	}
}

func firstLog(ld plog.Logs) plog.LogRecord {
	return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
}

// Sarama's hash partitioner: FNV-1a 32, as int32, absolute value, modulo.
func saramaPartition(key []byte, n int) int {
	h := fnv.New32a()
	h.Write(key)
	p := int32(h.Sum32()) % int32(n)
	if p < 0 {
		p = -p
	}
	return int(p)
}

func TestHashBalancerIsSaramaCompatible(t *testing.T) {
	parts := []int{0, 1, 2, 3, 4, 5}
	b := &kafka.Hash{}
	for i := 0; i < 2000; i++ {
		id := wiretest.TraceID(uint64(i))
		key := []byte(hex.EncodeToString(id[:]))
		if got, want := b.Balance(kafka.Message{Key: key}, parts...), saramaPartition(key, len(parts)); got != want {
			t.Fatalf("key %s: kafka-go partition %d, Sarama %d", key, got, want)
		}
	}
}

func TestSplitTracesByIDKeepsEverySpanOnce(t *testing.T) {
	td := wiretest.Traces(0, 333, 4)
	parts := kafkawire.SplitTracesByID(td)
	seen := map[int64]int{}
	for _, p := range parts {
		spanSeqs(t, p, seen)
	}
	if len(parts) != 84 || len(seen) != 333 {
		t.Fatalf("%d parts, %d spans", len(parts), len(seen))
	}
}

// BenchmarkEncodeTracesByID measures the agent's hot path: a batch of 512
// spans (about 100 traces) split by trace ID and marshalled to messages.
func BenchmarkEncodeTracesByID(b *testing.B) {
	for _, bc := range []struct {
		name     string
		perTrace int
		byID     bool
	}{{"split_5_per_trace", 5, true}, {"single_trace", 512, true}, {"no_split", 5, false}} {
		b.Run(bc.name, func(b *testing.B) {
			src := wiretest.Traces(0, 512, bc.perTrace)
			batches := make([]ptrace.Traces, b.N)
			for i := range batches {
				batches[i] = ptrace.NewTraces()
				src.CopyTo(batches[i])
			}
			enc := kafkawire.Encoder{PartitionByTraceID: bc.byID}
			var msgs []kafka.Message
			var bytes int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				msgs, err = enc.AppendTraceMessages(msgs[:0], batches[i])
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range msgs {
					bytes += len(m.Value)
				}
			}
			b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "spans/s")
			b.SetBytes(int64(bytes / max(b.N, 1)))
		})
	}
}
