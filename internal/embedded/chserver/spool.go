package chserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// spooler holds insert data in files while the engine reads them (FROM
// INFILE). Files go to a RAM folder (/dev/shm) while the bytes there stay
// under a budget, and to a folder on disk beyond it, so that inserts
// cannot fill the machine's memory. Both folders are private to the
// process (0700) and every file is removed when its insert ends.
type spooler struct {
	memDir  string // "" when there is no RAM folder
	diskDir string
	budget  int64        // bytes allowed in memDir at once
	inMem   atomic.Int64 // bytes in memDir now
}

// spooled is one request's data in a file.
type spooled struct {
	path string
	size int64
	mem  int64 // bytes of the budget it holds
	s    *spooler
}

// release removes the file and returns its share of the budget.
func (f *spooled) release() {
	_ = os.Remove(f.path)
	f.s.inMem.Add(-f.mem)
}

const spoolChunk = 1 << 20

// spool copies r into a file. Bytes go to the RAM folder as long as the
// budget has room for them; when it has none, what was written so far
// moves to disk and the rest follows it there.
func (s *spooler) spool(r io.Reader) (*spooled, error) {
	dir, inMem := s.memDir, s.memDir != ""
	f, err := os.CreateTemp(dirOr(dir, s.diskDir), "insert-*.bin")
	if err != nil {
		return nil, fmt.Errorf("spool insert data: %w", err)
	}
	out := &spooled{path: f.Name(), s: s}
	fail := func(err error) (*spooled, error) {
		f.Close()
		out.release()
		return nil, err
	}
	buf := make([]byte, spoolChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if inMem && !s.reserve(int64(n)) {
				// Over budget: continue on disk with what is there so far.
				df, err := s.moveToDisk(f, out)
				if err != nil {
					return fail(err)
				}
				f, inMem = df, false
			} else if inMem {
				out.mem += int64(n)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return fail(fmt.Errorf("spool insert data: %w", err))
			}
			out.size += int64(n)
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if err := f.Close(); err != nil {
		out.release()
		return nil, fmt.Errorf("spool insert data: %w", err)
	}
	return out, nil
}

// reserve takes n bytes of the RAM budget, if it has them.
func (s *spooler) reserve(n int64) bool {
	if s.inMem.Add(n) > s.budget {
		s.inMem.Add(-n)
		return false
	}
	return true
}

// moveToDisk copies the RAM file f to a new file on disk, removes f and
// gives its bytes back to the budget.
func (s *spooler) moveToDisk(f *os.File, out *spooled) (*os.File, error) {
	df, err := os.CreateTemp(s.diskDir, "insert-*.bin")
	if err != nil {
		return nil, fmt.Errorf("spool insert data to disk: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		_, err = io.Copy(df, f)
	}
	if err != nil {
		df.Close()
		os.Remove(df.Name())
		return nil, fmt.Errorf("spool insert data to disk: %w", err)
	}
	f.Close()
	out.release() // the RAM file and its budget
	out.path, out.mem = df.Name(), 0
	return df, nil
}

func dirOr(dir, fallback string) string {
	if dir != "" {
		return dir
	}
	return fallback
}

// newSpooler makes a private folder for RAM spooling under memRoot
// (default /dev/shm, else the system temp folder) and uses diskDir, which
// it empties of files a crashed process left, beyond the budget.
func newSpooler(memRoot, diskDir string, budget int64) (*spooler, error) {
	s := &spooler{diskDir: diskDir, budget: budget}
	if stale, err := filepath.Glob(filepath.Join(diskDir, "insert-*.bin")); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	if budget < 0 {
		return s, nil
	}
	if memRoot == "" {
		memRoot = os.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			memRoot = "/dev/shm"
		}
	}
	removeStaleSpools(memRoot)
	dir, err := os.MkdirTemp(memRoot, fmt.Sprintf("flowlens-spool-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("create insert spool folder in %s: %w", memRoot, err)
	}
	s.memDir = dir
	return s, nil
}

// removeStaleSpools deletes the RAM spool folders of processes that ended
// without removing theirs (killed): RAM is not given back otherwise.
func removeStaleSpools(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "flowlens-spool-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(strings.TrimPrefix(filepath.Base(d), "flowlens-spool-"), "-")[0])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// remove deletes the RAM folder.
func (s *spooler) remove() {
	if s.memDir != "" {
		_ = os.RemoveAll(s.memDir)
	}
}
