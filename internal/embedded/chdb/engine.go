package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrFolderInUse is returned when another process owns the data folder.
var ErrFolderInUse = errors.New("data folder is in use by another process")

// openFolder is the data folder this process has an Engine on. The engine
// library supports one folder per process, so this mirrors its global state.
var (
	folderMu   sync.Mutex
	openFolder string
	openCount  int
)

// Options say which engine to start where.
type Options struct {
	// LibPath is libchdb.so; empty means DefaultLibraryPath.
	LibPath string
	// DataDir holds the engine's databases. It is created 0700 and, if it
	// exists with wider permissions, narrowed to 0700: the engine writes
	// its files with the process's umask.
	DataDir string
	// ConfigFile is a ClickHouse server configuration (XML) the engine
	// reads when it starts in this process (users, grants, paths); empty
	// means the engine's own defaults: one user with every right.
	ConfigFile string
}

// Engine is the embedded ClickHouse engine on one data folder. It owns an
// exclusive lock on the folder and hands out sessions. Safe for concurrent use.
type Engine struct {
	lib    *Library
	dir    string
	args   []string // argv of every session
	lock   *os.File
	anchor *Conn // keeps the engine instance alive between sessions
	once   sync.Once
	stop   chan struct{} // closed by Close: ends NiceThreads
}

// Open starts the engine on o.DataDir, creating it if needed. A second Open
// of the same folder in this process shares the engine (and the
// configuration of the first); a different folder, or a folder another
// process holds, is refused with a clear error.
func Open(o Options) (*Engine, error) {
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data folder %s: %w", o.DataDir, err)
	}
	folderMu.Lock()
	defer folderMu.Unlock()
	if openFolder != "" && openFolder != abs {
		return nil, fmt.Errorf("open ClickHouse engine on %s: this process already has the engine open on %s (the engine supports one data folder per process)", abs, openFolder)
	}
	lib, err := Load(o.LibPath)
	if err != nil {
		return nil, err
	}
	if err := PrivateDir(abs); err != nil {
		return nil, err
	}
	lock, err := lockFolder(abs)
	if err != nil {
		return nil, err
	}
	args := []string{"clickhouse", "--path=" + abs}
	if o.ConfigFile != "" {
		args = append(args, "--config-file="+o.ConfigFile)
	}
	anchor, err := lib.connect(args)
	if err != nil {
		unlockFolder(lock)
		return nil, fmt.Errorf("connect to ClickHouse engine at %s: %w", abs, err)
	}
	openFolder = abs
	openCount++
	return &Engine{lib: lib, dir: abs, args: args, lock: lock, anchor: anchor, stop: make(chan struct{})}, nil
}

// PrivateDir creates dir (and missing parents) readable by this user only,
// and narrows an existing dir that others may read or enter to 0700.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, st.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("make folder %s private (chmod 0700): %w", dir, err)
		}
	}
	return nil
}

// Dir is the engine's data folder.
func (e *Engine) Dir() string { return e.dir }

// Session opens a fresh engine session; the caller must Close it.
func (e *Engine) Session() (*Conn, error) {
	c, err := e.lib.connect(e.args)
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse engine at %s: %w", e.dir, err)
	}
	return c, nil
}

// Query runs one query on a fresh session and returns a copy of the output.
func (e *Engine) Query(query, format string, params ...Param) ([]byte, error) {
	c, err := e.Session()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := c.Query(query, format, params)
	if err != nil {
		return nil, err
	}
	defer r.Free()
	return append([]byte(nil), r.Data...), nil
}

// Close shuts the engine down and releases the folder.
func (e *Engine) Close() error {
	e.once.Do(func() {
		close(e.stop)
		folderMu.Lock()
		defer folderMu.Unlock()
		e.anchor.Close()
		unlockFolder(e.lock)
		openCount--
		if openCount == 0 {
			openFolder = ""
		}
	})
	return nil
}

// lockFileName is the file in a data folder that lockFolder locks.
const lockFileName = "flowlens.lock"

// IsDataFolder reports whether dir holds an engine's data: one this
// package has opened (its lock file is there), or a ClickHouse data folder
// (metadata/ and store/).
func IsDataFolder(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, lockFileName)); err == nil {
		return true
	}
	m, err := os.Stat(filepath.Join(dir, "metadata"))
	if err != nil || !m.IsDir() {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, "store"))
	return err == nil && st.IsDir()
}

// lockFolder takes an exclusive, non-blocking lock on dir/flowlens.lock so a
// second process fails at once with the owner's pid instead of hanging.
// Within one process the same folder may be opened again (flock is per open
// file description, so a second lock in this process would also conflict;
// callers share one Engine instead).
func lockFolder(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(p)
		f.Close()
		pid := strings.TrimSpace(string(owner))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("open ClickHouse engine on %s: %w (pid %s); stop it or use another --data-dir", dir, ErrFolderInUse, pid)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func unlockFolder(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
