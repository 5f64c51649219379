// Package localpg starts a private PostgreSQL server for development and
// tests; it is never used in production.
//
// The server listens on 127.0.0.1 only, trusts every local connection and
// runs with fsync=off, synchronous_commit=off and full_page_writes=off. Those
// settings trade durability for speed: a machine crash can lose or corrupt
// the data, which is acceptable for throw-away dev/test clusters and nothing
// else.
//
// The server is started detached through pg_ctl, so it outlives the process
// that started it; the next Start on the same directory reuses it.
package localpg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/lib/pq" // database/sql driver used for the readiness check

	"securemessages/store/localproc"
)

// startTimeout bounds how long we wait for a server to accept queries.
const startTimeout = 30 * time.Second

// Server is a running private PostgreSQL server.
type Server struct {
	URL  string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
	Port int
	Dir  string // absolute; the cluster lives in Dir/data

	bindir string
	run    localproc.Runner
	owned  bool // true if this process started the server, so Stop stops it
}

// Option adjusts how Start starts a server. A server that is already running is reused as it
// is, without the options.
type Option func(*options)

type options struct{ settings []string }

// WithSetting starts the server with -c name=value on top of the defaults, e.g.
// WithSetting("shared_preload_libraries", "pg_stat_statements") for the benchmark's statement
// counts.
func WithSetting(name, value string) Option {
	return func(o *options) { o.settings = append(o.settings, name+"="+value) }
}

// Start starts (or reuses) a PostgreSQL cluster whose data lives under dir.
//
// If dir already holds an initialised cluster it is reused and its data kept.
// If a server for that cluster is already running (postmaster.pid present and
// it answers), Start returns it with its own port, whatever port was asked
// for, and Stop will not stop it. port 0 means: the port used last time for
// this dir if it is free, otherwise any free loopback port.
func Start(ctx context.Context, dir string, port int, opt ...Option) (*Server, error) {
	var o options
	for _, f := range opt {
		f(&o)
	}
	bindir, err := findBindir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	run, err := localproc.RunnerAs("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	if err := run.PrepareDirs(dir, filepath.Join(dir, "sock")); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	s := &Server{Dir: dir, bindir: bindir, run: run}

	// Reuse a server that is already running for this cluster.
	if p, ok := s.running(ctx); ok {
		s.setPort(p)
		return s, nil
	}

	if _, err := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := s.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}

	// Remember the port so the next run (e.g. the next `make run`) gets the
	// same URL when possible.
	if port, err = localproc.ChoosePort(dir, port); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	s.setPort(port)

	sockDir := filepath.Join(dir, "sock")
	removeStaleLocks(sockDir)
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
		port, shellQuote(sockDir)) // pg_ctl hands -o to /bin/sh
	for _, setting := range o.settings {
		opts += " -c " + shellQuote(setting)
	}
	out, err := s.run.Command(ctx, filepath.Join(bindir, "pg_ctl"), "start", "-w",
		"-t", strconv.Itoa(int(startTimeout/time.Second)),
		"-D", s.dataDir(), "-l", s.logFile(), "-o", opts).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("localpg: pg_ctl start failed: %v\n%s%s", err, out, s.logTail())
	}
	s.owned = true

	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := waitReady(wctx, s.URL); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("localpg: server on port %d did not answer: %v%s", port, err, s.logTail())
	}
	return s, nil
}

// Stop stops the server with pg_ctl stop -m fast if this process started it;
// a reused server is left running. Stop is idempotent.
func (s *Server) Stop() error {
	if s == nil || !s.owned {
		return nil
	}
	s.owned = false
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil // already stopped
	}
	out, err := s.run.Command(context.Background(), filepath.Join(s.bindir, "pg_ctl"),
		"stop", "-w", "-m", "fast", "-D", s.dataDir()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localpg: pg_ctl stop failed: %v\n%s", err, out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }
func (s *Server) logFile() string { return filepath.Join(s.Dir, "postgres.log") }

func (s *Server) setPort(p int) {
	s.Port = p
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p)
}

// running reports the port of a live server for this cluster, if any.
// postmaster.pid lines: 1 pid, 2 data dir, 3 start time, 4 port, ...
func (s *Server) running(ctx context.Context) (int, bool) {
	pidFile := filepath.Join(s.dataDir(), "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false // being written by a starting server, or garbage
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ := strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 {
		return 0, false
	}
	if !localproc.ProcessAlive(pid) {
		// Stale file from a crash. Remove it ourselves: postgres only checks
		// that the pid exists, and in containers a recycled pid or an
		// unreaped zombie would make it refuse to start.
		_ = os.Remove(pidFile)
		return 0, false
	}
	// Give a server that is still starting up a few seconds to answer.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if waitReady(wctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)) != nil {
		return 0, false // let pg_ctl start sort it out and report via the log
	}
	return port, true
}

func (s *Server) initdb(ctx context.Context) error {
	initdb := filepath.Join(s.bindir, "initdb")
	args := []string{"-D", s.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8"}
	out, err := s.run.Command(ctx, initdb, append(args, "--locale=C.UTF-8")...).CombinedOutput()
	if err != nil && bytes.Contains(bytes.ToLower(out), []byte("locale")) {
		// C.UTF-8 is missing on some systems; plain C always exists.
		// initdb removes the data dir it created on failure, so retrying is safe.
		out, err = s.run.Command(ctx, initdb, append(args, "--locale=C")...).CombinedOutput()
	}
	if err != nil {
		return fmt.Errorf("localpg: initdb failed: %v\n%s", err, out)
	}
	return nil
}

// logTail returns the end of postgres.log, formatted for an error message.
func (s *Server) logTail() string { return localproc.LogTail(s.logFile()) }

// waitReady polls until a TCP connection and SELECT 1 succeed.
func waitReady(ctx context.Context, url string) error {
	db, err := sql.Open("postgres", url+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	return localproc.Wait(ctx, 100*time.Millisecond, nil, func(ctx context.Context) error {
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
}

// findBindir locates initdb/pg_ctl: pg_config's bindir if it has them
// (on Debian, pg_config may come from libpq-dev without a server), else the
// newest /usr/lib/postgresql/*/bin.
func findBindir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("localpg: PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql")
}

// removeStaleLocks deletes socket lock files (and their sockets) left by a
// postmaster that died without cleaning up. Like postmaster.pid, postgres
// refuses to start if the pid in them still exists, which a zombie does.
func removeStaleLocks(sockDir string) {
	locks, _ := filepath.Glob(filepath.Join(sockDir, ".s.PGSQL.*.lock"))
	for _, lock := range locks {
		if pid := localproc.ReadInt(lock); pid > 0 && !localproc.ProcessAlive(pid) {
			_ = os.Remove(lock)
			_ = os.Remove(strings.TrimSuffix(lock, ".lock"))
		}
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
