package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"securemessages/realtime/localredis"
	"securemessages/store"
	"securemessages/store/localpg"
	"securemessages/store/localproc"
	"securemessages/store/storetest"
)

// env is everything the benchmark runs on: PostgreSQL and Redis (private servers, or the ones
// DATABASE_URL / REDIS_URL name, with a database of the benchmark's own), the server binary, and
// a temporary folder for both.
type env struct {
	tmp      string
	root     string // the module's folder
	pg       *localpg.Server
	redisSrv *localredis.Server

	serverURL string // the PostgreSQL server's maintenance database
	dbName    string
	dbURL     string // the benchmark's database, as the connecting (admin) user
	webRole   string // the role the web servers connect as, so their statements can be told apart
	webURL    string
	redisURL  string
	pgStat    bool // pg_stat_statements is loaded: statements can be counted
	bin       string

	db    *sqlx.DB
	store *store.Store // over db, as the admin user: seeding, sessions, committing live changes
	redis *redis.Client
}

func (e *env) pgPID() int {
	if e.pg == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(e.pg.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

func (e *env) redisPID() int {
	if e.redisSrv == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(e.redisSrv.Dir, "redis.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module securemessages") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the securemessages module (go.mod not found)")
		}
		dir = parent
	}
}

func setupEnv(ctx context.Context, bin string) (*env, error) {
	e := &env{}
	var err error
	if e.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if e.tmp, err = os.MkdirTemp("", "sm-bench-"); err != nil {
		return nil, err
	}
	// The database server runs as the postgres user when the benchmark runs as root.
	if err := os.Chmod(e.tmp, 0o755); err != nil {
		return nil, err
	}

	step := time.Now()
	if bin != "" {
		e.bin = bin
		logf("serving with %s", bin)
	} else {
		e.bin = filepath.Join(e.tmp, "securemessages")
		build := exec.CommandContext(ctx, "go", "build", "-o", e.bin, ".")
		build.Dir = e.root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
		logf("built the server binary in %s", since(step))
	}

	step = time.Now()
	e.serverURL = os.Getenv("DATABASE_URL")
	if e.serverURL == "" {
		e.pg, err = localpg.Start(ctx, filepath.Join(e.tmp, "pg"), 0,
			localpg.WithSetting("shared_preload_libraries", "pg_stat_statements"),
			localpg.WithSetting("pg_stat_statements.track", "top"))
		if err != nil {
			return nil, err
		}
		e.serverURL = e.pg.URL
	}
	e.redisURL = os.Getenv("REDIS_URL")
	if e.redisURL == "" {
		e.redisSrv, err = localredis.Start(ctx, filepath.Join(e.tmp, "redis"), 0)
		if err != nil {
			return nil, err
		}
		e.redisURL = e.redisSrv.URL
	}
	if err := e.createDatabase(ctx); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	e.redis = redis.NewClient(opts)
	if err := e.redis.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	where := "private servers under " + e.tmp
	if e.pg == nil || e.redisSrv == nil {
		where = "DATABASE_URL / REDIS_URL servers (database " + e.dbName + ")"
	}
	logf("PostgreSQL and Redis ready in %s: %s", since(step), where)
	return e, nil
}

// createDatabase makes the benchmark's own database and the role the web servers use.
func (e *env) createDatabase(ctx context.Context) error {
	admin, err := sqlx.Open("postgres", e.serverURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	suffix := strconv.FormatInt(time.Now().Unix(), 36)
	e.dbName = "sm_bench_" + suffix
	e.webRole = "sm_bench_web_" + suffix
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(e.dbName)); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if e.dbURL, err = withDatabase(e.serverURL, e.dbName, ""); err != nil {
		return err
	}
	if e.db, err = sqlx.Open("postgres", e.dbURL); err != nil {
		return err
	}
	e.db.SetMaxOpenConns(32)
	e.db.SetMaxIdleConns(32)
	e.store = store.New(e.db, storetest.Keys)
	// A role of its own lets pg_stat_statements tell the web servers' statements from the
	// benchmark's. Where the server will not make one, the servers use the admin user and
	// statements are not counted.
	if _, err := admin.ExecContext(ctx, "CREATE ROLE "+pq.QuoteIdentifier(e.webRole)+" LOGIN"); err != nil {
		logf("no role of its own for the web servers (%v): statements per render are not counted", err)
		e.webRole, e.webURL = "", e.dbURL
	} else if e.webURL, err = withDatabase(e.serverURL, e.dbName, e.webRole); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err == nil {
		var n int
		e.pgStat = e.db.GetContext(ctx, &n, "SELECT count(*) FROM pg_stat_statements") == nil && e.webRole != ""
	}
	if !e.pgStat {
		logf("pg_stat_statements is not loaded on this PostgreSQL server: statements per render are not counted")
	}
	return nil
}

