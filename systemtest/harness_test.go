// Package systemtest's harness, the one every whole-system test uses. A system (newSystem;
// newSecSystem and newLiveSystem only choose its instances' configuration) is a fresh demo database
// over real PostgreSQL, a private Redis server, and the test's own store handle for arranging and
// checking; its instances (system.start, startOn) are the real app with its own store, Redis client
// and hub on a loopback listener, which Stop (as SIGTERM does), Restart on the same port, and show
// their log when a test fails. A person is a secClient (sec_helpers_test.go): signed in as a demo
// user through the sign-in form, it gets pages, reads their CSRF token, posts forms exactly as
// given (do, get, post) or as a browser would, following redirects (load, and in
// live_instances_test.go form, change, send, reply, conversation), and opens the page's live
// stream. Pages are read with views/htmltest (ParseDocument and ParseFragment as browsers parse). A
// stream (live_instances_test.go) is an open GET /events read with realtime/ssetest, which keeps
// every frame: taken in order (next, expect, quiet, end) or judged all together (waitFor,
// expectIDs, expectCaughtUp). Suites keep only fixtures that truly differ: the browser suite
// (browser_helpers_test.go) drives Chromium over these instances; the process tests
// (process_test.go, sec_helpers_test.go) run the built binary; the walk-through
// (walkthrough_test.go) follows links and swaps htmx fragments into one document, and listens to
// Redis's event channel.
package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"securemessages/app"
	"securemessages/realtime"
	"securemessages/realtime/localredis"
	"securemessages/realtime/ssetest"
	"securemessages/store"
	"securemessages/store/storetest"
)

// ---------------------------------------------------------------------------------------------
// Redis and configuration.

// startRedis starts a private Redis server in dir, stopped when the test ends. A Redis per test:
// pub/sub channels are server-wide, and another test's events (from a database with the same ids)
// must not reach this test's streams. Make dir before calling (t.TempDir() as the argument does):
// cleanups run last-in first-out, so Redis stops before its directory is removed.
func startRedis(t *testing.T, dir string) *localredis.Server {
	t.Helper()
	return keepRedis(t, func(ctx context.Context) (*localredis.Server, error) { return localredis.Start(ctx, dir, 0) })
}

// startTLSRedis is startRedis for a server that speaks only TLS, presenting c's certificate.
func startTLSRedis(t *testing.T, dir string, c localredis.TLS) *localredis.Server {
	t.Helper()
	return keepRedis(t, func(ctx context.Context) (*localredis.Server, error) { return localredis.StartTLS(ctx, dir, c) })
}

func keepRedis(t *testing.T, start func(context.Context) (*localredis.Server, error)) *localredis.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := start(ctx)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() { rs.Stop() })
	return rs
}

// openStore opens the test's own handle on a database (for setting up and checking), closed when
// the test ends.
func openStore(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dbURL, storetest.Keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// envConfig is the configuration the binary reads from an environment naming this database and
// Redis server and the test key ring, with every peer trusted as the router (as on Heroku).
func envConfig(t *testing.T, dbURL, redisURL string) app.Config {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": redisURL, "MESSAGE_KEYS": storetest.KeySpec, "TRUST_PROXY": "true"}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The suites send as one patient far more, and faster, than a patient would; the send limit
	// has its own test (TestSendLimitAcrossInstances), which sets it.
	cfg.SendLimits = store.SendLimits{}
	return cfg
}

// ---------------------------------------------------------------------------------------------
// An app instance.

// appServer is one running instance of the app: its own store and Redis client, its hub running
// (`go hub.Run(ctx)`), the app served on a loopback listener.
type appServer struct {
	Addr string // host:port it listens on
	URL  string // "http://" + Addr
	App  *fiber.App
	Hub  *realtime.Hub

	st     *store.Store
	client *redis.Client
	cancel context.CancelFunc // stops the hub
	ran    chan struct{}      // closed when Hub.Run has returned
	served chan struct{}      // closed when the listener has stopped serving
	// serveErr is what serving ended with; read it once served is closed.
	serveErr error
}

// startApp runs an instance with cfg on addr ("127.0.0.1:0" for any free port), logging warnings
// to logw. A restarted instance takes its predecessor's address, which the kernel may take a
// moment to let go of.
func startApp(cfg app.Config, addr string, logw io.Writer) (*appServer, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Keys)
	if err != nil {
		cancel()
		return nil, err
	}
	client, err := realtime.Connect(cfg.RedisURL, cfg.RedisTLS)
	if err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	s := &appServer{st: st, client: client, cancel: cancel, ran: make(chan struct{}), served: make(chan struct{})}
	s.Hub = realtime.NewHub(client, log)
	go func() {
		defer close(s.ran)
		s.Hub.Run(ctx)
	}()
	abort := func() {
		cancel()
		<-s.ran
		s.closeConnections()
	}
	s.App, err = app.New(cfg, st, s.Hub, log)
	if err != nil {
		abort()
		return nil, err
	}
	var ln net.Listener
	for try := 0; ; try++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		abort()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	go func() {
		defer close(s.served)
		s.serveErr = s.App.Listener(ln)
	}()
	s.Addr = ln.Addr().String()
	s.URL = "http://" + s.Addr
	ids, err := st.PublicIDs(ctx)
	if err != nil {
		return nil, err
	}
	publicIDsAt.Store(s.URL, ids)
	return s, nil
}

