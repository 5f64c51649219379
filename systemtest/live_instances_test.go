package systemtest

// The live-update tests' part of the harness (harness_test.go): their configuration, people's
// actions through the forms of whichever instance they are on, and streams read frame by frame.
// Names here start with "live" so they stay clear of the browser suite's.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"securemessages/app"
	"securemessages/realtime"
	"securemessages/realtime/ssetest"
	"securemessages/store"
	"securemessages/store/storetest"
)

// Demo accounts (password store.DemoPassword).
const (
	liveMaria         = "maria.lopez@riverside.example" // Riverside patient; Riverside charges, so she consents
	liveTom           = "tom.becker@riverside.example"  // the other Riverside patient
	livePhysician     = "physician@riverside.example"   // Riverside staff
	liveHillPhysician = "physician@hillcrest.example"   // staff of the other practice
)

// liveWait bounds every wait that is not itself the point of a test.
const liveWait = 20 * time.Second

// newLiveSystem is newSystem for the live-update tests: instances with the given heartbeat and
// the system's caps on streams, whose stop checks that everything they ran has ended.
func newLiveSystem(t *testing.T, heartbeat time.Duration) *system {
	t.Helper()
	return newLiveSystemOn(t, storetest.URL(t, true), heartbeat)
}

// newLiveSystemOn is newLiveSystem over a database that already holds the demo.
func newLiveSystemOn(t *testing.T, dbURL string, heartbeat time.Duration) *system {
	t.Helper()
	sys := newSystemOn(t, dbURL)
	sys.checked, sys.heartbeat = true, heartbeat
	sys.configure = func(_ *testing.T, s *system) app.Config {
		// Built by hand: a short heartbeat, the test key ring.
		return app.Config{
			DatabaseURL: s.dbURL,
			RedisURL:    s.redis.URL,
			Keys:        storetest.Keys,
			Sessions:    store.SessionLimits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour},
			Signin:      store.SigninLimits{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 1000},
			Heartbeat:   s.heartbeat,
			Streams:     s.streams,
		}
	}
	return sys
}

// eventsAfter is what the events table holds for v after id: what v's stream must deliver.
func (s *system) eventsAfter(t *testing.T, v store.Viewer, after int64) []store.Event {
	t.Helper()
	es, err := s.st.EventsAfter(context.Background(), v, after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// signIn signs email in on in, over the sign-in form, and checks the inbox it lands on. The
// session's cookie goes to every instance (cookies are per host, not per port), as one browser's
// would against a load-balanced site.
func (s *system) signIn(t *testing.T, in *instance, email string) *secClient {
	t.Helper()
	c := in.signIn(t, email)
	if status, body, final := c.page(t, in, "/inbox"); status != http.StatusOK || final.Path != "/inbox" {
		t.Fatalf("sign in %s on %s: status %d at %s\n%s", email, in.name, status, final, excerpt(body))
	}
	return c
}

// page loads a page of in as a browser does (load).
func (c *secClient) page(t *testing.T, in *instance, path string) (int, string, *url.URL) {
	t.Helper()
	return c.load(t, in, http.MethodGet, path, nil)
}

// load sends a request to in as a browser does, following redirects (and taking the session
// cookie they set or clear), and returns the status, body and URL it ended at.
func (c *secClient) load(t *testing.T, in *instance, method, path string, form url.Values) (int, string, *url.URL) {
	t.Helper()
	d := c.on(in)
	// take keeps the session cookie as a browser's jar does: replaced when it is set again,
	// dropped when it is cleared.
	take := func(r *secResp) {
		if d.cookie == nil {
			return
		}
		if ck := r.cookie(d.cookie.Name); ck != nil {
			d.cookie = ck
			if ck.Value == "" || ck.MaxAge < 0 {
				d.cookie = nil
			}
		}
	}
	r, err := d.do(method, path, form)
	for redirects := 0; err == nil && r.Status >= 300 && r.Status < 400 && r.Header.Get("Location") != ""; redirects++ {
		if redirects == 10 {
			t.Fatalf("%s %s on %s: more than 10 redirects", method, path, in.name)
		}
		take(r)
		loc, perr := url.Parse(r.Header.Get("Location"))
		if perr != nil {
			t.Fatalf("%s %s on %s: Location %q: %v", method, path, in.name, r.Header.Get("Location"), perr)
		}
		r, err = d.do(http.MethodGet, (&url.URL{Path: r.Path}).ResolveReference(loc).RequestURI(), nil)
	}
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, in.name, err)
	}
	take(r)
	c.cookie = d.cookie
	final, err := url.Parse(in.URL + r.Path)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, r.Body, final
}

