package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process the load program started.
type proc struct {
	name  string
	cmd   *exec.Cmd
	vars  map[string]string // the GATEPASS_* lines it printed
	start time.Time
}

// command is bin with env and args, ending with the load program however
// it ends, its stderr going to logFile.
func command(bin, logFile string, env map[string]string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	return cmd, nil
}

// startQuiet runs bin with args, its output going to logFile.
func startQuiet(name, bin, logFile string, args ...string) (*proc, error) {
	cmd, err := command(bin, logFile, nil, args...)
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &proc{name: name, cmd: cmd, vars: map[string]string{}, start: time.Now()}, nil
}

// startProc runs bin with env and args and waits (30 s at most) until it
// has printed want=…; stderr goes to logFile.
func startProc(name, bin, logFile string, env map[string]string, want string, args ...string) (*proc, error) {
	cmd, err := command(bin, logFile, env, args...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, vars: map[string]string{}, start: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && !seen {
				p.vars[k] = v
				if k == want {
					seen = true
					found <- nil
				}
			}
		}
		if !seen {
			found <- fmt.Errorf("%s exited before printing %s; see %s", name, want, logFile)
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err := <-found:
		if err != nil {
			return nil, err
		}
		return p, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not print %s within 30s; see %s", name, want, logFile)
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// usage is a process's CPU time so far and resident memory now.
type usage struct {
	CPU time.Duration
	RSS int64 // bytes
}

// sample reads /proc for the process (Linux only).
func (p *proc) sample() (usage, error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// Fields after the command name, which may hold spaces, in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return usage{}, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return usage{}, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	u := usage{CPU: time.Duration(utime+stime) * time.Second / ticks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			u.RSS = kb << 10
		}
	}
	return u, nil
}

// peakRSS is the process's high-water resident memory (VmHWM), or 0.
func peakRSS(p *proc) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
