package systemtest

// The harness every suite of this package shares: a private Redis server, the app's configuration
// as the binary reads it, an app instance (its own store, Redis client and hub, as the binary's
// serve wires them) on a loopback listener that can be stopped and started again on the same
// address, the pieces of a browser's HTTP (a page's CSRF token, a response read whole), and a
// reader of server-sent-event frames. The suites' own harnesses (live_instances_test.go,
// sec_helpers_test.go, browser_helpers_test.go, walkthrough_test.go) are built on these.

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
