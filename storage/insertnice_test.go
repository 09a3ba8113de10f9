package storage

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
)

// While a batch is stored, the engine's threads that store it run at
// Config.InsertNice, and none keeps it afterwards: the engine (in this
// process here) applies os_thread_priority to each thread of the query
// and resets it. Without CAP_SYS_NICE the engine ignores the setting, and
// the inserts still succeed.
func TestInsertsRunAtTheirNice(t *testing.T) {
	const nice = 13 // apart from the merge threads' 10
	s := newStoreCfg(t, func(c *Config) { c.InsertNice = nice })
	var rows SpanRows
	rows.AppendTraces(genTraces(1, 2000, 10, time.Now(), time.Millisecond), nil)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 5 && err == nil; i++ {
			err = s.InsertSpans(ctx, &rows, uniqueToken())
		}
		done <- err
	}()
	seen := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		seen += len(threadsAtNice(t, nice))
	}
	switch canNice := hasCapSysNice(t); {
	case canNice && seen == 0:
		t.Errorf("no thread of the engine ran at nice %d while 100k spans were stored", nice)
	case !canNice && seen > 0:
		t.Errorf("without CAP_SYS_NICE, threads ran at nice %d", nice)
	}
	if left := threadsAtNice(t, nice); len(left) > 0 {
		t.Errorf("after the inserts, threads %v still run at nice %d", left, nice)
	}
}

// threadsAtNice names the threads of this process at nice value nice
// ("tid:name").
func threadsAtNice(t *testing.T, nice int) []string {
	t.Helper()
	var out []string
	for _, th := range chtest.Threads(t) {
		if th.Nice == nice {
			out = append(out, th.TID+":"+th.Name)
		}
	}
	return out
}

// hasCapSysNice reports whether this process has CAP_SYS_NICE in its
// effective set (/proc/self/status CapEff, bit 23).
func hasCapSysNice(t *testing.T) bool {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return caps&(1<<23) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}
