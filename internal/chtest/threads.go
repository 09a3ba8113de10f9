package chtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Thread is one thread of this process, as /proc/self/task shows it.
type Thread struct {
	TID  string
	Name string // the engine names its threads after their pools ("MergeMutate")
	Nice int
}

// Threads lists this process's threads (those that end while it reads are
// left out): the embedded engine runs in the test's process, so tests see
// the nice values it gives its threads.
func Threads(t testing.TB) []Thread {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Thread, 0, len(tasks))
	for _, task := range tasks {
		stat, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < 0 || end+2 > len(s) {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) < 17 {
			continue
		}
		nice, err := strconv.Atoi(f[16]) // field 19 of stat, counted after the name
		if err != nil {
			t.Fatalf("thread %s: nice %q: %v", task.Name(), f[16], err)
		}
		out = append(out, Thread{TID: task.Name(), Name: s[open+1 : end], Nice: nice})
	}
	return out
}
