//go:build linux || android

package slots

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the agent in its own process group (so stopping it
// stops whatever it started) and has the kernel kill it if the supervisor
// dies, so a restarted supervisor never finds two agents running.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func terminate(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
