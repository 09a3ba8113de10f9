package buffer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/golden"
)

// The buffer outlives the agent process: an agent started after a crash or
// an upgrade replays what the last one left. testdata/wal is what one
// leaves after appending walRecords and acknowledging the first: a segment
// of CRC-32C framed records and the acknowledged position.
var walRecords = [][]byte{[]byte("acknowledged"), {}, {0, 1, 0xfe, 0xff}, []byte("not yet sent\n")}

const walGolden = "testdata/wal"

func TestWALFilesGolden(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, Config{})
	if err := w.Append(context.Background(), walRecords, true, nil); err != nil {
		t.Fatal(err)
	}
	ents := readWithin(t, w, 10*time.Second)
	if err := w.Ack(ents[0].Pos); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden.EqualDir(t, walGolden, dir)
}

// An agent reading the reference files replays exactly the records not
// acknowledged, in order, and appends after them.
func TestWALGoldenReplays(t *testing.T) {
	dir := t.TempDir()
	entries, err := os.ReadDir(walGolden)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b := golden.Read(t, filepath.Join(walGolden, e.Name()))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	w := open(t, dir, Config{})
	defer w.Close()
	if st := w.Stats(); st.Records != int64(len(walRecords)-1) || st.DroppedCorrupt != 0 {
		t.Fatalf("stats after opening the reference files: %+v, want %d records", st, len(walRecords)-1)
	}
	if err := w.Append(context.Background(), [][]byte{[]byte("appended")}, true, nil); err != nil {
		t.Fatal(err)
	}
	want := append(walRecords[1:len(walRecords):len(walRecords)], []byte("appended"))
	var got [][]byte
	for len(got) < len(want) {
		for _, e := range readWithin(t, w, 10*time.Second) {
			got = append(got, bytes.Clone(e.Data))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("record %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func readWithin(t *testing.T, w *WAL, d time.Duration) []Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ents, err := w.Read(ctx, 1<<20, nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return ents
}