// grantWeb gives the web servers' role what the app needs, once the schema exists.
func (e *env) grantWeb(ctx context.Context) error {
	if e.webRole == "" {
		return nil
	}
	r := pq.QuoteIdentifier(e.webRole)
	for _, q := range []string{
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + r,
		"REVOKE UPDATE, DELETE ON audit_log FROM " + r,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO " + r,
	} {
		if _, err := e.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("grant: %w", err)
		}
	}
	return nil
}

func withDatabase(serverURL, db, user string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/" + db
	if user != "" {
		if pw, ok := u.User.Password(); ok && u.User.Username() == user {
			u.User = url.UserPassword(user, pw)
		} else {
			u.User = url.User(user)
		}
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (e *env) close() {
	if e.db != nil {
		e.db.Close()
	}
	if e.redis != nil {
		e.redis.Close()
	}
	if e.pg == nil && e.dbName != "" {
		// A server of someone else's: leave it as it was found.
		if admin, err := sqlx.Open("postgres", e.serverURL); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(e.dbName)+" WITH (FORCE)")
			if e.webRole != "" {
				admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(e.webRole))
			}
			cancel()
			admin.Close()
		}
	}
	if e.pg != nil {
		e.pg.Stop()
	}
	if e.redisSrv != nil {
		e.redisSrv.Stop()
	}
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// server is one `securemessages serve` subprocess.
type server struct {
	name string
	cmd  *exec.Cmd
	port int
	addr string // 127.0.0.1:port
	ops  string // the private PPROF_ADDR listener: profiles and the metrics (/debug/vars)
	pid  int
	log  string
	done chan error
}

func freePort() (int, error) { return localproc.FreePort() }

// startServer runs the real binary, as the platform would, and waits until it answers and holds
// its Redis subscription.
func (e *env) startServer(ctx context.Context, name string, heartbeat int, extraEnv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: name, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port),
		log: filepath.Join(e.tmp, name+".log"), done: make(chan error, 1)}
	logFile, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	before, _ := subscribers(ctx, e.redis)
	s.cmd = exec.Command(e.bin, "serve")
	s.cmd.Env = append(os.Environ(),
		"PORT="+strconv.Itoa(port),
		"DATABASE_URL="+e.webURL,
		"REDIS_URL="+e.redisURL,
		"MESSAGE_KEYS="+storetest.KeySpec,
		"APP_ENV=",
		// The stream clients are a few hundred users with many sessions each, far past the caps
		// a person needs.
		"STREAMS_PER_SESSION=100000", "STREAMS_PER_USER=100000",
	)
	if heartbeat > 0 {
		s.cmd.Env = append(s.cmd.Env, "SSE_HEARTBEAT_SECONDS="+strconv.Itoa(heartbeat))
	}
	// The open streams are counted in the metrics on the private listener, which a run that
	// profiles names itself.
	for _, kv := range extraEnv {
		if addr, ok := strings.CutPrefix(kv, "PPROF_ADDR="); ok {
			s.ops = addr
		}
	}
	if s.ops == "" {
		opsPort, err := freePort()
		if err != nil {
			logFile.Close()
			return nil, err
		}
		s.ops = fmt.Sprintf("127.0.0.1:%d", opsPort)
		s.cmd.Env = append(s.cmd.Env, "PPROF_ADDR="+s.ops)
	}
	s.cmd.Env = append(s.cmd.Env, extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.done <- s.cmd.Wait(); logFile.Close() }()

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = localproc.Wait(wctx, 50*time.Millisecond, s.done, func(ctx context.Context) error {
		if h, err := s.health(); err != nil || h.Database != "ok" || h.Redis != "ok" {
			return fmt.Errorf("health %+v: %v", h, err)
		}
		if n, _ := subscribers(ctx, e.redis); n <= before {
			return errors.New("its hub has not subscribed")
		}
		return nil
	})
	switch {
	case errors.Is(err, localproc.ErrExited):
		return nil, fmt.Errorf("server %s %v%s", name, err, tail(s.log))
	case err != nil:
		s.stop()
		return nil, fmt.Errorf("server %s did not come up within a minute (%v)%s", name, err, tail(s.log))
	}
	return s, nil
}

