package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
	"securemessages/views/htmltest"
)

// TestMain starts a private PostgreSQL server for the package's tests when DATABASE_URL is unset.
func TestMain(m *testing.M) { storetest.Main(m) }

// Demo accounts the tests sign in as.
const (
	maria     = "maria.lopez@riverside.example" // Riverside patient; Riverside charges $25.00 a message
	tom       = "tom.becker@riverside.example"  // the other Riverside patient
	grace     = "grace.kim@hillcrest.example"   // Hillcrest patient; Hillcrest charges nothing
	physician = "physician@riverside.example"   // Dr. Amelia Chen
)

// Demo subjects, as the demo loader writes them.
const (
	subjRash    = "Rash on my forearm"                      // Maria's archived thread
	subjRefill  = "Refill for my blood pressure medication" // Maria's thread several levels deep
	subjReRefil = "Re: " + subjRefill                       // every reply in it
	subjCheckup = "Your annual check-up is due"             // started by the front desk
	subjLab     = "Question about my lab results"           // Maria's, not acted on: cancellable
)

// env is the real app over a fresh copy of the demo database.
type env struct {
	app *fiber.App
	a   *App
	st  *store.Store
	log *logBuffer       // what the app logged, one JSON object a line
	ids *store.PublicIDs // the database's, as the app uses them
}

func newEnv(t *testing.T) *env { return newEnvWith(t, testConfig(t)) }

