package chdb

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies a real shared library the loader would accept, so a
// refusal can only come from the check.
func copyFile(t *testing.T, src string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "libchdb.so")
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A library that is not the fetched engine (replaced or altered in the
// cache after `make setup` checked it) is refused before it is loaded.
func TestLoadRefusesAnotherLibrary(t *testing.T) {
	other := copyFile(t, "/lib/x86_64-linux-gnu/libm.so.6", 0o755)
	_, err := open(other, LibrarySHA256)
	if !errors.Is(err, ErrLibraryChecksum) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("want a checksum refusal, got %v", err)
	}
}

// A library other users could overwrite is refused even when its bytes
// are right now: they could change before the next start.
func TestLoadRefusesWritableByOthers(t *testing.T) {
	lib := copyFile(t, "/lib/x86_64-linux-gnu/libm.so.6", 0o777)
	_, err := open(lib, LibrarySHA256)
	if !errors.Is(err, ErrLibraryChecksum) || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("want a refusal naming the permissions, got %v", err)
	}
}

// The engine's folder is private: created 0700, an existing open one is
// narrowed, and the lock file is 0600.
func TestDataFolderPrivate(t *testing.T) {
	e := engine(t)
	st, err := os.Stat(e.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("data folder mode %v, want 0700", st.Mode().Perm())
	}
	lock, err := os.Stat(filepath.Join(e.Dir(), "flowlens.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if lock.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v, want 0600", lock.Mode().Perm())
	}
	open := filepath.Join(t.TempDir(), "old")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(filepath.Join(open, "new")); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(open); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{open, filepath.Join(open, "new")} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", d, st.Mode().Perm())
		}
	}
}