var (
	liveConnectRE = regexp.MustCompile(`hx-sse:connect="/events\?after=([-_A-Za-z0-9]+)"`)
)

// liveAfter loads the inbox and reads the event id the page renders into its stream's URL.
func (u *secClient) liveAfter(t *testing.T, in *instance) int64 {
	t.Helper()
	status, body, _ := u.page(t, in, "/inbox")
	if status != http.StatusOK {
		t.Fatalf("inbox of %s on %s: status %d", u.email, in.name, status)
	}
	m := liveConnectRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("inbox of %s has no hx-sse:connect", u.email)
	}
	n, ok := idsAt(t, in.URL).ParseEvent(m[1])
	if !ok {
		t.Fatalf("inbox of %s: %q is not an event's public id", u.email, m[1])
	}
	return n
}

// form loads the page at path and returns its form's hidden fields (_csrf, and submit_key when
// it has one).
func (u *secClient) form(t *testing.T, in *instance, path string) url.Values {
	t.Helper()
	status, body, _ := u.page(t, in, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s as %s on %s: status %d\n%s", path, u.email, in.name, status, excerpt(body))
	}
	v := url.Values{}
	csrf := pageInput(t, body, "_csrf")
	if csrf == "" {
		t.Fatalf("GET %s: no _csrf field", path)
	}
	v.Set("_csrf", csrf)
	if key := pageInput(t, body, "submit_key"); key != "" {
		v.Set("submit_key", key)
	}
	return v
}

// change submits a form that changes something and checks it was accepted.
func (u *secClient) change(t *testing.T, in *instance, path string, form url.Values) {
	t.Helper()
	status, body, final := u.load(t, in, http.MethodPost, path, form)
	if status != http.StatusOK || final.Path != "/inbox" || final.Query().Get("notice") == "" {
		t.Fatalf("POST %s as %s on %s: status %d at %s\n%s", path, u.email, in.name, status, final, excerpt(body))
	}
}

// send starts a conversation from the compose form.
func (u *secClient) send(t *testing.T, in *instance, subject, body string) {
	t.Helper()
	f := u.form(t, in, "/messages/new")
	f.Set("subject", subject)
	f.Set("body", body)
	f.Set("consent", "yes")
	u.change(t, in, "/messages", f)
}

// reply answers (or follows up) message id from its reply form.
func (u *secClient) reply(t *testing.T, in *instance, id int64, body string) {
	t.Helper()
	msg := idsAt(t, in.URL).Message(id)
	f := u.form(t, in, "/messages/"+msg+"/reply")
	f.Set("body", body)
	f.Set("consent", "yes")
	u.change(t, in, "/messages/"+msg+"/replies", f)
}

// conversation archives or re-opens ("archive", "reopen") conversation id.
func (u *secClient) conversation(t *testing.T, in *instance, action string, id int64) {
	t.Helper()
	f := u.form(t, in, "/inbox?all=1")
	u.change(t, in, "/conversations/"+idsAt(t, in.URL).Conversation(id)+"/"+action, url.Values{"_csrf": {f.Get("_csrf")}})
}

// stream is an open GET /events, read the way hx-sse reads it (realtime/ssetest) on its own
// goroutine (unless it was opened to be left unread): frame by frame (next, expect, quiet, end,
// connected) or over every frame so far (sec_helpers_test.go's waitFor, expectIDs,
// expectCaughtUp).
type stream struct {
	name   string
	ids    *store.PublicIDs // its instance's, which its event ids are written in
	resp   *http.Response
	cancel context.CancelFunc
	frames *ssetest.Stream // nil when unread
}

// liveStreams is the transport the live suite's streams use: a stream is a long-lived connection
// of its own.
var liveStreams = &http.Transport{}

// open opens the user's event stream on in, as the page's hx-sse:connect does: ?after= the id the
// page was rendered with, and Last-Event-ID on a reconnect ("" for none).
func (u *secClient) open(t *testing.T, in *instance, name string, after int64, lastEventID string) *stream {
	t.Helper()
	return u.openWith(t, in, liveStreams, name, after, lastEventID, true)
}

func (u *secClient) openWith(t *testing.T, in *instance, tr *http.Transport, name string, after int64, lastEventID string, read bool) *stream {
	t.Helper()
	resp, cancel := u.on(in).connect(t, tr, name, after, lastEventID)
	return openedStream(t, name, idsAt(t, in.URL), resp, cancel, read)
}