// newEnvWith is newEnv with a configuration of the test's own.
func newEnvWith(t *testing.T, cfg Config) *env {
	t.Helper()
	st := storetest.NewDemo(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	a, f, err := newApp(cfg, st, realtime.NewHub(nil, log), log)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.PublicIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{app: f, a: a, st: st, log: logs, ids: ids}
}

// logBuffer keeps what the app logs, for tests that read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines are the log's lines, each decoded.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testConfig is a local (non-production) configuration read the way the binary reads it; extra
// is more variables, as name, value pairs.
func testConfig(t *testing.T, extra ...string) Config {
	t.Helper()
	// Every peer is the router, as on Heroku: the tests speak for it in X-Forwarded-Proto.
	vars := map[string]string{"DATABASE_URL": "postgres://localhost/unused", "MESSAGE_KEYS": storetest.KeySpec, "TRUST_PROXY": "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	cfg, err := ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// user is a demo account, looked up in this env's database.
func (e *env) user(t *testing.T, email string) store.User {
	t.Helper()
	u, err := e.st.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("demo user %s: %v", email, err)
	}
	return u
}

// msg finds a message the viewer can see by subject (and author, when authorEmail is set),
// searching open and archived threads.
func (e *env) msg(t *testing.T, viewerEmail, subject, authorEmail string) *store.Message {
	t.Helper()
	v := e.user(t, viewerEmail).Viewer()
	var author int64
	if authorEmail != "" {
		author = e.user(t, authorEmail).ID
	}
	list, err := e.st.Inbox(context.Background(), v, store.InboxFilter{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		for m := range everyMessage(c.Messages) {
			if m.Subject == subject && (author == 0 || m.AuthorID == author) {
				return m
			}
		}
	}
	t.Fatalf("no message %q by %q visible to %s", subject, authorEmail, viewerEmail)
	return nil
}

// everyMessage yields every message of a tree, depth first.
func everyMessage(ms []*store.Message) iter.Seq[*store.Message] {
	return func(yield func(*store.Message) bool) {
		var rec func([]*store.Message) bool
		rec = func(ms []*store.Message) bool {
			for _, m := range ms {
				if !yield(m) || !rec(m.Replies) {
					return false
				}
			}
			return true
		}
		rec(ms)
	}
}

// start writes a new conversation straight through the store, as the demo loader does.
func (e *env) start(t *testing.T, email, subject, body string) store.Sent {
	t.Helper()
	u := e.user(t, email)
	sent, err := e.st.StartConversation(context.Background(), u.Viewer(), store.Origin{RequestID: "test"},
		store.NewConversation{Subject: subject, Body: body, BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// reply writes a reply straight through the store.
func (e *env) reply(t *testing.T, email string, parentID int64, body string) store.Sent {
	t.Helper()
	u := e.user(t, email)
	sent, err := e.st.SendReply(context.Background(), u.Viewer(), store.Origin{RequestID: "test"},
		store.NewReply{ParentID: parentID, Body: body, BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// counts is the state a refused request must leave alone.
type counts struct {
	Messages, Conversations, Archived, ActedOn, Events, Sessions, SignIns int
	Preferences                                                           string // every choice of how to be e-mailed
	Onboarding                                                            string // invitations (state, sends, token) and patient uploads
}

func (e *env) counts(t *testing.T) counts {
	t.Helper()
	var c counts
	err := e.st.DB().QueryRowx(`SELECT
		(SELECT count(*) FROM messages), (SELECT count(*) FROM conversations),
		(SELECT count(*) FROM conversations WHERE archived_at IS NOT NULL),
		(SELECT count(*) FROM messages WHERE acted_on), (SELECT count(*) FROM events),
		(SELECT count(*) FROM sessions),
		(SELECT count(*) FROM audit_log WHERE action = 'signed_in'),
		(SELECT coalesce(string_agg(user_id || ':' || kind || '=' || delivery, ',' ORDER BY user_id, kind), '')
		 FROM notification_preferences),
		(SELECT coalesce(string_agg(id || ':' || state || '/' || sends || '/' || coalesce(encode(token_hash, 'hex'), '-'), ',' ORDER BY id), '')
		 FROM invitations) || ';' || (SELECT count(*) || '/' || count(confirmed_at) FROM patient_imports) || ';' ||
		(SELECT count(*) FROM users)`).
		Scan(&c.Messages, &c.Conversations, &c.Archived, &c.ActedOn, &c.Events, &c.Sessions, &c.SignIns, &c.Preferences, &c.Onboarding)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// countsBesidesReads is counts without the events of reads: Show Details, a GET, records a read
// (its audit row, the reader's receipt, and for the side the message is addressed to, the message
// opened and an event that tells the live pages), and nothing else.
func (e *env) countsBesidesReads(t *testing.T) counts {
	t.Helper()
	c := e.counts(t)
	var reads int
	if err := e.st.DB().Get(&reads, `SELECT count(*) FROM events WHERE kind = 'message_read'`); err != nil {
		t.Fatal(err)
	}
	c.Events -= reads
	return c
}

// failures is how many failed sign-ins are counted against an account.
func (e *env) failures(t *testing.T, email string) int {
	t.Helper()
	var n int
	if err := e.st.DB().Get(&n, `SELECT count(*) FROM signin_failures WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	return n
}

// client is one browser: a session cookie and whether it speaks htmx.
type client struct {
	e      *env
	cookie *http.Cookie // nil when signed out
	htmx   bool
	csrf   string // a masked token from one of this session's pages
}

func (e *env) anon() *client { return &client{e: e} }

// signIn posts the sign-in form and keeps the session cookie it sets.
func (e *env) signIn(t *testing.T, email string) *client {
	t.Helper()
	c := e.anon()
	r := c.send(t, "POST", "/signin", url.Values{"email": {email}, "password": {store.DemoPassword}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/inbox" {
		t.Fatalf("sign in %s: status %d, Location %q\n%s", email, r.Status, r.Header.Get("Location"), r.Body)
	}
	c.cookie = r.cookie("sid")
	if c.cookie == nil || c.cookie.Value == "" {
		t.Fatalf("sign in %s: no sid cookie in %q", email, r.Header.Values("Set-Cookie"))
	}
	return c
}

// hx is the same browser with htmx on: requests carry HX-Request: true.
func (c *client) hx() *client {
	d := *c
	d.htmx = true
	return &d
}

// variant is this browser with htmx on or off.
func (c *client) variant(htmx bool) *client {
	d := *c
	d.htmx = htmx
	return &d
}

// token is a masked CSRF token of this session, read from the hidden _csrf input of a page.
func (c *client) token(t *testing.T) string {
	t.Helper()
	if c.csrf == "" {
		r := c.variant(false).get(t, "/inbox")
		in := r.doc(t).Input("_csrf")
		if in == nil || in.Attr["value"] == "" {
			t.Fatalf("no _csrf input in /inbox:\n%s", r.Body)
		}
		c.csrf = in.Attr["value"]
	}
	return c.csrf
}

// response is what came back, read.
type response struct {
	Status int
	Header http.Header
	Body   string
	raw    *http.Response
}

func (r *response) cookie(name string) *http.Cookie {
	for _, c := range r.raw.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r *response) doc(t *testing.T) *htmltest.Node {
	t.Helper()
	d, err := htmltest.Parse(r.Body)
	if err != nil {
		t.Fatalf("parse response: %v\n%s", err, r.Body)
	}
	return d
}

func (c *client) get(t *testing.T, path string, header ...string) *response {
	t.Helper()
	return c.send(t, "GET", path, nil, header...)
}

// post sends a form with this session's CSRF token, the way the page would: in the _csrf field
// for a plain form, in the X-CSRF-Token header (from hx-headers) for htmx.
func (c *client) post(t *testing.T, path string, form url.Values, header ...string) *response {
	t.Helper()
	token := c.token(t)
	if form == nil {
		form = url.Values{}
	}
	if c.htmx {
		header = append(header, csrfHeader, token)
	} else {
		form.Set(csrfField, token)
	}
	return c.send(t, "POST", path, form, header...)
}

// send makes one request exactly as given (header is name, value pairs), with the session cookie
// and HX-Request when the client has them.
func (c *client) send(t *testing.T, method, path string, form url.Values, header ...string) *response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	if c.htmx {
		req.Header.Set("HX-Request", "true")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.e.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: string(b), raw: resp}
}

// both runs f for the page (no JavaScript) and for the htmx variant, each in parallel.
func both(t *testing.T, f func(t *testing.T, htmx bool)) {
	t.Helper()
	for _, htmx := range []bool{false, true} {
		name := "page"
		if htmx {
			name = "htmx"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, htmx)
		})
	}
}

// wantStatus fails the test unless the response has the status.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d\n%s", r.Status, status, r.Body)
	}
}

// wantRedirect checks a redirect after POST (or to sign in) to exactly location.
func wantRedirect(t *testing.T, r *response, location string) {
	t.Helper()
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != location {
		t.Fatalf("got %d to %q, want 303 to %q\n%s", r.Status, r.Header.Get("Location"), location, r.Body)
	}
}

// wantPage checks a whole HTML page.
func wantPage(t *testing.T, r *response) *htmltest.Node {
	t.Helper()
	if !strings.Contains(r.Body, "<html") {
		t.Fatalf("want a whole page, got:\n%s", r.Body)
	}
	// The same URL answers htmx with a fragment: no cache may hand one for the other.
	if !varies(r) {
		t.Errorf("page without Vary: HX-Request (Vary %q)", r.Header.Values("Vary"))
	}
	return r.doc(t)
}

// wantFragment checks an htmx answer: no page around it, Vary: HX-Request, and one element at
// the top whose id is rootID, which is what htmx swaps: the HX-Retarget if the server set one,
// else the request's hx-target (given as target, "" when the test does not care). Elements
// swapped out of band (hx-swap-oob: the heading's count of new messages) are not what the target
// gets: htmx takes them out first.
func wantFragment(t *testing.T, r *response, rootID, target string) *htmltest.Node {
	t.Helper()
	if strings.Contains(r.Body, "<html") || strings.Contains(r.Body, "<body") {
		t.Fatalf("want a fragment, got a page:\n%s", r.Body)
	}
	if !varies(r) {
		t.Errorf("fragment without Vary: HX-Request (Vary %q)", r.Header.Values("Vary"))
	}
	d := r.doc(t)
	var roots []*htmltest.Node
	for _, k := range d.Kids {
		if _, oob := k.Attr["hx-swap-oob"]; k.Tag != "" && !oob {
			roots = append(roots, k)
		}
	}
	if len(roots) != 1 || roots[0].Attr["id"] != rootID {
		t.Fatalf("want one element with id %q at the top, got:\n%s", rootID, r.Body)
	}
	if rt := r.Header.Get("HX-Retarget"); rt != "" {
		target = rt
	}
	if target != "" && target != "#"+rootID {
		t.Fatalf("htmx swaps this into %s, but its top element is #%s:\n%s", target, rootID, r.Body)
	}
	return roots[0]
}

// wantNotice checks an answer that is a notice alone: the status, for htmx the #notice
// fragment, else a whole page, and text among what it says.
func wantNotice(t *testing.T, r *response, htmx bool, status int, text string) {
	t.Helper()
	wantStatus(t, r, status)
	if htmx {
		wantFragment(t, r, "notice", "")
	} else {
		wantPage(t, r)
	}
	if !strings.Contains(r.Body, text) {
		t.Errorf("no clear message:\n%s", r.Body)
	}
}

func varies(r *response) bool {
	for _, v := range r.Header.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "HX-Request") {
				return true
			}
		}
	}
	return false
}

// inboxOf checks an answer that shows the inbox, page or fragment, and returns the #inbox section.
func inboxOf(t *testing.T, r *response, htmx bool) *htmltest.Node {
	t.Helper()
	if htmx {
		return wantFragment(t, r, "inbox", "#inbox")
	}
	inbox := wantPage(t, r).ByID("inbox")
	if inbox == nil {
		t.Fatalf("no #inbox in page:\n%s", r.Body)
	}
	return inbox
}

// conversationIDs lists the conversations shown, top to bottom.
func (e *env) conversationIDs(t *testing.T, inbox *htmltest.Node) []int64 {
	t.Helper()
	var ids []int64
	for _, li := range inbox.All(func(n *htmltest.Node) bool { return strings.HasPrefix(n.Attr["id"], "conversation-") }) {
		id, ok := e.ids.ParseConversation(strings.TrimPrefix(li.Attr["id"], "conversation-"))
		if !ok {
			t.Fatalf("%s does not name a conversation", li.Attr["id"])
		}
		ids = append(ids, id)
	}
	return ids
}

// messageLI is the <li id="message-N"> of message id, or nil.
func (e *env) messageLI(n *htmltest.Node, id int64) *htmltest.Node {
	return n.ByID("message-" + e.mid(id))
}

// testIDs writes the ids of the tests that render views without a database.
var testIDs = func() *store.PublicIDs {
	ids, err := store.NewPublicIDs([]byte("0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return ids
}()

// mid, cid and uid are the public ids of a message, a conversation and a user: what the pages
// show and the routes take.
func (e *env) mid(id int64) string { return e.ids.Message(id) }
func (e *env) cid(id int64) string { return e.ids.Conversation(id) }
func (e *env) uid(id int64) string { return e.ids.User(id) }

// actions lists the action labels drawn for a message: its own, not its replies'.
func actions(t *testing.T, li *htmltest.Node) []string {
	t.Helper()
	group := li.First(func(n *htmltest.Node) bool { return n.HasClass("actions") })
	if group == nil {
		t.Fatalf("message %s has no actions group", li.Attr["id"])
	}
	var labels []string
	for _, n := range group.All(func(n *htmltest.Node) bool { return n.Tag == "a" || n.Tag == "button" }) {
		labels = append(labels, n.TextContent())
	}
	return labels
}

// slotForm is the form a message's slot opens with, at /messages/ID/action, as the page (no
// JavaScript) gives it.
func slotForm(t *testing.T, c *client, id int64, action string) *htmltest.Node {
	t.Helper()
	r := c.variant(false).get(t, "/messages/"+c.e.mid(id)+"/"+action)
	wantStatus(t, r, http.StatusOK)
	form := r.doc(t).ByID("slot-" + c.e.mid(id)).First(htmltest.Tag("form"))
	if form == nil {
		t.Fatalf("no %s form under message %d", action, id)
	}
	return form
}

// notice is the text of the #notice area.
func notice(t *testing.T, n *htmltest.Node) string {
	t.Helper()
	el := n.ByID("notice")
	if el == nil {
		t.Fatal("no #notice")
	}
	return el.TextContent()
}
