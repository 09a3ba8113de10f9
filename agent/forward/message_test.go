package forward

import (
	"bytes"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		kind       Kind
		n          int
		key, value []byte
	}{
		{KindLogs, 4096, nil, []byte("request")},
		{KindSpans, 0, []byte("4bf92f3577b34da6a3ce929d0e0e4736"), []byte{0, 1, 2}},
		{KindSpans, 1, []byte("k"), nil},
	} {
		b := AppendMessage([]byte("prefix"), tc.kind, tc.n, tc.key, tc.value)[6:]
		if len(b) != MessageSize(tc.n, tc.key, tc.value) {
			t.Errorf("size %d, MessageSize %d", len(b), MessageSize(tc.n, tc.key, tc.value))
		}
		kind, n, key, value, err := DecodeMessage(b)
		if err != nil || kind != tc.kind || n != tc.n || !bytes.Equal(key, tc.key) || !bytes.Equal(value, tc.value) {
			t.Errorf("round trip: %v %v %d %q %q", err, kind, n, key, value)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendMessage(nil, KindLogs, 3, []byte("key"), []byte("value")))
	f.Add([]byte{2, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, n, key, value, err := DecodeMessage(b)
		if err != nil {
			return
		}
		again := AppendMessage(nil, kind, n, key, value)
		k2, n2, key2, value2, err := DecodeMessage(again)
		if err != nil || k2 != kind || n2 != n || !bytes.Equal(key2, key) || !bytes.Equal(value2, value) {
			t.Fatalf("re-encoding differs")
		}
	})
}
