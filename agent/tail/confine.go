package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"
)

// A log folder is often writable by the application that logs there, so a
// symbolic link named like a log (app.log -> /etc/shadow, or a folder
// link matched by a wildcard) would make the agent read, and ship to
// Kafka, a file it may read but was never told to. A matched path is read
// only where it really leads to a file the include patterns name: its
// fully resolved path must match a pattern whose fixed leading folders are
// resolved too (/var/log may itself be a link; that part of a pattern is
// the administrator's choice, the rest is not).

// errOutsideInclude refuses a path whose resolved file no include pattern names.
var errOutsideInclude = fmt.Errorf("resolves outside the include patterns")

// resolvedIncludes are the include patterns with their fixed leading
// folders resolved, computed at every scan (a folder link may change).
func (t *Tailer) resolvedIncludes() []string {
	out := make([]string, 0, len(t.cfg.Include))
	for _, p := range t.cfg.Include {
		fixed := fixedDir(p)
		real, err := filepath.EvalSymlinks(fixed)
		if err != nil {
			out = append(out, p) // nothing there yet: nothing matches through it
			continue
		}
		out = append(out, filepath.Join(real, strings.TrimPrefix(p, fixed)))
	}
	return out
}

// fixedDir is the longest leading folder of pattern p without glob
// characters.
func fixedDir(p string) string {
	dir := filepath.Dir(p)
	for strings.ContainsAny(dir, `*?[{\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// confine returns the real path of path when an include pattern (resolved)
// matches it and no exclude pattern does.
func (t *Tailer) confine(path string, includes []string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	if !t.named(real, includes) {
		return "", fmt.Errorf("%s -> %s: %w", path, real, errOutsideInclude)
	}
	return real, nil
}

func (t *Tailer) named(real string, includes []string) bool {
	if t.excluded(real) {
		return false
	}
	for _, p := range includes {
		if doublestar.PathMatchUnvalidated(p, real) {
			return true
		}
	}
	return false
}

// openConfined opens the real path of a matched path without following a
// link in its last element, and checks again where the open file really
// is: a folder swapped for a link between the check and the open is
// caught (on Linux, through /proc/self/fd).
func (t *Tailer) openConfined(path string, includes []string) (*os.File, error) {
	real, err := t.confine(path, includes)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if opened, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil && opened != real && !t.named(opened, includes) {
		f.Close()
		return nil, fmt.Errorf("%s opened as %s: %w", path, opened, errOutsideInclude)
	}
	return f, nil
}
