// Package chdb binds libchdb, the ClickHouse engine built as a shared library,
// without cgo. The library is loaded lazily by Load, so importing this package
// never fails; a missing library is an error that says how to get it.
//
// The engine keeps process-wide state: one process can hold connections to
// one data folder at a time (a connection to a second folder fails), and a
// second process on the same folder is refused by the engine's own lock.
// Engine (engine.go) enforces both with clear errors.
package chdb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Version is the engine package version that scripts/fetch-chdb.sh installs.
const Version = "26.5.3"

// LibrarySHA256 is the sha256 of the libchdb.so of Version (npm package
// @chdb/lib-linux-x64-gnu), the file scripts/fetch-chdb.sh unpacks from the
// package it verified. Load checks it every time the library is loaded: the
// library runs with all of the process's rights, and the cache it lives in
// outlasts the fetch that verified it.
const LibrarySHA256 = "4330da79405733f7572f27c1442f46c03a08301f00859dce0368645731b1e1dc"

var (
	// ErrLibraryMissing is returned when libchdb.so cannot be found.
	ErrLibraryMissing = errors.New("ClickHouse engine library (libchdb.so) not found")
	// ErrLibraryChecksum is returned when libchdb.so is not the expected file.
	ErrLibraryChecksum = errors.New("ClickHouse engine library (libchdb.so) is not the expected file")
)

// expectedSHA256 is the digest Load wants: LibrarySHA256, or
// $CHDB_LIB_SHA256 for another build of the engine (with CHDB_LIB_PATH).
func expectedSHA256() string {
	if v := os.Getenv("CHDB_LIB_SHA256"); v != "" {
		return v
	}
	return LibrarySHA256
}

// DefaultLibraryPath returns $CHDB_LIB_PATH, or the cache path that
// scripts/fetch-chdb.sh (run by `make setup`) installs to.
func DefaultLibraryPath() string {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "flowlens", "chdb-"+Version, "libchdb.so")
}

// Library holds the resolved entry points of a loaded libchdb.
type Library struct {
	path string
	file *os.File // the verified library, open while it is loaded

	chdbConnect       func(argc int, argv **byte) unsafe.Pointer
	closeConn         func(conn unsafe.Pointer)
	queryWithParamsN  func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, count uintptr) unsafe.Pointer
	resultBuffer      func(res unsafe.Pointer) unsafe.Pointer
	resultLength      func(res unsafe.Pointer) uintptr
	resultError       func(res unsafe.Pointer) unsafe.Pointer
	resultRowsRead    func(res unsafe.Pointer) uint64
	resultBytesRead   func(res unsafe.Pointer) uint64
	resultElapsed     func(res unsafe.Pointer) float64
	destroyResult     func(res unsafe.Pointer)
	setSignalHandlers func(enabled int32)

	sigaction func(sig int32, act, oact unsafe.Pointer) int32

	// sigMu serialises keepGoSignalHandlers: two interleaved save/restore
	// pairs could save the engine's SIG_DFL and restore it over Go's handlers.
	sigMu sync.Mutex
}

// The library is process-wide: dlopen returns the same handle every time, and
// the engine inside it has one global state. These mirror that state.
var (
	loadMu  sync.Mutex
	loaded  *Library
	loadErr error
)

// Load opens libchdb at path (DefaultLibraryPath when empty) after checking
// that it is the expected file (LibrarySHA256, or $CHDB_LIB_SHA256), that
// only its owner (this user or root) can write it, and loads exactly the
// bytes it checked. It is safe to call many times; the first successful load
// wins for the process.
func Load(path string) (*Library, error) {
	fromEnv := false
	if path == "" {
		path = DefaultLibraryPath()
		fromEnv = os.Getenv("CHDB_LIB_PATH") != ""
	}
	// A path that is not a library is the first thing to tell, whatever
	// this process loaded before.
	if err := checkLibraryPath(path, fromEnv); err != nil {
		return nil, err
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil {
		if loaded.path != path {
			return nil, fmt.Errorf("load %s: this process already loaded the engine from %s", path, loaded.path)
		}
		return loaded, nil
	}
	lib, err := open(path, expectedSHA256())
	if err != nil {
		if fromEnv {
			return nil, fmt.Errorf("%w (the file CHDB_LIB_PATH names: point it at chDB %s's libchdb.so, or unset it to use the one `make setup` fetches)", err, Version)
		}
		return nil, err
	}
	loaded = lib
	return lib, nil
}

// checkLibraryPath says clearly what is wrong with a library path that is
// missing or a folder, and where the path came from.
func checkLibraryPath(path string, fromEnv bool) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.IsDir():
		return nil
	case fromEnv && err == nil:
		return fmt.Errorf("%w: CHDB_LIB_PATH=%s is a folder; point it at the libchdb.so file (%s)", ErrLibraryMissing, path, filepath.Join(path, "libchdb.so"))
	case fromEnv:
		return fmt.Errorf("%w: CHDB_LIB_PATH=%s does not exist; point it at libchdb.so, or unset it to use the one `make setup` fetches", ErrLibraryMissing, path)
	case err == nil:
		return fmt.Errorf("%w: %s is a folder, not the library file", ErrLibraryMissing, path)
	}
	return fmt.Errorf("%w at %s: run `make setup` (or scripts/fetch-chdb.sh) to fetch it, or set CHDB_LIB_PATH", ErrLibraryMissing, path)
}

