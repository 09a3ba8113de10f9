//go:build !linux

package journald

import "os/exec"

// dieWithParent: only Linux has the journal.
func dieWithParent(*exec.Cmd) {}
