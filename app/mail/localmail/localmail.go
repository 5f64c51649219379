// Package localmail starts a private Mailpit (a mail catcher with a web inbox and an HTTP API) on
// loopback ports, for `make run` and the tests; it is never used in production.
//
// The binary is built through the Go module proxy into the module's .data/bin (`make mailpit`,
// or Start itself when it is missing), pinned to Version, and kept out of go.mod: it is a tool
// we run, not code we link. Like localredis's server, one started for `make run` runs detached
// and the next Start on the same directory reuses it.
package localmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"securemessages/store/localproc"
)

// Version is the Mailpit release `make mailpit` and Start build.
const Version = "v1.33.1"

// Options change how the catcher answers.
type Options struct {
	// AllowedRecipients, a regular expression, makes the server refuse (550) every recipient
	// that does not match it: a mail server that rejects an address, for tests.
	AllowedRecipients string
}

// Server is a running Mailpit.
type Server struct {
	SMTPPort, WebPort int
	SMTPURL           string // smtp://127.0.0.1:PORT?tls=none, for SMTP_URL
	WebURL            string // the web inbox; its API is under /api/v1
	Dir               string

	bin   string
	opts  Options
	cmd   *exec.Cmd
	owned bool
}

// Start starts (or reuses) a Mailpit whose database and log live under dir, on free loopback
// ports (those of the last run in dir when they are free).
func Start(ctx context.Context, dir string, opts Options) (*Server, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("localmail: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localmail: %w", err)
	}
	s := &Server{Dir: dir, bin: bin, opts: opts}
	smtp, web := readPorts(dir)
	if smtp > 0 && web > 0 {
		s.setPorts(smtp, web)
		if s.answers(ctx) {
			return s, nil
		}
	}
	if smtp == 0 || !localproc.PortFree(smtp) {
		if smtp, err = localproc.FreePort(); err != nil {
			return nil, fmt.Errorf("localmail: %w", err)
		}
	}
	if web == 0 || web == smtp || !localproc.PortFree(web) {
		for web == 0 || web == smtp {
			if web, err = localproc.FreePort(); err != nil {
				return nil, fmt.Errorf("localmail: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ports"), fmt.Appendf(nil, "%d %d\n", smtp, web), 0o644); err != nil {
		return nil, fmt.Errorf("localmail: %w", err)
	}
	s.setPorts(smtp, web)
	return s, s.start(ctx)
}

func readPorts(dir string) (smtp, web int) {
	b, err := os.ReadFile(filepath.Join(dir, "ports"))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	smtp, _ = strconv.Atoi(f[0])
	web, _ = strconv.Atoi(f[1])
	return smtp, web
}

func (s *Server) setPorts(smtp, web int) {
	s.SMTPPort, s.WebPort = smtp, web
	s.SMTPURL = fmt.Sprintf("smtp://127.0.0.1:%d?tls=none", smtp)
	s.WebURL = fmt.Sprintf("http://127.0.0.1:%d", web)
}

func (s *Server) logFile() string { return filepath.Join(s.Dir, "mailpit.log") }
func (s *Server) dbFile() string  { return filepath.Join(s.Dir, "mailpit.db") }

// start runs Mailpit in its own session (a Ctrl-C aimed at `make run` or `go test` does not reach
// it) and waits until its API answers.
func (s *Server) start(ctx context.Context) error {
	args := []string{"--smtp", fmt.Sprintf("127.0.0.1:%d", s.SMTPPort), "--listen", fmt.Sprintf("127.0.0.1:%d", s.WebPort),
		"--database", s.dbFile(), "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
		"--disable-version-check", "--quiet"}
	if s.opts.AllowedRecipients != "" {
		args = append(args, "--smtp-allowed-recipients", s.opts.AllowedRecipients)
	}
	log, err := os.OpenFile(s.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localmail: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localmail: starting mailpit: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.owned = cmd, true
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = localproc.Wait(ctx, 50*time.Millisecond, exited, func(ctx context.Context) error {
		if s.answers(ctx) {
			return nil
		}
		return errors.New("no answer from its API")
	})
	if err != nil {
		_ = cmd.Process.Kill()
		s.owned = false
		return fmt.Errorf("localmail: mailpit on ports %d/%d: %w%s", s.SMTPPort, s.WebPort, err, localproc.LogTail(s.logFile()))
	}
	return nil
}

// answers reports whether a Mailpit on s's web port keeps its database in s.Dir, so another
// program on a recorded port is never taken for ours.
func (s *Server) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.WebURL+"/api/v1/info", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var info struct{ Database string }
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&info) == nil && info.Database == s.dbFile()
}

// Stop ends a Mailpit this process started; a reused one is left running.
func (s *Server) Stop() error {
	if s == nil || !s.owned {
		return nil
	}
	s.owned = false
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	return s.waitDown(10 * time.Second)
}

// Kill stops the server abruptly, like a crash or a mail server gone away, keeping what it
// received (its database); Restart brings it back on the same ports.
func (s *Server) Kill() error {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	}
	s.owned = false
	return s.waitDown(10 * time.Second)
}

// Restart starts the server again on its ports, after Kill.
func (s *Server) Restart(ctx context.Context) error {
	if s.answers(ctx) {
		return nil
	}
	return s.start(ctx)
}

func (s *Server) waitDown(d time.Duration) error {
	deadline := time.Now().Add(d)
	for !localproc.PortFree(s.SMTPPort) || !localproc.PortFree(s.WebPort) {
		if time.Now().After(deadline) {
			return fmt.Errorf("localmail: mailpit on ports %d/%d still running", s.SMTPPort, s.WebPort)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Binary is the path of the Mailpit binary under the module's .data/bin, built there through the
// module proxy (`go install github.com/axllent/mailpit@Version`) when it is missing.
func Binary(ctx context.Context) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".data", "bin")
	bin := filepath.Join(dir, "mailpit")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("localmail: mailpit is not built and the go command is not on PATH; run `make mailpit`")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", "github.com/axllent/mailpit@"+Version)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("localmail: building mailpit %s (make mailpit): %v\n%s", Version, err, out)
	}
	return bin, nil
}

// moduleRoot is the nearest folder at or above the working directory that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("localmail: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localmail: no go.mod at or above the working directory, so nowhere to keep mailpit")
		}
		dir = parent
	}
}
