package kafkawire

import (
	"bytes"
	"testing"

	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The byte-level splitter must produce exactly what splitting the pdata
// objects produces.
func TestWireSplitMatchesPdataSplit(t *testing.T) {
	for _, tc := range []struct{ n, perTrace int }{{1, 1}, {10, 1}, {100, 3}, {500, 7}, {64, 64}} {
		td := wiretest.Traces(0, tc.n, tc.perTrace)
		td.ResourceSpans().At(0).SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		td.ResourceSpans().At(0).ScopeSpans().At(0).SetSchemaUrl("https://example.com/scope")
		td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().Attributes().PutStr("k", "v")
		ref := ptrace.NewTraces()
		td.CopyTo(ref)

		enc := Encoder{PartitionByTraceID: true}
		msgs, err := enc.AppendTraceMessages(nil, td)
		if err != nil {
			t.Fatal(err)
		}
		want := SplitTracesByID(ref)
		if len(msgs) != len(want) {
			t.Fatalf("n=%d: %d wire parts, %d pdata parts", tc.n, len(msgs), len(want))
		}
		var jm ptrace.JSONMarshaler
		for i := range msgs {
			got, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msgs[i].Value)
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			a, _ := jm.MarshalTraces(got)
			b, _ := jm.MarshalTraces(want[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("n=%d part %d differs:\nwire  %s\npdata %s", tc.n, i, a, b)
			}
		}
	}
}

func TestWireSplitLogsMatchesPdataSplit(t *testing.T) {
	ld := wiretest.Logs(0, 301)
	ref := plog.NewLogs()
	ld.CopyTo(ref)
	wire := Encoder{PartitionByTraceID: true}
	msgs, err := wire.AppendLogMessages(nil, ld)
	if err != nil {
		t.Fatal(err)
	}
	pd := Encoder{PartitionByTraceID: true, Encoding: EncodingJSON}
	want, err := pd.AppendLogMessages(nil, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d wire parts, %d pdata parts", len(msgs), len(want))
	}
	var jm plog.JSONMarshaler
	for i := range msgs {
		got, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(msgs[i].Value)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := jm.MarshalLogs(got)
		if !bytes.Equal(a, want[i].Value) || !bytes.Equal(msgs[i].Key, want[i].Key) {
			t.Fatalf("part %d differs:\nwire  %s %s\npdata %s %s", i, msgs[i].Key, a, want[i].Key, want[i].Value)
		}
	}
}

// FuzzWireSplit feeds arbitrary requests: whatever pdata accepts, the split
// must keep every span exactly once, one trace ID per part.
func FuzzWireSplit(f *testing.F) {
	for _, td := range []ptrace.Traces{wiretest.Traces(0, 5, 2), wiretest.Traces(0, 30, 4), ptrace.NewTraces()} {
		b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(in)
		if err != nil {
			return
		}
		var s wireSplitter
		s.traceIDField = 1
		n, err := s.scan(in)
		if err != nil {
			return // refusing is fine (e.g. unknown top-level fields); the encoder only feeds pdata output
		}
		spans := 0
		for gi := 0; gi < n; gi++ {
			size := s.sizeGroup(gi)
			part := s.appendGroup(nil, in, gi)
			if len(part) != size {
				t.Fatalf("part %d: %d bytes, computed %d", gi, len(part), size)
			}
			p, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(part)
			if err != nil {
				t.Fatalf("part %d does not decode: %v", gi, err)
			}
			spans += p.SpanCount()
		}
		if spans != td.SpanCount() {
			t.Fatalf("%d spans after split, %d before", spans, td.SpanCount())
		}
	})
}
