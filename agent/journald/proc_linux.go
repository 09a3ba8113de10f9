package journald

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes journalctl end when the agent does, also on kill -9
// (else a --follow journalctl would wait on forever).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
