package buffer

import (
	"context"
	"testing"
)

// Append copies the records before it returns: callers (the OTLP sink)
// reuse their memory for the next request at once, before the fsync.
func TestAppendCopiesRecordsBeforeReturning(t *testing.T) {
	w := open(t, t.TempDir(), Config{MaxSize: 64 << 20})
	defer w.Close()
	ctx := context.Background()
	scratch := []byte("record-00000001;first request")
	for i := 0; i < 2; i++ {
		if err := w.Append(ctx, [][]byte{scratch}, true, nil); err != nil {
			t.Fatal(err)
		}
		// the next request overwrites the scratch right away
		copy(scratch, "record-00000002;")
	}
	got := readN(t, w, 2, true)
	if got[0] != "record-00000001;" || got[1] != "record-00000002;" {
		t.Fatalf("read %q: a record changed with the caller's memory after Append returned", got)
	}
}
