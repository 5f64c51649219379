// Package localredis starts a private Redis server for development and
// tests; it is never used in production.
//
// The server listens on 127.0.0.1 only, has no password and persists
// nothing (no RDB snapshots, no AOF); StartTLS starts one that speaks only
// TLS, as hosted Redis services do. Like localpg's server, it runs
// detached in its own session, so it outlives the process that started it
// and the next Start on the same directory reuses it.
package localredis

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"securemessages/store/localproc"
)

// startTimeout bounds how long we wait for a server to answer PING.
const startTimeout = 30 * time.Second

// Server is a running private Redis server.
type Server struct {
	URL  string // redis://127.0.0.1:PORT/0, or rediss:// for a TLS server
	Port int
	Dir  string // absolute; holds redis.pid, redis.log and port

	bin   string
	owned bool // true if this process started the server, so Stop stops it
	tls   *TLS
	probe *tls.Config // how our own probes reach a TLS server
}

// TLS names the PEM files a TLS server presents (see NewCertificate).
type TLS struct {
	CertFile, KeyFile string // the server's certificate, for 127.0.0.1, and its key
	CAFile            string // the certificate that signed it: its own CA's, or itself when self-signed
}

// StartTLS starts a Redis server under dir, on a free port, that speaks only TLS (no plain port)
// and presents c's certificate; clients need not present one.
func StartTLS(ctx context.Context, dir string, c TLS) (*Server, error) {
	return start(ctx, dir, 0, &c)
}

// Start starts (or reuses) a Redis server whose files live under dir.
//
// If a server for dir is already running (it answers on the port recorded in
// dir/port and reports dir as its working directory), Start returns it with
// its own port, whatever port was asked for, and Stop will not stop it.
// port 0 means: the port used last time for this dir if it is free,
// otherwise any free loopback port.
func Start(ctx context.Context, dir string, port int) (*Server, error) {
	return start(ctx, dir, port, nil)
}

func start(ctx context.Context, dir string, port int, t *TLS) (*Server, error) {
	bin, err := findRedis()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("localredis: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localredis: %w", err)
	}
	// Redis reports its working directory with symlinks resolved.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, fmt.Errorf("localredis: %w", err)
	}
	s := &Server{Dir: dir, bin: bin, tls: t}
	if t != nil {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("localredis: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("localredis: no certificate in %s", t.CAFile)
		}
		s.probe = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}

	last := localproc.LastPort(dir)
	if last > 0 && s.answers(ctx, last) {
		s.setPort(last)
		return s, nil
	}
	// Remember the port so the next run gets the same URL when possible,
	// and so the next Start can find this server to reuse it.
	if port, err = localproc.ChoosePort(dir, port); err != nil {
		return nil, fmt.Errorf("localredis: %w", err)
	}
	s.setPort(port)
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop shuts the server down (SHUTDOWN NOSAVE) if this process started it;
// a reused server is left running. Stop is idempotent.
func (s *Server) Stop() error {
	if s == nil || !s.owned {
		return nil
	}
	s.owned = false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// SHUTDOWN closes the connection instead of replying, so its error is
	// only meaningful if the server is still there afterwards.
	_, err := s.command(ctx, s.Port, "SHUTDOWN NOSAVE")
	if err != nil && s.answers(ctx, s.Port) {
		return fmt.Errorf("localredis: SHUTDOWN NOSAVE: %w", err)
	}
	return s.waitDown(ctx)
}

