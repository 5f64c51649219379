// Package localproc owns what the private development and test servers (store/localpg's
// PostgreSQL, realtime/localredis's Redis) have in common as processes: a loopback port, chosen
// free and remembered in the server's directory so the next run gets the same URL; waiting until
// a starting server answers (or its process exits); whether a pid from a pid file is still a
// live process; the tail of a server's log for an error message; and running the server's tools
// as an unprivileged system user when we are root, as PostgreSQL requires. It is never used in
// production.
package localproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FreePort asks the kernel for a free loopback port. Another process could grab it before the
// server binds it; the server's start then fails, with its log tail.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether nothing listens on the loopback port.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func portFile(dir string) string { return filepath.Join(dir, "port") }

// LastPort is the port recorded in dir by a previous ChoosePort, or 0.
func LastPort(dir string) int { return ReadInt(portFile(dir)) }

// ChoosePort picks the port for a server whose files live in dir, and records it there: port
// itself unless it is 0; else the port used last time for dir if it is free; else any free
// loopback port.
func ChoosePort(dir string, port int) (int, error) {
	if port == 0 {
		port = LastPort(dir)
		if port == 0 || !PortFree(port) {
			var err error
			if port, err = FreePort(); err != nil {
				return 0, err
			}
		}
	}
	if err := os.WriteFile(portFile(dir), []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return 0, err
	}
	return port, nil
}

// ReadInt is the number on the first line of file (a port or pid file), or 0.
func ReadInt(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return n
}

// ErrExited is what Wait returns, wrapped with the process's exit status, when the server's
// process ends before it answers (a port already taken, say).
var ErrExited = errors.New("exited during start-up")

// Wait calls answers every interval until it returns nil, the process ends (exited delivers; nil
// for a process that is not ours to watch), or ctx ends.
func Wait(ctx context.Context, every time.Duration, exited <-chan error, answers func(context.Context) error) error {
	for {
		err := answers(ctx)
		if err == nil {
			return nil
		}
		select {
		case status := <-exited:
			return fmt.Errorf("%w (%v)", ErrExited, status)
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(every):
		}
	}
}

// ProcessAlive reports whether pid exists and is not a zombie. A server that died or was killed
// may linger as a zombie if nobody reaps it (in containers, say), and its pid file then names a
// pid that still exists.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	// Format: pid (comm) state ...; comm may contain spaces or parentheses.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// LogTail is the end of a server's log file, formatted for an error message ("" if it is empty).
func LogTail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return "\n--- tail of " + file + " ---\n" + string(b)
}

// Runner runs a server's tools as the right user: as root it switches to an unprivileged system
// user (PostgreSQL refuses to run as root); otherwise it runs them as we are.
type Runner struct {
	cred *syscall.Credential // nil: run as the current user
}

// RunnerAs is a Runner that, when we are root, runs as the system user name.
func RunnerAs(name string) (Runner, error) {
	if os.Geteuid() != 0 {
		return Runner{}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return Runner{}, fmt.Errorf("running as root but there is no %s system user to run the server as: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Runner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// Command is the command to run a tool, in its own process group (a Ctrl-C aimed at `go test` or
// `make run` must not hit it half-way through starting the server), from / (the tools fail if
// they cannot read the working directory, e.g. /root).
func (r Runner) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: r.cred}
	cmd.Dir = "/"
	// Should a child the tool starts keep our output pipe open, don't wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// PrepareDirs creates dirs (0700) and, when switching users, hands them to that user and checks
// that it can reach them at all: every ancestor must be searchable by it, otherwise the server
// fails with a confusing "permission denied".
func (r Runner) PrepareDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if r.cred == nil {
		return nil
	}
	uid, gid := int(r.cred.Uid), int(r.cred.Gid)
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	for _, dir := range dirs {
		for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			perm := fi.Mode().Perm()
			ok := perm&0o001 != 0 ||
				(int(st.Uid) == uid && perm&0o100 != 0) ||
				(int(st.Gid) == gid && perm&0o010 != 0)
			if !ok {
				return fmt.Errorf("the server's user (uid %d) cannot traverse %s (mode %v), so it cannot reach %s; use a directory under a world-searchable path (e.g. /tmp) or chmod o+x %s", uid, d, perm, dir, d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// TempDir makes a fresh directory for a test's server, removed when the test ends, that the
// server's user can traverse when we are root: t.TempDir's parent is private to us, so a server
// run as the postgres user could not reach it.
func TempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
