package chtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ on Linux: the unit of /proc/<pid>/task/*/stat.
const clockTicks = 100

// CPUSample is the CPU this process has used so far, split into the
// embedded engine's own threads and the rest (Go: collector, broker, HTTP
// client and endpoint). Benchmarks take one before and one after and
// report the difference, so each side's share is visible.
type CPUSample struct {
	Total   float64 // seconds, whole process
	Engine  float64 // seconds, threads the engine named itself
	threads map[string]float64
}

// SampleCPU reads the process's CPU time and its engine threads'.
func SampleCPU() CPUSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := CPUSample{
		Total:   time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(),
		threads: map[string]float64{},
	}
	// Every Go thread carries the executable's name (cut to 15 bytes by
	// the kernel); the engine names its threads after their pools.
	goName := filepath.Base(os.Args[0])
	if len(goName) > 15 {
		goName = goName[:15]
	}
	stats, _ := filepath.Glob("/proc/self/task/*/stat")
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended meanwhile
		}
		open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if open < 0 || end < 0 || end+2 > len(data) || string(data[open+1:end]) == goName {
			continue
		}
		f := strings.Fields(string(data[end+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		sec := (ut + st) / clockTicks
		s.threads[path] = sec
		s.Engine += sec
	}
	return s
}

// Since returns the CPU used between s and now: total, and the engine's.
// Engine threads that ended in between are not counted (their time is in
// the total).
func (s CPUSample) Since() (total, engine float64) {
	now := SampleCPU()
	for path, sec := range now.threads {
		engine += sec - s.threads[path]
	}
	return now.Total - s.Total, engine
}