// Kill stops the server process abruptly (SIGKILL), like a crash, and keeps
// dir. It is meant for fault tests; Restart brings the server back.
func (s *Server) Kill() error {
	pid := s.pid()
	if pid > 0 && localproc.ProcessAlive(pid) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("localredis: kill %d: %w", pid, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.waitDown(ctx)
}

// Restart starts the server again on the same port, e.g. after Kill. If it
// is already running, Restart does nothing.
func (s *Server) Restart(ctx context.Context) error {
	if s.answers(ctx, s.Port) {
		return nil
	}
	return s.start(ctx)
}

func (s *Server) setPort(p int) {
	s.Port = p
	scheme := "redis"
	if s.tls != nil {
		scheme = "rediss"
	}
	s.URL = fmt.Sprintf("%s://127.0.0.1:%d/0", scheme, p)
}

func (s *Server) pidFile() string { return filepath.Join(s.Dir, "redis.pid") }
func (s *Server) logFile() string { return filepath.Join(s.Dir, "redis.log") }

// start launches redis-server daemonized on s.Port and waits for it.
func (s *Server) start(ctx context.Context) error {
	// Not `--daemonize yes`: with it, the launcher exits before the server
	// binds its port, so a bind failure would only show up as a timeout.
	// Instead we start redis-server in the foreground as a child in its own
	// session. It is just as detached (a Ctrl-C or hangup aimed at
	// `go test`/`make run` doesn't reach it, and it outlives this process),
	// but we see at once if it exits, and we reap it while we live.
	listen := []string{"--port", strconv.Itoa(s.Port)}
	if s.tls != nil {
		listen = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port),
			"--tls-cert-file", s.tls.CertFile, "--tls-key-file", s.tls.KeyFile,
			"--tls-ca-cert-file", s.tls.CAFile, "--tls-auth-clients", "no"}
	}
	cmd := exec.Command(s.bin, append(listen, "--bind", "127.0.0.1", "--dir", s.Dir,
		"--daemonize", "no", "--save", "", "--appendonly", "no",
		"--pidfile", s.pidFile(), "--logfile", s.logFile())...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Stdio stays nil (/dev/null): a pipe would tie the server to us.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localredis: starting redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.owned = true

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err := localproc.Wait(ctx, 50*time.Millisecond, exited, func(ctx context.Context) error {
		if s.answers(ctx, s.Port) {
			return nil
		}
		return errors.New("no answer to PING")
	})
	switch {
	case errors.Is(err, localproc.ErrExited): // e.g. port in use
		s.owned = false
		return fmt.Errorf("localredis: redis-server on port %d %v%s", s.Port, err, s.logTail())
	case err != nil:
		_ = cmd.Process.Kill()
		s.owned = false
		return fmt.Errorf("localredis: redis-server on port %d did not answer: %w%s", s.Port, err, s.logTail())
	}
	return nil
}

// answers reports whether a Redis server answers PING on port and runs in
// s.Dir. Checking the directory keeps us from adopting some other Redis
// that happens to listen on a recorded port.
func (s *Server) answers(ctx context.Context, port int) bool {
	reply, err := s.command(ctx, port, "PING", "CONFIG GET dir")
	return err == nil && len(reply) == 3 && reply[0] == "PONG" && reply[1] == "dir" && reply[2] == s.Dir
}

// command sends inline commands over raw RESP2 (in TLS to a TLS server) and returns the reply
// strings (arrays flattened). A raw connection, rather than go-redis, keeps
// probing a dead port fast and free of client retry logging.
func (s *Server) command(ctx context.Context, port int, cmds ...string) ([]string, error) {
	d := net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if s.probe != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.probe}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	} else {
		conn, err = d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(strings.Join(cmds, "\r\n") + "\r\n")); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	var out []string
	for pending := len(cmds); pending > 0; pending-- {
		line, err := r.ReadString('\n')
		if err != nil {
			return out, err
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			return out, errors.New("empty reply")
		}
		switch line[0] {
		case '+', ':':
			out = append(out, line[1:])
		case '-':
			return out, errors.New(line[1:])
		case '*': // array: its elements are further replies to read
			n, _ := strconv.Atoi(line[1:])
			pending += max(n, 0)
		case '$':
			n, _ := strconv.Atoi(line[1:])
			if n < 0 {
				out = append(out, "")
				continue
			}
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return out, err
			}
			out = append(out, string(buf[:n]))
		default:
			return out, fmt.Errorf("unexpected reply %q", line)
		}
	}
	return out, nil
}

// waitDown waits until nothing accepts connections on s.Port any more.
func (s *Server) waitDown(ctx context.Context) error {
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err != nil {
			return nil
		}
		conn.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("localredis: server on port %d still running: %w", s.Port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pid returns the pid in redis.pid, or 0.
func (s *Server) pid() int { return localproc.ReadInt(s.pidFile()) }

// logTail returns the end of redis.log, formatted for an error message.
func (s *Server) logTail() string { return localproc.LogTail(s.logFile()) }

func findRedis() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", errors.New("localredis: redis-server not found; run `make deps` (apt-get install redis-server)")
}
