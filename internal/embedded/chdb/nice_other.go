//go:build !linux

package chdb

// NiceThreads does nothing here: thread names and per-thread nice values
// are read and set through Linux's /proc and setpriority.
func (e *Engine) NiceThreads(name string, nice int) {}
