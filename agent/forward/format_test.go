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
