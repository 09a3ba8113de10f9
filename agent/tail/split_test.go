package tail

import (
	"bytes"
	"context"
	"testing"
)

type collect struct {
	lines []string
	orig  []int
	ends  []int64
}

func (c *collect) Line(_ context.Context, line []byte, origLen int, cp Checkpoint) error {
	c.lines = append(c.lines, string(line))
	c.orig = append(c.orig, origLen)
	c.ends = append(c.ends, cp.Offset())
	return nil
}
func (c *collect) Flush(context.Context, bool) error { return nil }
func (c *collect) Close()                            {}

// FuzzSplitLines feeds data in arbitrary chunks: the records must be the
// same as splitting the whole data at once, cut at maxLine, with offsets
// just after each newline.
func FuzzSplitLines(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), uint8(1))
	f.Add([]byte("0123456789abcdefghij\nshort\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const maxLine = 8
		c := &collect{}
		rd := &reader{t: &Tailer{}, e: &entry{}, h: c, maxLine: maxLine}
		step := int(chunk%16) + 1
		for i := 0; i < len(data); i += step {
			if err := rd.consume(context.Background(), data[i:min(i+step, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		var want []string
		var wantOrig []int
		var wantEnds []int64
		off := int64(0)
		parts := bytes.Split(data, []byte("\n"))
		for i, p := range parts {
			if i == len(parts)-1 {
				break // no newline: not a record yet
			}
			off += int64(len(p)) + 1
			orig := len(p)
			if orig > maxLine {
				p = p[:maxLine]
			} else if orig > 0 && p[orig-1] == '\r' {
				p = p[:orig-1]
				orig--
			}
			if orig == 0 {
				continue // blank lines are skipped
			}
			want = append(want, string(p))
			wantOrig = append(wantOrig, orig)
			wantEnds = append(wantEnds, off)
		}
		if len(c.lines) != len(want) {
			t.Fatalf("%d records, want %d: %q vs %q", len(c.lines), len(want), c.lines, want)
		}
		for i := range want {
			if c.lines[i] != want[i] || c.orig[i] != wantOrig[i] || c.ends[i] != wantEnds[i] {
				t.Fatalf("record %d: %q/%d/%d, want %q/%d/%d", i, c.lines[i], c.orig[i], c.ends[i], want[i], wantOrig[i], wantEnds[i])
			}
		}
	})
}
