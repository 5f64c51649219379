package systemtest

// The security and fault tests' part of the harness (harness_test.go): their configuration,
// set-up straight through the store, the client that speaks HTTP as a browser does (one session
// cookie, the CSRF token from the page), streams kept whole, and the built binary run as a
// subprocess. Names here start with "sec" so the other suites of this package can grow without
// clashing.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"securemessages/app"
	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
	"securemessages/views/htmltest"
)

// Demo accounts (password store.DemoPassword).
const (
	secMaria      = "maria.lopez@riverside.example" // Riverside patient; Riverside charges $25, so she consents
	secTom        = "tom.becker@riverside.example"  // the other Riverside patient
	secGrace      = "grace.kim@hillcrest.example"   // patient of the other practice
	secPhysician  = "physician@riverside.example"   // Riverside staff
	secNurse      = "nurse@riverside.example"       // Riverside staff
	secHillStaff  = "physician@hillcrest.example"   // staff of the other practice
	secAdminEmail = "admin@riverside.example"       // Riverside's administrator
	secHillAdmin  = "admin@hillcrest.example"       // the other practice's administrator
)

// secWait bounds every wait that is not itself the point of a test.
const secWait = 15 * time.Second

// ---------------------------------------------------------------------------------------------
// The system: one test's database and Redis server, shared by its app instances.

// newSecSystem is newSystem whose instances have a short heartbeat, so that streams notice an
// ended session quickly.
func newSecSystem(t *testing.T) *system {
	t.Helper()
	return newSecSystemOn(t, storetest.URL(t, true))
}

// newSecSystemOn is newSecSystem over a database that already holds the demo.
func newSecSystemOn(t *testing.T, dbURL string) *system {
	t.Helper()
	sys := newSystemOn(t, dbURL)
	sys.configure = func(t *testing.T, s *system) app.Config {
		cfg := envConfig(t, s.dbURL, s.redis.URL)
		cfg.Heartbeat = 200 * time.Millisecond
		return cfg
	}
	return sys
}

// msg and conv are the public ids of a message and a conversation: what pages show and routes take.
func (s *system) msg(id int64) string  { return s.ids.Message(id) }
func (s *system) conv(id int64) string { return s.ids.Conversation(id) }

func (s *system) db() *sqlx.DB { return s.st.DB() }

// count runs a count query.
func (s *system) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db().GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// newestEvent is the id of the newest row in the events table.
func (s *system) newestEvent(t *testing.T) int64 {
	t.Helper()
	newest, err := storetest.NewestEvent(context.Background(), s.db())
	if err != nil {
		t.Fatal(err)
	}
	return newest
}

// eventIDs lists the ids of v's events after id: what v's stream must deliver.
func (s *system) eventIDs(t *testing.T, v store.Viewer, after int64) []int64 {
	t.Helper()
	es, err := s.st.EventsAfter(context.Background(), v, after, 10000)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// startConversation writes a new conversation straight through the store (set-up, not the
// thing tested), with consent to any fee and a fresh submit key.
func (s *system) startConversation(t *testing.T, email, subject, body string) store.Sent {
	t.Helper()
	sent, err := s.st.StartConversation(context.Background(), s.viewer(t, email), store.Origin{RequestID: "set-up"},
		store.NewConversation{Subject: subject, Body: body, BillingConsent: true, SubmitKey: secKey()})
	if err != nil {
		t.Fatalf("start conversation: %v", err)
	}
	return sent
}

// reply writes a follow-up or reply straight through the store.
func (s *system) reply(t *testing.T, email string, parent int64, body string) store.Sent {
	t.Helper()
	sent, err := s.st.SendReply(context.Background(), s.viewer(t, email), store.Origin{RequestID: "set-up"},
		store.NewReply{ParentID: parent, Body: body, BillingConsent: true, SubmitKey: secKey()})
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	return sent
}

// ---------------------------------------------------------------------------------------------
// A client: one browser, with its session cookie and the CSRF token from one of its pages.

type secClient struct {
	base   string
	email  string // whose session, "" when signed out
	hc     *http.Client
	cookie *http.Cookie
	csrf   string
	header []string // name, value pairs sent with every request (X-Forwarded-Proto)
	secret string   // the account's authenticator secret, once set up
}

// secResp is one answer, read whole.
type secResp struct {
	Status  int
	Header  http.Header
	Body    string
	Cookies []*http.Cookie
	Method  string
	Path    string
}

func (r *secResp) cookie(name string) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r *secResp) String() string {
	return fmt.Sprintf("%s %s: %d (Location %q)", r.Method, r.Path, r.Status, r.Header.Get("Location"))
}

func secHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		// Redirects are part of what is tested: see them, do not follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// anon is a browser that is not signed in.
func (in *instance) anon() *secClient { return secAnon(in.URL) }

func secAnon(base string) *secClient { return &secClient{base: base, hc: secHTTPClient()} }

// signIn signs email in on this instance through the sign-in form.
func (in *instance) signIn(t *testing.T, email string) *secClient {
	t.Helper()
	return secSignIn(t, in.URL, email)
}

func secSignIn(t *testing.T, base, email string) *secClient {
	t.Helper()
	c := secAnon(base)
	c.signIn(t, email)
	return c
}

// signIn posts the sign-in form from this browser and keeps the cookie it is given. A browser
// that is already signed in sends its session's CSRF token, as the page it is on would.
func (c *secClient) signIn(t *testing.T, email string) {
	t.Helper()
	form := url.Values{"email": {email}, "password": {store.DemoPassword}}
	if c.cookie != nil && c.csrf == "" {
		if r, err := c.do("GET", "/inbox", nil); err == nil && r.Status == http.StatusOK {
			c.csrf = secInputValue(secParse(t, r.Body), "_csrf")
		}
	}
	r, err := c.do("POST", "/signin", withToken(form, c.csrf))
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/inbox" {
		t.Fatalf("sign in %s: %s\n%s", email, r, excerpt(r.Body))
	}
	name := "sid"
	if c.https() {
		name = "__Host-sid"
	}
	ck := r.cookie(name)
	if ck == nil || ck.Value == "" {
		t.Fatalf("sign in %s: no %s cookie in %q", email, name, r.Header.Values("Set-Cookie"))
	}
	c.cookie, c.email, c.csrf = ck, email, ""
}

func (c *secClient) https() bool {
	for i := 0; i+1 < len(c.header); i += 2 {
		if strings.EqualFold(c.header[i], "X-Forwarded-Proto") && c.header[i+1] == "https" {
			return true
		}
	}
	return false
}

// on is the same browser talking to another instance (as behind a load balancer).
func (c *secClient) on(in *instance) *secClient {
	d := *c
	d.base = in.URL
	return &d
}

// fresh is the same session on connections of its own.
func (c *secClient) fresh() *secClient {
	d := *c
	d.hc = secHTTPClient()
	return &d
}

// token is a masked CSRF token of this session, read from a page as a browser would.
func (c *secClient) token(t *testing.T) string {
	t.Helper()
	if c.csrf == "" && c.cookie != nil {
		r := c.get(t, "/inbox")
		if r.Status != http.StatusOK {
			t.Fatalf("GET /inbox for a CSRF token: %s\n%s", r, excerpt(r.Body))
		}
		c.csrf = secInputValue(secParse(t, r.Body), "_csrf")
		if c.csrf == "" {
			t.Fatalf("no _csrf input in /inbox:\n%s", excerpt(r.Body))
		}
	}
	return c.csrf
}

