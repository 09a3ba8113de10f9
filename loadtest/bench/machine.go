package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MachineStats says how fast and how contended the machine was, so that
// runs made at different times can be told apart: on a shared VM the same
// build has needed 30-40% more CPU for the same work an hour later, with
// no steal time showing in /proc/stat.
type MachineStats struct {
	// Calibration is the best of three runs of a fixed single-core
	// workload (sorting and hashing), timed before the components start.
	// Higher means a slower machine.
	Calibration time.Duration
	// CPUWaited and IOWaited are the share of the window during which at
	// least one task was runnable but waiting for a core, or waiting for
	// I/O (the kernel's pressure stall information, "some"). Negative when
	// the kernel does not report it.
	CPUWaited, IOWaited float64
}

// Calibrate times a fixed single-core workload three times and returns
// the fastest: a measure of how fast the machine is at the moment (higher
// is slower), to tell runs on a busy machine apart.
func Calibrate() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		fixedWork()
		best = min(best, time.Since(t0))
	}
	return best
}

// calibrationSink keeps fixedWork's result alive, so the compiler cannot
// drop the work.
var calibrationSink uint64

// fixedWork is the same amount of branchy, memory-bound work every time,
// like the pipeline's Go code: sort a million pseudo-random numbers and
// count a quarter of them in a map.
func fixedWork() {
	const n = 1 << 20
	v := make([]uint64, n)
	x := uint64(88172645463325252)
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = x
	}
	slices.Sort(v)
	m := make(map[uint64]uint32, n/4)
	for _, k := range v[:n/4] {
		m[k>>3]++
	}
	calibrationSink += v[n/2] + uint64(len(m))
}

// pressureTotals reads the "some" totals of /proc/pressure/cpu and io.
func pressureTotals() (cpuWait, ioWait time.Duration, ok bool) {
	cpuWait, err1 := readPressureFile("/proc/pressure/cpu")
	ioWait, err2 := readPressureFile("/proc/pressure/io")
	return cpuWait, ioWait, err1 == nil && err2 == nil
}

func readPressureFile(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parsePressure(f)
}

// parsePressure returns the "some" line's total (microseconds) of a
// pressure stall file:
//
//	some avg10=66.08 avg60=60.37 avg300=58.65 total=18724258424
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func parsePressure(r io.Reader) (time.Duration, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "some" {
			continue
		}
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("pressure total %q: %w", v, err)
				}
				return time.Duration(us) * time.Microsecond, nil
			}
		}
		return 0, fmt.Errorf("pressure: no total in %q", sc.Text())
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pressure: no \"some\" line")
}
