package tail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watcher turns change notifications (inotify) into work: a write to a
// file being read wakes its reader, a file or folder created, renamed or
// removed, or a write to a matched file that is not open, makes the Tailer
// scan. It watches the folders the include patterns can match files in.
type watcher struct {
	t    *Tailer
	w    *fsnotify.Watcher
	dirs map[string]bool
}

// newWatcher starts watching, or returns nil when notification is not
// available (the Tailer then polls).
func (t *Tailer) newWatcher() *watcher {
	if !*t.cfg.Watch {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Warn("file change notification is not available; polling the files",
			zap.Error(err), zap.Duration("poll_interval", t.cfg.PollInterval), zap.Duration("scan_interval", t.cfg.ScanInterval))
		return nil
	}
	return &watcher{t: t, w: w, dirs: map[string]bool{}}
}

func (w *watcher) close() { _ = w.w.Close() }

// run hands events over until ctx ends.
func (w *watcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			// an overflowed queue lost events: look at everything
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.t.wakeAll()
				w.t.scanSoon()
			}
			w.t.log.Debug("file change notification", zap.Error(err))
		}
	}
}

func (w *watcher) event(ev fsnotify.Event) {
	t := w.t
	woke := t.wake(ev.Name)
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
		t.scanSoon()
		return
	}
	if ev.Has(fsnotify.Write) && !woke && t.namedByPattern(ev.Name) {
		// a matched file that is not open (closed as inactive, or not
		// found yet): a scan opens it
		t.scanSoon()
	}
}

// update watches the folders the patterns can match files in now: each
// pattern's fixed folder and, level by level, the folders its wildcards
// match. It reports whether it added one (files made in it before the
// watch was added are found by a scan then).
func (w *watcher) update() (added bool) {
	want := map[string]bool{}
	for _, p := range w.t.cfg.Include {
		fixed := fixedDir(p)
		want[fixed] = true
		prefix := fixed
		for _, part := range strings.Split(strings.TrimPrefix(filepath.Dir(p), fixed), string(filepath.Separator)) {
			if part == "" {
				continue
			}
			prefix = filepath.Join(prefix, part)
			for _, d := range glob(prefix) {
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					want[d] = true
				}
			}
			if strings.Contains(part, "**") {
				break // it matched every folder below already
			}
		}
	}
	for d := range w.dirs {
		if !want[d] {
			_ = w.w.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.w.Add(d); err != nil {
			// not there (yet), or out of inotify watches: polling covers it
			continue
		}
		w.dirs[d] = true
		added = true
	}
	return added
}
