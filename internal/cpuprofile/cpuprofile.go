// Package cpuprofile writes a Go CPU profile of a whole command, for the
// --cpu-profile flag both binaries have: profiling a component where it
// runs, under its real load, is how its hot paths were found.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start profiles into path until the returned stop is called; with an
// empty path it does nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