// open checks the library at path against wantSHA256 and loads it.
func open(path, wantSHA256 string) (lib *Library, err error) {
	f, err := openVerified(path, wantSHA256)
	if err != nil {
		return nil, err
	}
	// Load the file that was hashed, through its descriptor, not whatever
	// the path names a moment later. The descriptor stays open for the
	// life of the process: the engine reads its own file again by that
	// name (symbols for stack traces).
	self := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if _, err := os.Stat(self); err != nil {
		self = path // no /proc: the owner-only check above still holds
	}
	h, err := purego.Dlopen(self, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("load ClickHouse engine %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("load libc for sigaction: %w", err)
	}
	// RegisterLibFunc panics on a missing symbol (an engine of another
	// version); turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			lib, err = nil, fmt.Errorf("load ClickHouse engine %s: %v (expected chDB %s)", path, r, Version)
		}
	}()
	l := &Library{path: path, file: f}
	purego.RegisterLibFunc(&l.chdbConnect, h, "chdb_connect")
	purego.RegisterLibFunc(&l.closeConn, h, "chdb_close_conn")
	purego.RegisterLibFunc(&l.queryWithParamsN, h, "chdb_query_with_params_n")
	purego.RegisterLibFunc(&l.resultBuffer, h, "chdb_result_buffer")
	purego.RegisterLibFunc(&l.resultLength, h, "chdb_result_length")
	purego.RegisterLibFunc(&l.resultError, h, "chdb_result_error")
	purego.RegisterLibFunc(&l.resultRowsRead, h, "chdb_result_rows_read")
	purego.RegisterLibFunc(&l.resultBytesRead, h, "chdb_result_bytes_read")
	purego.RegisterLibFunc(&l.resultElapsed, h, "chdb_result_elapsed")
	purego.RegisterLibFunc(&l.destroyResult, h, "chdb_destroy_query_result")
	purego.RegisterLibFunc(&l.setSignalHandlers, h, "chdb_set_signal_handlers_enabled")
	purego.RegisterLibFunc(&l.sigaction, libc, "sigaction")

	// The engine installs its own handlers for SIGSEGV, SIGBUS, ... which the
	// Go runtime needs (nil checks, preemption). Opting out resets those
	// signals to SIG_DFL as a side effect, so keep Go's handlers around it.
	l.keepGoSignalHandlers(func() { l.setSignalHandlers(0) })
	return l, nil
}

// openVerified opens path and checks that it is a regular file only its
// owner (this user or root) may write, with the sha256 wantSHA256.
func openVerified(path, wantSHA256 string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrLibraryMissing, path, err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("stat ClickHouse engine %s: %w", path, err))
	}
	if !st.Mode().IsRegular() {
		return fail(fmt.Errorf("%w: %s is not a regular file", ErrLibraryChecksum, path))
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fail(fmt.Errorf("%w: %s is writable by other users (mode %v); run chmod go-w on it", ErrLibraryChecksum, path, st.Mode().Perm()))
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fail(fmt.Errorf("%w: %s belongs to user %d, not to this user or root", ErrLibraryChecksum, path, sys.Uid))
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return fail(fmt.Errorf("read ClickHouse engine %s: %w", path, err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		return fail(fmt.Errorf("%w: %s has sha256 %s, want %s (run `make setup` to fetch it again; for another engine build set CHDB_LIB_SHA256)",
			ErrLibraryChecksum, path, got, wantSHA256))
	}
	return f, nil
}

// sigactionSize is larger than struct sigaction on every Linux libc.
const sigactionSize = 256

var goOwnedSignals = []syscall.Signal{
	syscall.SIGILL, syscall.SIGABRT, syscall.SIGFPE, syscall.SIGBUS,
	syscall.SIGSEGV, syscall.SIGSYS, syscall.SIGTRAP, syscall.SIGTSTP, syscall.SIGURG,
}

// keepGoSignalHandlers runs fn and restores the signal handlers fn may reset.
func (l *Library) keepGoSignalHandlers(fn func()) {
	l.sigMu.Lock()
	defer l.sigMu.Unlock()
	saved := make([][sigactionSize]byte, len(goOwnedSignals))
	for i, s := range goOwnedSignals {
		l.sigaction(int32(s), nil, unsafe.Pointer(&saved[i][0]))
	}
	fn()
	for i, s := range goOwnedSignals {
		l.sigaction(int32(s), unsafe.Pointer(&saved[i][0]), nil)
	}
}

// cstring returns a NUL-terminated copy of s.
func cstring(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}