func (c *secClient) get(t *testing.T, path string, header ...string) *secResp {
	t.Helper()
	r, err := c.do("GET", path, nil, header...)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// post sends a form with this session's CSRF token in the _csrf field, as a plain form does.
func (c *secClient) post(t *testing.T, path string, form url.Values, header ...string) *secResp {
	t.Helper()
	form = withToken(form, c.token(t))
	r, err := c.do("POST", path, form, header...)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

// do makes one request exactly as given, with the session cookie; it does not touch t, so that
// goroutines may call it.
func (c *secClient) do(method, path string, form url.Values, header ...string) (*secResp, error) {
	return c.doCtx(context.Background(), method, path, form, header...)
}

func (c *secClient) doCtx(ctx context.Context, method, path string, form url.Values, header ...string) (*secResp, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	all := append(append([]string(nil), c.header...), header...)
	for i := 0; i+1 < len(all); i += 2 {
		req.Header.Set(all[i], all[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &secResp{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Cookies: resp.Cookies(),
		Method: method, Path: path}, nil
}

// composeForm is what the compose form sends for a patient of a practice that charges.
func secComposeForm(subject, body string) url.Values {
	return url.Values{"subject": {subject}, "body": {body}, "consent": {"yes"}, "submit_key": {secKey()}}
}

// replyForm is what the inline follow-up or reply form sends.
func secReplyForm(body string) url.Values {
	return url.Values{"body": {body}, "consent": {"yes"}, "submit_key": {secKey()}}
}

// secKey is a new submit key, as the server puts in each form it shows.
func secKey() string { return uuid.NewString() }

// ---------------------------------------------------------------------------------------------
// HTML, read as a browser builds it (htmltest.ParseDocument).

func secParse(t *testing.T, body string) *htmltest.Node {
	t.Helper()
	doc, err := htmltest.ParseDocument(body)
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// secParseFragment parses an htmx fragment the way htmx does: as the content of a <body>.
func secParseFragment(t *testing.T, body string) *htmltest.Node {
	t.Helper()
	doc, err := htmltest.ParseFragment(body)
	if err != nil {
		t.Fatalf("parse fragment: %v", err)
	}
	return doc
}

// secInputValue is the value of the first input named name.
func secInputValue(n *htmltest.Node, name string) string {
	in := n.First(func(m *htmltest.Node) bool { return m.Tag == "input" && m.Attr["name"] == name })
	if in == nil {
		return ""
	}
	return in.Attr["value"]
}

// secFormOf is a form's action and the values a browser would send for it.
func secFormOf(form *htmltest.Node) (string, url.Values) {
	return form.Attr["action"], form.FormValues()
}

// ---------------------------------------------------------------------------------------------
// Live streams, read the way hx-sse reads them.

// stream opens the page's live stream: /events?after=after, as the page renders it (the event's
// public id), and waits for its first frame.
func (c *secClient) stream(t *testing.T, name string, after int64) *stream {
	t.Helper()
	resp, cancel := c.connect(t, nil, name, after, "")
	s := openedStream(t, name, idsAt(t, c.base), resp, cancel, true)
	s.waitFor(t, "the first frame", secWait, func(fs []sseFrame, _ bool) bool { return len(fs) > 0 })
	return s
}

// waitFor waits until ok holds for the frames read so far (and whether the stream has ended).
func (s *stream) waitFor(t *testing.T, what string, timeout time.Duration, ok func([]sseFrame, bool) bool) []sseFrame {
	t.Helper()
	return s.frames.WaitFor(t, what, timeout, ok)
}

// eventIDs are the (internal) ids of the "changed" events read so far, in order; -1 for an id
// that is not an event's public id, which no test expects.
func (s *stream) eventIDs() []int64 {
	fs, _ := s.snapshot()
	var ids []int64
	for _, f := range fs {
		if f.Event == realtime.SSEChanged {
			id, ok := s.ids.ParseEvent(f.ID)
			if !ok {
				id = -1
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// expectIDs waits until the stream has delivered every id in want, and checks it delivered
// nothing else and nothing twice.
func (s *stream) expectIDs(t *testing.T, timeout time.Duration, want []int64) {
	t.Helper()
	wantSet := map[int64]bool{}
	for _, id := range want {
		wantSet[id] = true
	}
	s.waitFor(t, fmt.Sprintf("delivery of events %v", want), timeout, func([]sseFrame, bool) bool {
		got := map[int64]bool{}
		for _, id := range s.eventIDs() {
			got[id] = true
		}
		for id := range wantSet {
			if !got[id] {
				return false
			}
		}
		return true
	})
	got := s.eventIDs()
	seen := map[int64]bool{}
	for i, id := range got {
		if seen[id] {
			t.Errorf("%s: event %d delivered twice (%v)", s.name, id, got)
		}
		seen[id] = true
		if i > 0 && id <= got[i-1] {
			t.Errorf("%s: event ids out of order: %v", s.name, got)
		}
		if !wantSet[id] {
			t.Errorf("%s: event %d is not one of its viewer's (want %v)", s.name, id, want)
		}
	}
}

// expectCaughtUp waits until the stream has sent the newest of want, and checks that it sent
// only events of want, in increasing order, none twice. (Which ids a stream may skip: see
// TestFaultRedisDown.)
func (s *stream) expectCaughtUp(t *testing.T, timeout time.Duration, want []int64) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: nothing to catch up on", s.name)
	}
	newest := want[len(want)-1]
	s.waitFor(t, fmt.Sprintf("event %d", newest), timeout, func([]sseFrame, bool) bool {
		ids := s.eventIDs()
		return len(ids) > 0 && ids[len(ids)-1] >= newest
	})
	wantSet := map[int64]bool{}
	for _, id := range want {
		wantSet[id] = true
	}
	got := s.eventIDs()
	for i, id := range got {
		if i > 0 && id <= got[i-1] {
			t.Errorf("%s: event ids out of order or repeated: %v", s.name, got)
		}
		if !wantSet[id] {
			t.Errorf("%s: event %d is not one of its viewer's (want %v)", s.name, id, want)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The binary, built once by a test and run as a subprocess, as the platform runs it.

// secBuild builds the securemessages command into dir. It builds with the race detector when the
// tests run with it, so that the packages compiled for the test are reused from the build cache.
func secBuild(t *testing.T, dir string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "securemessages")
	args := []string{"build", "-o", bin}
	if secRaceEnabled {
		args = append(args, "-race")
	}
	args = append(args, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// secProc is the binary running as a subprocess.
type secProc struct {
	cmd    *exec.Cmd
	out    *logBuffer
	URL    string
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// secFreePort asks the kernel for a free loopback port for a subprocess to listen on.
func secFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// secRun runs the binary with args and env (on top of a minimal environment) to completion.
func secRun(t *testing.T, bin string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = secEnv(env)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func secEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// secServe starts `securemessages serve` on port and waits until it answers /healthz.
func secServe(t *testing.T, bin string, env map[string]string, port int) *secProc {
	t.Helper()
	env["PORT"] = strconv.Itoa(port)
	p := secSpawn(t, bin, env, "serve", fmt.Sprintf("on port %d", port))
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(secWait)
	for {
		select {
		case <-p.exited:
			t.Fatalf("serve exited during start-up (%v):\n%s", p.err, p.out.String())
		default:
		}
		if resp, err := hc.Get(p.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				registerIDs(t, p.URL, openStore(t, env["DATABASE_URL"]))
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz within %v:\n%s", secWait, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secSpawn starts the binary's command, killed when the test ends, its output shown (as that of
// the process `what`) if the test failed.
func secSpawn(t *testing.T, bin string, env map[string]string, command, what string) *secProc {
	t.Helper()
	p := &secProc{out: &logBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, command)
	p.cmd.Env = secEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of the %s process %s:\n%s", command, what, secExcerptTail(p.out.String()))
		}
	})
	return p
}

// kill sends SIGKILL, as the platform does to a process that outstays its welcome, and reaps it.
func (p *secProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// waitExit waits for the process to exit by itself, at most timeout.
func (p *secProc) waitExit(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	select {
	case <-p.exited:
		return time.Since(start), p.err
	case <-time.After(timeout):
		return time.Since(start), errors.New("still running")
	}
}

func secExcerptTail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// snapshot is every frame read so far, and whether the stream has ended.
func (s *stream) snapshot() ([]sseFrame, bool) { return s.frames.Frames() }

// secTail is the last few frames, for a failure message.
func secTail(fs []sseFrame) []sseFrame {
	if len(fs) > 8 {
		return fs[len(fs)-8:]
	}
	return fs
}