// publicIDsAt holds, by base URL, the public ids (store.PublicIDs) of each instance a test
// started: its database's, which every instance on that database shares. A client reads and
// writes the ids its pages and streams show with its instance's (idsAt).
var publicIDsAt sync.Map

// idsAt is the public ids of the instance at base.
func idsAt(t testing.TB, base string) *store.PublicIDs {
	t.Helper()
	ids, ok := publicIDsAt.Load(base)
	if !ok {
		t.Fatalf("no public ids known for %s", base)
	}
	return ids.(*store.PublicIDs)
}

// registerIDs records the public ids of the instance at base, read through st, a handle on its
// database: for the built binary, which this package does not start in-process.
func registerIDs(t testing.TB, base string, st *store.Store) *store.PublicIDs {
	t.Helper()
	ids, err := st.PublicIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	publicIDsAt.Store(base, ids)
	return ids
}

// Port is the port it listens on.
func (s *appServer) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// shutdown stops serving the way SIGTERM does: listener closed, open streams ended with a retry
// hint, in-flight requests finished.
func (s *appServer) shutdown() error { return s.App.ShutdownWithTimeout(5 * time.Second) }

// stopHub stops the hub (Hub.Run returns; ran is closed).
func (s *appServer) stopHub() { s.cancel() }

// closeConnections closes the instance's Redis client and store.
func (s *appServer) closeConnections() {
	s.client.Close()
	s.st.Close()
}

// stop shuts the instance down and releases everything it holds.
func (s *appServer) stop() {
	s.shutdown()
	s.stopHub()
	s.closeConnections()
}

// logBuffer keeps an instance's or a process's output for the log of a failed test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Len() int { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Len() }

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// ---------------------------------------------------------------------------------------------
// The system: one test's database and Redis server, shared by its instances.

// system is one test's fresh demo database (a clone, by storetest) and private Redis server,
// shared by its app instances as several web instances share them in production, and the
// test's own handle on the database, for setting up and checking.
type system struct {
	dbURL string
	redis *localredis.Server
	st    *store.Store     // the test's own handle on the database
	ids   *store.PublicIDs // the database's public ids, as its instances show them

	// configure is the configuration every instance starts from.
	configure func(*testing.T, *system) app.Config
	// checked: an instance's stop checks that its streams, listener and hub ended, and its start
	// waits until its hub has subscribed (the live-update suite).
	checked   bool
	heartbeat time.Duration   // for the live-update suite's configuration
	streams   realtime.Limits // the caps on streams; zero for the defaults

	mu      sync.Mutex
	running int // checked instances started and not yet stopped
	started int // instances started, for their names
}

// newSystem makes a fresh demo database and a private Redis server; its instances run with the
// configuration the binary reads from the environment (envConfig).
func newSystem(t *testing.T) *system {
	t.Helper()
	return newSystemOn(t, storetest.URL(t, true))
}

// newSystemOn is newSystem over a database that already holds the demo.
func newSystemOn(t *testing.T, dbURL string) *system {
	t.Helper()
	rs := startRedis(t, t.TempDir())
	st := openStore(t, dbURL)
	ids, err := st.PublicIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &system{dbURL: dbURL, redis: rs, st: st, ids: ids,
		configure: func(t *testing.T, s *system) app.Config { return envConfig(t, s.dbURL, s.redis.URL) }}
}

// config is the configuration the system's instances start from.
func (s *system) config(t *testing.T) app.Config {
	t.Helper()
	return s.configure(t, s)
}

// viewer is a demo account as the store sees it.
func (s *system) viewer(t *testing.T, email string) store.Viewer {
	t.Helper()
	return s.user(t, email).Viewer()
}

// user is a demo account as the store sees it.
func (s *system) user(t *testing.T, email string) store.User {
	t.Helper()
	u, err := s.st.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("demo user %s: %v", email, err)
	}
	return u
}

// ---------------------------------------------------------------------------------------------
// An instance: the real app, with its hub on the system's Redis, served on a loopback listener.

type instance struct {
	name string
	URL  string // "http://" + Addr
	Addr string
	Port int
	App  *fiber.App
	Hub  *realtime.Hub
	Cfg  app.Config
	sys  *system
	t    *testing.T // the test it runs for, which its stop reports to
	log  *logBuffer

	mu  sync.Mutex
	srv *appServer // nil once stopped
}

// start runs an instance on a free loopback port; tweaks, if given (nil ones are skipped),
// change its configuration first.
func (s *system) start(t *testing.T, tweaks ...func(*app.Config)) *instance {
	t.Helper()
	s.mu.Lock()
	s.started++
	name := fmt.Sprintf("instance %d", s.started)
	s.mu.Unlock()
	return s.startOn(t, name, "127.0.0.1:0", tweaks...)
}

