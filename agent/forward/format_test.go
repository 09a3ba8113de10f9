package forward

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/flowlens/flowlens/internal/golden"
)

// Buffer records outlive the agent process: an agent after an upgrade
// forwards what the last one buffered. Each case is one reference record.
var messageCases = []struct {
	file       string
	kind       Kind
	records    int
	key, value []byte
}{
	{"logs_without_key.bin", KindLogs, 4096, nil, []byte("\n\x07request")},
	{"spans_keyed.bin", KindSpans, 1, []byte("4bf92f3577b34da6a3ce929d0e0e4736"), []byte{0x0a, 0x00, 0xff}},
	{"spans_many_records.bin", KindSpans, 300, []byte("k"), nil},
}

func TestMessageGolden(t *testing.T) {
	for _, tc := range messageCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "messages", tc.file)
			golden.Equal(t, path, AppendMessage(nil, tc.kind, tc.records, tc.key, tc.value))
			kind, n, key, value, err := DecodeMessage(golden.Read(t, path))
			if err != nil || kind != tc.kind || n != tc.records || !bytes.Equal(key, tc.key) || !bytes.Equal(value, tc.value) {
				t.Errorf("reference decodes as %v, kind %d, %d records, key %q, value %q; want kind %d, %d records, key %q, value %q",
					err, kind, n, key, value, tc.kind, tc.records, tc.key, tc.value)
			}
		})
	}
}

// A record stamped with its ledger interval has its own reference bytes;
// the records of agents before the ledger read back with no interval.
func TestStampedMessageGolden(t *testing.T) {
	path := filepath.Join("testdata", "messages", "spans_stamped.bin")
	const interval = 1764979200 // an interval start, Unix seconds
	key, value := []byte("4bf92f3577b34da6a3ce929d0e0e4736"), []byte{0x0a, 0x00, 0xff}
	b := AppendStampedMessage(nil, KindSpans, 7, interval, key, value)
	if len(b) != StampedMessageSize(7, interval, key, value) {
		t.Errorf("size %d, StampedMessageSize %d", len(b), StampedMessageSize(7, interval, key, value))
	}
	golden.Equal(t, path, b)
	kind, n, iv, k, v, err := DecodeStampedMessage(golden.Read(t, path))
	if err != nil || kind != KindSpans || n != 7 || iv != interval || !bytes.Equal(k, key) || !bytes.Equal(v, value) {
		t.Errorf("reference decodes as %v, kind %d, %d records, interval %d, key %q, value %q", err, kind, n, iv, k, v)
	}
	for _, tc := range messageCases {
		kind, n, iv, _, _, err := DecodeStampedMessage(golden.Read(t, filepath.Join("testdata", "messages", tc.file)))
		if err != nil || kind != tc.kind || n != tc.records || iv != 0 {
			t.Errorf("%s: %v, kind %d, %d records, interval %d; want no interval", tc.file, err, kind, n, iv)
		}
	}
}
