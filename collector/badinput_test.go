package collector_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/polltest"
)

// readDeadLetters reads n messages from the dead-letter topic.
func readDeadLetters(t testing.TB, brokers []string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "dlq-reader", Topic: kafkawire.DefaultDeadLetterTopic,
		MaxWait: 100 * time.Millisecond, MaxBytes: 32 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters (%d of %d): %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func TestBadInputGoesToDeadLetterWithReasonAndTheRestIsStored(t *testing.T) {
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	const n = 3000
	produceSpans(t, b.Addrs(), 0, n/2, 500)

	// One request of 3 spans: one with a 1 MB attribute, one without a
	// start time, one fine. Only the fine one may be stored.
	mixed := wiretest.Traces(n, 3, 3) // one span per service resource
	var all []pcommonSpan
	for i := 0; i < mixed.ResourceSpans().Len(); i++ {
		ss := mixed.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < ss.Len(); k++ {
			all = append(all, pcommonSpan{ss.At(k).Attributes(), func(ts pcommon.Timestamp) { ss.At(k).SetStartTimestamp(ts) }})
		}
	}
	all[0].attrs.PutStr("big", strings.Repeat("x", 1<<20))
	all[1].setStart(0)
	mixedValue, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, mixed)
	if err != nil {
		t.Fatal(err)
	}
	jsonValue, _ := kafkawire.MarshalTraces(kafkawire.EncodingJSON, wiretest.Traces(n+3, 2, 2))

	w := newWriter(t, b.Addrs(), kafkawire.DefaultSpansTopic)
	defer w.Close()
	ctx := context.Background()
	bad := []kafka.Message{
		{Key: []byte("malformed"), Value: []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}},
		{Key: []byte("text"), Value: []byte("this is not OTLP at all\n")},
		{Key: []byte("avro"), Value: []byte{0, 1, 2}, Headers: []kafka.Header{{Key: "content-type", Value: []byte("avro/binary")}}},
		{Key: []byte("json-on-proto-topic"), Value: jsonValue},
		{Key: []byte("empty")},
		{Key: []byte("mixed"), Value: mixedValue},
	}
	if err := w.WriteMessages(ctx, bad...); err != nil {
		t.Fatal(err)
	}
	produceSpans(t, b.Addrs(), n/2, n/2, 500)

	cfg := collectorConfig(b.Addrs())
	cfg.Encoding = string(kafkawire.EncodingProto) // so the JSON message is the wrong encoding
	startCollector(t, cfg, st)
	waitExactly(t, st, spanCounts, n+1, time.Minute)

	got := map[string]string{} // key -> reason
	var oversized kafka.Message
	for _, m := range readDeadLetters(t, b.Addrs(), 7) {
		reason := string(kafkawire.HeaderValue(m.Headers, kafkawire.HeaderDeadLetterReason))
		if kafkawire.HeaderValue(m.Headers, kafkawire.HeaderDeadLetterTopic) == nil ||
			kafkawire.HeaderValue(m.Headers, kafkawire.HeaderDeadLetterOffset) == nil ||
			len(kafkawire.HeaderValue(m.Headers, kafkawire.HeaderDeadLetterError)) == 0 {
			t.Errorf("dead letter %q lacks its source or error headers: %v", m.Key, m.Headers)
		}
		got[string(m.Key)+"/"+reason] = string(kafkawire.HeaderValue(m.Headers, kafkawire.HeaderDeadLetterError))
		if reason == "attribute_too_large" {
			oversized = m
		}
	}
	for _, want := range []string{
		"malformed/" + kafkawire.ReasonMalformed,
		"text/" + kafkawire.ReasonMalformed,
		"avro/" + kafkawire.ReasonUnknownEncoding,
		"json-on-proto-topic/" + kafkawire.ReasonWrongEncoding,
		"empty/" + kafkawire.ReasonEmpty,
		"mixed/attribute_too_large",
		"mixed/bad_timestamp",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("no dead letter %s; got %v", want, keys(got))
		}
	}
	if oversized.Value != nil {
		td, err := kafkawire.Decoder{}.DecodeTraces(oversized.Value, oversized.Headers)
		if err != nil || td.SpanCount() != 1 {
			t.Errorf("the dead letter of the oversized span holds %d spans (err %v), want only that span", td.SpanCount(), err)
		}
	}
}

type pcommonSpan struct {
	attrs    pcommon.Map
	setStart func(pcommon.Timestamp)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTwoCollectorsInOneGroupOneStopsMidStream(t *testing.T) {
	b := startBroker(t, 6)
	st := openStore(t, "", "")
	a := startCollector(t, collectorConfig(b.Addrs()), st)
	startCollector(t, collectorConfig(b.Addrs()), st)

	const n = 30000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i += 1000 {
			produceSpans(t, b.Addrs(), i, 1000, 250)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	polltest.Until(t, "a third of the spans", time.Minute, func() bool { return spanCounts(t, st).rows >= n/3 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("one collector stopped at %v", spanCounts(t, st))
	<-done
	waitExactly(t, st, spanCounts, n, 2*time.Minute)
}

// kcat (librdkafka), an independent producer, writes OTLP protobuf files
// as messages: the collector ingests them.
func TestKcatProducedOTLPIsIngested(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed: run `make tools-kcat`")
	}
	b := startBroker(t, 3)
	st := openStore(t, "", "")
	dir := t.TempDir()
	var files []string
	const files_, per = 20, 50
	for i := 0; i < files_; i++ {
		v, err := kafkawire.MarshalTraces(kafkawire.EncodingProto, wiretest.Traces(i*per, per, per))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "req"+string(rune('a'+i))+".pb")
		if err := os.WriteFile(f, v, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// -P with file arguments: each file is one message, bytes untouched.
	args := append([]string{"-P", "-b", b.Addrs()[0], "-t", kafkawire.DefaultSpansTopic, "-X", "message.max.bytes=8000000"}, files...)
	out, err := exec.Command(kcat, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	startCollector(t, collectorConfig(b.Addrs()), st)
	waitExactly(t, st, spanCounts, files_*per, time.Minute)
}
