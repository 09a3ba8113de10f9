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

// threadNice is a thread's nice value, from /proc.
func threadNice(t *testing.T, tid int) int {
	t.Helper()
	stat, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	nice, err := strconv.Atoi(f[16]) // field 19 of stat, counted after the name
	if err != nil {
		t.Fatal(err)
	}
	return nice
}

// Only the threads with the given name get the nice value; the others,
// Go's included, keep theirs.
func TestReniceThreadsByName(t *testing.T) {
	name := "flNice" + strconv.Itoa(int(time.Now().UnixNano()%1e8)) // unique: named threads may outlive a run
	base := threadNice(t, syscall.Gettid())
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

	if n := reniceThreads(name, 7); n != 1 {
		t.Fatalf("reniced %d threads, want 1", n)
	}
	if got := threadNice(t, tid); got != 7 {
		t.Errorf("named thread: nice %d, want 7", got)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		other, _ := strconv.Atoi(task.Name())
		if other != tid {
			if got := threadNice(t, other); got != base && got != 7 {
				t.Errorf("thread %d: nice %d, want %d as before", other, got, base)
			}
		}
	}
}
