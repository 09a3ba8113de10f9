package kafkawire_test

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/flowlens/flowlens/internal/kafkawire"
)

func TestLedgerStampReadsWhatLedgerHeadersWrote(t *testing.T) {
	h := kafkawire.LedgerHeaders([]kafka.Header{{Key: "other", Value: []byte("x")}}, "web-1", 1764979200)
	host, iv, ok := kafkawire.LedgerStamp(h)
	if !ok || host != "web-1" || iv != 1764979200 {
		t.Errorf("stamp %q %d %v", host, iv, ok)
	}
	for _, bad := range [][]kafka.Header{
		nil,
		{{Key: kafkawire.HeaderLedgerHost, Value: []byte("web-1")}},
		{{Key: kafkawire.HeaderLedgerHost, Value: []byte("web-1")}, {Key: kafkawire.HeaderLedgerInterval, Value: []byte("soon")}},
		{{Key: kafkawire.HeaderLedgerHost, Value: nil}, {Key: kafkawire.HeaderLedgerInterval, Value: []byte("60")}},
	} {
		if _, _, ok := kafkawire.LedgerStamp(bad); ok {
			t.Errorf("%v read as a stamp", bad)
		}
	}
}

func TestLedgerReportRoundTripAndRefusals(t *testing.T) {
	r := kafkawire.LedgerReport{Host: "web-1", Run: "r1", Kind: kafkawire.LedgerSpans, Interval: 1764979200, Seconds: 60, Accepted: 5, Acked: 4, Dropped: 1, Seq: 9}
	b, err := kafkawire.MarshalLedgerReport(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kafkawire.UnmarshalLedgerReport(b)
	if err != nil || got != r {
		t.Fatalf("%+v, %v", got, err)
	}
	for value, want := range map[string]string{
		`{`: "malformed ledger report",
		`{"host":"h","run":"r","kind":"metrics","interval":60,"seconds":60}`: `kind "metrics"`,
		`{"host":"h","kind":"spans","interval":60,"seconds":60}`:             "no host or run",
		`{"host":"h","run":"r","kind":"logs","interval":60}`:                 "interval 60 of 0 s",
	} {
		if _, err := kafkawire.UnmarshalLedgerReport([]byte(value)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", value, err, want)
		}
	}
}
