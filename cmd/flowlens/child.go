package main

import (
	"encoding/json"
	"os"
	"os/exec"
)

// childArgsEnv carries the command line of a flowlens child process that
// flowlens starts itself (`flowlens up`'s broker): main runs it instead of
// os.Args, and so does a test binary's TestMain, whose os.Args are the test
// runner's.
const childArgsEnv = "FLOWLENS_CHILD_ARGS"

// childArgs returns the command line a parent flowlens gave this process,
// and forgets it, so that a grandchild does not inherit it.
func childArgs() ([]string, bool) {
	raw, ok := os.LookupEnv(childArgsEnv)
	if !ok {
		return nil, false
	}
	_ = os.Unsetenv(childArgsEnv)
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		return nil, false
	}
	return args, true
}

// childCommand runs this same program with args (as argv too, for ps); its
// log goes to this process's stderr.
func childCommand(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	raw, _ := json.Marshal(args)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	return cmd
}