func subscribers(ctx context.Context, c *redis.Client) (int64, error) {
	m, err := c.PubSubNumSub(ctx, "securemessages:events").Result()
	if err != nil {
		return 0, err
	}
	return m["securemessages:events"], nil
}

type health struct {
	Database string `json:"database"`
	Redis    string `json:"redis"`
}

var healthClient = &http.Client{Timeout: 5 * time.Second}

func (s *server) health() (health, error) {
	var h health
	resp, err := healthClient.Get("http://" + s.addr + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// streams is the number of live streams the server holds, from its metrics.
func (s *server) streams() (int, error) {
	var vars struct {
		Metrics struct {
			Streams int `json:"streams"`
		} `json:"securemessages"`
	}
	resp, err := healthClient.Get("http://" + s.ops + "/debug/vars")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&vars)
	return vars.Metrics.Streams, err
}

// stop asks the server to shut down as the platform does (SIGTERM) and waits for it.
func (s *server) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func tail(path string) string { return localproc.LogTail(path) }

// --- /proc ---------------------------------------------------------------------------------

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux the platform runs.
const clockTick = 100

// cpuTime is a process's user+system CPU time so far; with children, also that of the children
// it has waited for (PostgreSQL's ended backends).
func cpuTime(pid int, children bool) time.Duration {
	f := statFields(pid)
	// Fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	last := 12
	if children {
		last = 14
	}
	for _, k := range f[11 : last+1] {
		n, _ := strconv.ParseInt(k, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// treeCPU is the CPU time of a process and all its live children (PostgreSQL's backends), plus
// the children that have ended.
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	total := cpuTime(pid, true)
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ppid(child) == pid {
			total += cpuTime(child, false)
		}
	}
	return total
}

// statFields are the fields of /proc/<pid>/stat after the process's name (which may hold spaces
// and parentheses), from its state on; nil if there is no such process.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b)[i+2:])
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// rssKB is a process's resident memory (VmRSS), in KiB.
func rssKB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// raiseFileLimit lifts the soft limit on open files to the hard one: thousands of streams are
// thousands of sockets. Go does this by itself at start-up since 1.19; say what there is.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

// machine describes where the figures were measured.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				mem = fmt.Sprintf(", %.1f GiB memory", float64(kb)/1024/1024)
			}
		}
	}
	return fmt.Sprintf("%d cores (nproc), %s%s", nprocs(), model, mem)
}

// machineBusy is the CPU time every core of the machine has spent busy (/proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTick
}

// software names the versions the figures were measured with.
func (e *env) software(ctx context.Context) string {
	pg := "PostgreSQL ?"
	var v string
	if e.db.GetContext(ctx, &v, "SHOW server_version") == nil {
		pg = "PostgreSQL " + strings.Fields(v)[0]
	}
	rd := "Redis ?"
	if info, err := e.redis.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				rd = "Redis " + v
			}
		}
	}
	where := "private servers on loopback"
	if e.pg == nil || e.redisSrv == nil {
		where = "DATABASE_URL / REDIS_URL servers"
	}
	return fmt.Sprintf("%s, %s, %s (%s)", runtime.Version(), pg, rd, where)
}
