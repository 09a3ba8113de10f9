// Package golden compares what a test produced with a reference file in
// testdata/, for formats whose bytes must not change by accident: what is
// written to disk or to Kafka and read back by a later process, or another
// version. `go test -update` rewrites the files from the current output;
// review the diff before committing it, since an incompatible change must be
// a decision, not a side effect.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// Updating reports whether the test runs with -update, for tests that
// regenerate reference text of their own kind (one -update flag per test
// binary: a second definition would panic).
func Updating() bool { return *update }

// Equal fails t unless got equals the file at path. With -update it writes
// got to path first (creating its folder).
func Equal(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
	}
	want := Read(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; if the change is intended and compatible, review it and run with -update\n%s", path, describe(got, want))
	}
}

// EqualDir fails t unless the folder got holds the same files, by name and
// bytes, as the golden folder path (subfolders are not compared). With
// -update it first makes path a copy of got.
func EqualDir(t testing.TB, path, got string) {
	t.Helper()
	gotFiles := files(t, got)
	if *update {
		if err := os.RemoveAll(path); err != nil {
			t.Fatalf("update golden folder: %v", err)
		}
	}
	for name, b := range gotFiles {
		Equal(t, filepath.Join(path, name), b)
	}
	want := files(t, path)
	for name := range want {
		if _, ok := gotFiles[name]; !ok {
			t.Errorf("%s: the output has no %s; if the change is intended and compatible, review it and run with -update", path, name)
		}
	}
}

// files reads the regular files of dir by name.
func files(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (create it with go test -run %s -update)", err, t.Name())
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// Read returns the contents of the golden file at path.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with go test -run %s -update)", err, t.Name())
	}
	return b
}

// describe says where got and want part: the first differing line of
// text, else the first differing byte.
func describe(got, want []byte) string {
	if utf8.Valid(got) && utf8.Valid(want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		return fmt.Sprintf("%d lines, want %d; first difference at line %d:\ngot  %q\nwant %q", len(g), len(w), i+1, line(g, i), line(w, i))
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("%d bytes, want %d; first difference at offset %d: got % x, want % x",
		len(got), len(want), i, window(got, i), window(want, i))
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

func window(b []byte, i int) []byte {
	return b[min(i, len(b)):min(i+16, len(b))]
}
