package chdb

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// reniceEvery is how often new engine threads are looked for: its pools
// start threads lazily and may replace them.
const reniceEvery = 2 * time.Second

// NiceThreads sets the nice value of this process's threads named name
// (the engine names its threads: merges run in "MergeMutate"), now and
// every reniceEvery until the engine is closed. It is what the server's
// os_threads_nice_value_merge_mutate does, which the embedded library does
// not read. Raising a thread's nice value needs no privilege; lowering it
// below the process's does, and fails silently here.
func (e *Engine) NiceThreads(name string, nice int) {
	go func() {
		t := time.NewTicker(reniceEvery)
		defer t.Stop()
		for {
			reniceThreads(name, nice)
			select {
			case <-e.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// reniceThreads sets nice on every thread of this process named name and
// returns how many it set.
func reniceThreads(name string, nice int) int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "comm"))
		if err != nil || string(bytes.TrimSpace(comm)) != name {
			continue
		}
		// The thread's nice value: a tid is a process id to setpriority.
		if syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice) == nil {
			n++
		}
	}
	return n
}
