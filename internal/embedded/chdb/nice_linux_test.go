package chdb

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// threadNice is a thread's nice value, from /proc; false when the thread
// is gone.
func threadNice(tid int) (int, bool) {
	stat, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	nice, err := strconv.Atoi(f[16]) // field 19 of stat, counted after the name
	return nice, err == nil
}

// Only the threads with the given name get the nice value; the others,
// Go's included, keep theirs.
func TestReniceThreadsByName(t *testing.T) {
	name := "flNice" + strconv.Itoa(int(time.Now().UnixNano()%1e8)) // unique: named threads may outlive a run
	ready, done := make(chan int), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		b := append([]byte(name), 0)
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0); errno != 0 {
			t.Errorf("name the thread: %v", errno)
		}
		ready <- syscall.Gettid()
		<-done
	}()
	tid := <-ready
	defer close(done)
	before := allNices(t)

	if n := reniceThreads(name, 7); n != 1 {
		t.Fatalf("reniced %d threads, want 1", n)
	}
	if got, _ := threadNice(tid); got != 7 {
		t.Errorf("named thread: nice %d, want 7", got)
	}
	// The others, Go's and the engine's (which sets some itself), keep theirs.
	for other, nice := range allNices(t) {
		if was, ok := before[other]; ok && other != tid && nice != was {
			t.Errorf("thread %d: nice %d, want %d as before", other, nice, was)
		}
	}
}

// allNices is the nice value of every thread of this process, by tid.
func allNices(t *testing.T) map[int]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int]int, len(tasks))
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if nice, ok := threadNice(tid); ok {
			out[tid] = nice
		}
	}
	return out
}