// openedStream checks that the stream's request was answered with a stream, and reads it.
func openedStream(t *testing.T, name string, ids *store.PublicIDs, resp *http.Response, cancel context.CancelFunc, read bool) *stream {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("%s: stream answered %d %q\n%s", name, resp.StatusCode, resp.Header.Get("Content-Type"), excerpt(string(b)))
	}
	return startStream(t, name, ids, resp, cancel, read)
}

// startStream reads an open stream's response into frames (unless read is false), until the test
// ends.
func startStream(t *testing.T, name string, ids *store.PublicIDs, resp *http.Response, cancel context.CancelFunc, read bool) *stream {
	s := &stream{name: name, ids: ids, resp: resp, cancel: cancel}
	if read {
		s.frames = ssetest.Start(name, resp.Body)
	}
	t.Cleanup(s.close)
	return s
}

// connect sends the stream's request from this browser, over tr (nil for a connection of its
// own), and returns the response, whatever its status (redirects are not followed); cancel ends
// the request.
func (c *secClient) connect(t *testing.T, tr *http.Transport, name string, after int64, lastEventID string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/events?after="+idsAt(t, c.base).Event(after), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	if tr == nil {
		tr = &http.Transport{DisableCompression: true}
	}
	// Without a timeout: the stream is meant to stay open.
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s: open stream: %v", name, err)
	}
	return resp, cancel
}

// close drops the stream, as a closed tab or a lost connection does: without reading to the end.
func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
	if s.frames != nil {
		<-s.frames.Done()
	}
}

// next returns the next event (skipping comments), failing after d.
func (s *stream) next(t *testing.T, d time.Duration) sseFrame {
	t.Helper()
	return s.frames.Next(t, d)
}

// expect reads len(want) events, each within d, and checks they are want's in order (by id, kind
// and conversation) and carry ids and a kind only, none of secrets. It returns the last id read.
func (s *stream) expect(t *testing.T, d time.Duration, want []store.Event, secrets ...string) string {
	t.Helper()
	var got, wantIDs []string
	for _, e := range want {
		wantIDs = append(wantIDs, s.ids.Event(e.ID))
	}
	for _, e := range want {
		f := s.next(t, d)
		got = append(got, f.ID)
		if f.ID != s.ids.Event(e.ID) {
			t.Fatalf("%s: event ids %v, want %v", s.name, got, wantIDs)
		}
		checkEventData(t, s.ids, s.name, f, e, secrets)
	}
	if len(got) == 0 {
		return ""
	}
	return got[len(got)-1]
}

// checkEventData: an event names a change by ids and kind, and says nothing of what it is about.
func checkEventData(t *testing.T, ids *store.PublicIDs, stream string, f sseFrame, e store.Event, secrets []string) {
	t.Helper()
	if f.Event != realtime.SSEChanged {
		t.Fatalf("%s: event %v, want %q", stream, f, realtime.SSEChanged)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(f.Data), &data); err != nil {
		t.Fatalf("%s: data %q: %v", stream, f.Data, err)
	}
	for k := range data {
		if !slices.Contains([]string{"kind", "conversation_id", "message_id"}, k) {
			t.Errorf("%s: event data carries %q: %s", stream, k, f.Data)
		}
	}
	// By their public ids, as every id a page sees.
	if data["kind"] != e.Kind || data["conversation_id"] != ids.Conversation(e.ConversationID) ||
		(e.MessageID != 0 && data["message_id"] != ids.Message(e.MessageID)) {
		t.Errorf("%s: data %s, want %s of message %d in conversation %d", stream, f.Data, e.Kind, e.MessageID, e.ConversationID)
	}
	for _, secret := range secrets {
		if strings.Contains(strings.ToLower(f.Data), strings.ToLower(secret)) {
			t.Errorf("%s: event data %s contains %q", stream, f.Data, secret)
		}
	}
}

// quiet checks that no event is buffered or arrives within d and that the stream stays open. It
// returns the comments (heartbeats) seen meanwhile.
func (s *stream) quiet(t *testing.T, d time.Duration) []sseFrame {
	t.Helper()
	return s.frames.Quiet(t, d)
}

// end reads until the server ends the stream, which must happen within d, and returns the
// frames read on the way.
func (s *stream) end(t *testing.T, d time.Duration) []sseFrame {
	t.Helper()
	return s.frames.End(t, d)
}

// connected waits for the opening frame (the retry hint), so the stream is registered and past
// its replay of what was already there.
func (s *stream) connected(t *testing.T) {
	t.Helper()
	if f := s.frames.NextFrame(t, liveWait); f.Retry == "" {
		t.Fatalf("%s: first frame %v; want the retry hint", s.name, f)
	}
}

func liveWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	storetest.WaitFor(t, d, what, cond)
}