// startOn runs an instance called name on addr ("127.0.0.1:0" for any free port).
func (s *system) startOn(t *testing.T, name, addr string, tweaks ...func(*app.Config)) *instance {
	t.Helper()
	cfg := s.config(t)
	for _, tweak := range tweaks {
		if tweak != nil {
			tweak(&cfg)
		}
	}
	in := &instance{name: name, Cfg: cfg, sys: s, t: t, log: &logBuffer{}}
	in.listen(t, addr)
	t.Cleanup(func() {
		in.Stop()
		if t.Failed() && in.log.Len() > 0 {
			t.Logf("%s log (%s):\n%s", name, in.URL, in.log)
		}
	})
	return in
}

// listen serves the instance on addr.
func (in *instance) listen(t *testing.T, addr string) {
	t.Helper()
	srv, err := startApp(in.Cfg, addr, in.log)
	if err != nil {
		t.Fatalf("%s: %v", in.name, err)
	}
	in.mu.Lock()
	in.srv = srv
	in.URL, in.Addr, in.Port, in.App, in.Hub = srv.URL, srv.Addr, srv.Port(), srv.App, srv.Hub
	in.mu.Unlock()
	if in.sys.checked {
		in.sys.mu.Lock()
		in.sys.running++
		in.sys.mu.Unlock()
		in.sys.waitSubscribed(t)
	}
}

// Stop shuts the instance down the way SIGTERM does: listener closed, open streams ended with a
// retry hint, in-flight requests finished. Stopping a stopped instance does nothing.
func (in *instance) Stop() {
	t := in.t
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	srv := in.srv
	if srv == nil {
		return
	}
	in.srv = nil
	if !in.sys.checked {
		srv.stop()
		return
	}
	if err := srv.shutdown(); err != nil {
		t.Errorf("%s: shutdown: %v", in.name, err)
	}
	// Streams end on shutdown (with a retry hint), each on its own goroutine: wait for them
	// before the store they replay from is closed.
	deadline := time.Now().Add(liveWait)
	for in.Hub.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := in.Hub.Len(); n > 0 {
		t.Errorf("%s: %d streams still open after shutdown", in.name, n)
	}
	srv.stopHub()
	for what, done := range map[string]chan struct{}{"the listener": srv.served, "Hub.Run": srv.ran} {
		select {
		case <-done:
		case <-time.After(liveWait):
			t.Errorf("%s: %s still running after shutdown", in.name, what)
		}
	}
	srv.closeConnections()
	in.sys.mu.Lock()
	in.sys.running--
	in.sys.mu.Unlock()
}

// Restart stops the instance and starts it again on the same port, as a platform restart does.
func (in *instance) Restart(t *testing.T) {
	t.Helper()
	in.Stop()
	in.listen(t, in.Addr)
}

// waitStreams waits until n live streams are open on the instance.
func (in *instance) waitStreams(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.Hub.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d live streams open, want %d", in.URL, in.Hub.Len(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSubscribed waits until Redis counts a subscriber for every running checked instance, so
// that an event published from now on reaches each of them.
func (s *system) waitSubscribed(t *testing.T) {
	t.Helper()
	opts, err := redis.ParseURL(s.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	liveWaitFor(t, liveWait, "an instance's hub never subscribed", func() bool {
		n, err := c.PubSubNumSub(context.Background(), realtime.Channel).Result()
		s.mu.Lock()
		defer s.mu.Unlock()
		return err == nil && n[realtime.Channel] >= int64(s.running)
	})
}

// ---------------------------------------------------------------------------------------------
// HTTP as a browser speaks it.

// readResponse reads a response whole: its status, body and final URL (after any redirects).
func readResponse(t *testing.T, resp *http.Response) (int, string, *url.URL) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Request.URL
}

// excerpt is the beginning of a body, for a failure message.
func excerpt(body string) string {
	if len(body) > 2000 {
		return body[:2000] + "…"
	}
	return body
}

// pageInput is the value of the first input named name in a page ("" if none): how a browser
// finds the page's CSRF token (_csrf) and its form's submit key (submit_key). The page is read
// with the HTML helpers of sec_helpers_test.go.
func pageInput(t *testing.T, body, name string) string {
	t.Helper()
	return secInputValue(secParse(t, body), name)
}

// withToken is form with a CSRF token in its _csrf field, as a plain form sends it.
func withToken(form url.Values, token string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	if token != "" {
		out.Set("_csrf", token)
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Server-sent events.

// sseFrame is one server-sent-events frame: an event, or a block of comments and fields without
// one.
type sseFrame = ssetest.Frame

// readSSE reads frames from r the way a browser's EventSource does, calling emit with each frame
// that has at least one line, until r ends; it returns the error that ended it (nil at EOF).
func readSSE(r io.Reader, emit func(sseFrame)) error { return ssetest.Read(r, emit) }
