package app

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/views/htmltest"
)

// wantSecurityHeaders checks what every page and fragment must carry: a strict CSP, no framing,
// no sniffing, no referrer to other sites, and no caching of what may be health information.
func wantSecurityHeaders(t *testing.T, r *response) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q allows inline code or any origin", csp)
	}
	for header, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"Cache-Control":          "no-store",
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("%s %q, want %q", header, got, want)
		}
	}
}

// wantNoInlineCode checks that HTML needs nothing the CSP forbids: no inline script, no event
// handler attributes, no style attributes.
func wantNoInlineCode(t *testing.T, r *response) {
	t.Helper()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		return
	}
	for _, n := range r.doc(t).All(func(*htmltest.Node) bool { return true }) {
		if n.Tag == "script" && n.Attr["src"] == "" {
			t.Errorf("inline <script> in %s", r.raw.Request.URL)
		}
		for name := range n.Attr {
			if strings.HasPrefix(name, "on") || name == "style" || strings.HasPrefix(name, "hx-on") {
				t.Errorf("<%s %s=...>: inline code or style the CSP blocks", n.Tag, name)
			}
		}
	}
}

// streaming are GET routes whose answer never ends by itself; they only read, and are tested
// where a real connection can be closed.
var streaming = map[string]bool{"/events": true}

// Every GET route, page and fragment, signed in or not (an administrator too: the audit review's
// pages only read; its export, which is recorded, is a POST), changes nothing and carries the
// security headers. Show Details records the read, which is what it is for (countsBesidesReads):
// no other GET does even that.
func TestGETRoutesChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	staff := e.signIn(t, physician)
	admin := e.signIn(t, riversideAdmin)
	page := patient.get(t, "/inbox")
	asset := wantPage(t, page).First(htmltest.Tag("link")).Attr["href"]
	token := e.unsubscribeToken(t, maria)
	const realToken = -1 // the msg of a target that is token, a real one
	before, total := e.countsBesidesReads(t), e.counts(t)
	var gets []string
	for _, r := range e.app.GetRoutes(true) {
		if r.Method == http.MethodGet && !streaming[r.Path] {
			gets = append(gets, r.Path)
		}
	}
	if len(gets) < 9 {
		t.Fatalf("only %d GET routes found: %q", len(gets), gets)
	}
	// answer is the status and Location a GET of route gets, by who asks and, for a message's
	// routes, which message.
	answer := func(route, who string, htmx bool, msg int64) (int, string) {
		signedIn := who != "signed out"
		switch route {
		case "/healthz", "/static/+":
			return http.StatusOK, ""
		case "/":
			if signedIn {
				return http.StatusSeeOther, "/inbox"
			}
			return http.StatusSeeOther, "/signin"
		case "/signin":
			if signedIn {
				return http.StatusSeeOther, "/inbox"
			}
			return http.StatusOK, ""
		case "/signin/code":
			return http.StatusSeeOther, "/signin" // only a sign-in waiting for its code has one to give
		case "/unsubscribe/:token":
			// Anyone holding the link is asked (msg marks a real token); a garbled one is not found.
			if msg == realToken {
				return http.StatusOK, ""
			}
			return http.StatusNotFound, ""
		case "/password/forgot":
			return http.StatusOK, "" // signed in or not
		case "/password/reset/:token":
			return http.StatusGone, "" // no link of these is a real one (TestPasswordResetPages)
		case "/invitations/:token":
			// Anyone holding the link; an unsubscribe token, cut short or made up, is no invitation.
			// A real one: TestInvitationLink.
			return http.StatusNotFound, ""
		}
		switch {
		case !signedIn && htmx:
			return http.StatusUnauthorized, ""
		case !signedIn:
			return http.StatusSeeOther, "/signin"
		case route == "/messages/:id/cancel" && (who != "patient" || msg != m.lab.ID):
			return http.StatusConflict, "" // only her own message that nobody acted on
		case route == "/messages/:id/reply" && msg == m.rash.ID:
			return http.StatusConflict, "" // an archived thread takes no reply
		case strings.HasPrefix(route, "/practice/") && who != "administrator":
			return http.StatusForbidden, "" // administrators only (TestSettingsForbidden, TestPeopleForbidden, TestAuditReviewForbidden, TestOnboardingForbidden)
		case route == "/practice/settings", route == "/practice/audit", strings.HasPrefix(route, "/practice/people"),
			route == "/practice/invitations", route == "/practice/import":
			return http.StatusOK, ""
		case strings.HasPrefix(route, "/practice/") && strings.Contains(route, ":id"):
			return http.StatusNotFound, "" // a message's id names no patient, invitation or import
		}
		return http.StatusOK, ""
	}
	for _, route := range gets {
		type target struct {
			path string
			msg  int64
		}
		var paths []target
		switch {
		case route == "/static/+":
			paths = []target{{asset, 0}}
		case strings.Contains(route, ":token"):
			paths = []target{{strings.ReplaceAll(route, ":token", token), realToken},
				{strings.ReplaceAll(route, ":token", token[:len(token)-1]), 0}, {strings.ReplaceAll(route, ":token", "nonsense"), 0}}
		case strings.HasPrefix(route, "/practice/people/:id"):
			paths = []target{{strings.ReplaceAll(route, ":id", e.uid(e.user(t, maria).ID)), 0}}
		case strings.Contains(route, ":id"):
			// Every kind of message: cancellable, answered, the care team's, archived.
			for _, msg := range []int64{m.lab.ID, m.refill.ID, m.refillDr.ID, m.rash.ID} {
				paths = append(paths, target{strings.ReplaceAll(route, ":id", e.mid(msg)), msg})
			}
		default:
			paths = []target{{route, 0}, {route + "?all=1", 0}}
		}
		for _, p := range paths {
			path := p.path
			for _, who := range []struct {
				name string
				c    *client
			}{{"patient", patient}, {"staff", staff}, {"administrator", admin}, {"signed out", e.anon()}} {
				for _, htmx := range []bool{false, true} {
					r := who.c.variant(htmx).get(t, path)
					if status, location := answer(route, who.name, htmx, p.msg); r.Status != status || r.Header.Get("Location") != location {
						t.Errorf("%s GET %s (htmx %t): status %d, Location %q; want %d, %q\n%s",
							who.name, path, htmx, r.Status, r.Header.Get("Location"), status, location, r.Body)
					}
					if route == "/static/+" || route == "/healthz" {
						continue
					}
					wantSecurityHeaders(t, r)
					wantNoInlineCode(t, r)
				}
			}
		}
	}
	if after := e.countsBesidesReads(t); after != before {
		t.Errorf("GET requests changed the database: %+v -> %+v", before, after)
	}
	if after := e.counts(t); after.Events == total.Events {
		t.Error("Show Details, from the page, recorded no read: the check above proves nothing of it")
	}
}

// Error answers carry the same headers as pages.
func TestErrorAnswersCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/nowhere", http.StatusNotFound},
		{"/messages/abc", http.StatusBadRequest},
		{"/messages/999999", http.StatusBadRequest},         // a number, not a public id
		{"/messages/" + e.mid(999999), http.StatusNotFound}, // a public id of no message
	} {
		for _, htmx := range []bool{false, true} {
			r := patient.variant(htmx).get(t, tc.path)
			if r.Status != tc.status {
				t.Errorf("GET %s (htmx %t): status %d, want %d", tc.path, htmx, r.Status, tc.status)
			}
			wantSecurityHeaders(t, r)
			wantNoInlineCode(t, r)
		}
	}
	r := patient.send(t, "POST", "/messages", url.Values{"subject": {"no token"}})
	wantStatus(t, r, http.StatusForbidden)
	wantSecurityHeaders(t, r)
}

// The not-found page names nothing of the path asked for: a crafted link cannot put words of its
// author's on our page ("Your account is suspended, call ...").
func TestNotFoundRepeatsNoPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Words of the paths below, none of which the page has of its own.
	words := []string{"Zorblax", "suspended", "555", "0100", "telephone"}
	for _, c := range []*client{e.anon(), e.signIn(t, maria)} {
		for _, path := range []string{"/Zorblax-account-is-suspended-telephone-555-0100",
			"/static/Zorblax%20account%20suspended%2C%20telephone%20555-0100", "/inbox/Zorblax-suspended-telephone-555-0100"} {
			t.Run(path, func(t *testing.T) {
				both(t, func(t *testing.T, htmx bool) {
					r := c.variant(htmx).get(t, path)
					wantNotice(t, r, htmx, http.StatusNotFound, "That page does not exist.")
					for _, w := range words {
						if strings.Contains(strings.ToLower(r.Body), strings.ToLower(w)) {
							t.Errorf("GET %s: the page repeats %q of the path:\n%s", path, w, r.Body)
						}
					}
				})
			})
		}
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	page := wantPage(t, e.signIn(t, maria).get(t, "/inbox"))
	var assets []string
	for _, n := range page.All(func(n *htmltest.Node) bool { return n.Tag == "link" || n.Tag == "script" }) {
		assets = append(assets, n.Attr["href"]+n.Attr["src"])
	}
	if len(assets) < 2 {
		t.Fatalf("assets %q: want the stylesheet and htmx", assets)
	}
	for _, path := range assets {
		if !strings.HasPrefix(path, "/static/") {
			t.Errorf("asset %q is not served from /static/", path)
			continue
		}
		plain := e.anon().get(t, path)
		wantStatus(t, plain, http.StatusOK)
		if got := plain.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", path, got)
		}
		if plain.Header.Get("Content-Encoding") != "" || len(plain.Body) < 100 {
			t.Errorf("%s without Accept-Encoding: encoding %q, %d bytes", path, plain.Header.Get("Content-Encoding"), len(plain.Body))
		}
		if ct := plain.Header.Get("Content-Type"); !strings.Contains(ct, "css") && !strings.Contains(ct, "javascript") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		// A browser's usual header: gzip once, and it unpacks to the very same file.
		for _, accept := range []string{"gzip", "gzip, deflate, br"} {
			zipped := e.anon().get(t, path, "Accept-Encoding", accept)
			wantStatus(t, zipped, http.StatusOK)
			if enc := zipped.Header.Values("Content-Encoding"); len(enc) != 1 || enc[0] != "gzip" {
				t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q, want gzip", path, accept, enc)
				continue
			}
			zr, err := gzip.NewReader(strings.NewReader(zipped.Body))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			body, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(body, []byte(plain.Body)) {
				t.Errorf("%s: the gzipped body does not unpack to the file (err %v)", path, err)
			}
			if !strings.Contains(strings.Join(zipped.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("%s: no Vary: Accept-Encoding", path)
			}
		}
	}
	if r := e.anon().get(t, "/static/css/app.css"); r.Status != http.StatusNotFound {
		t.Errorf("an asset by its unhashed name: status %d, want 404", r.Status)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.anon().get(t, "/healthz")
	wantStatus(t, r, http.StatusOK)
	var status map[string]any
	if err := json.Unmarshal([]byte(r.Body), &status); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	// No Redis is configured here: reported, but not fatal, since sending does not need it. And
	// nothing countable, such as the open streams: anyone may read this.
	want := map[string]any{"database": "ok", "redis": "unreachable", "redis_reason": "not configured"}
	if !maps.Equal(status, want) {
		t.Errorf("healthz %v, want %v", status, want)
	}
	// The database gone, the instance is unhealthy.
	if err := e.st.DB().Close(); err != nil {
		t.Fatal(err)
	}
	r = e.anon().get(t, "/healthz")
	wantStatus(t, r, http.StatusServiceUnavailable)
	if !strings.Contains(r.Body, `"database":"unreachable"`) {
		t.Errorf("healthz without a database: %s", r.Body)
	}
}

// The routes that skip the pages' middleware do so however their address is spelt: Fiber's
// routes take any case and a trailing slash, and so does every check of routes.go. In
// production the health check answers over plain HTTP; it and the static files never look up a
// session (a made-up cookie would be cleared if they did, as a page clears it).
func TestSpecialRoutesWhateverTheirSpelling(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Production, cfg.AppURL = true, "https://messages.example.test"
	prod := newEnvWith(t, cfg)
	for _, path := range []string{"/healthz", "/HEALTHZ", "/healthz/", "/Healthz/"} {
		if r := prod.anon().get(t, path); r.Status != http.StatusOK {
			t.Errorf("GET %s over plain HTTP in production: %d, want 200", path, r.Status)
		}
	}
	if r := prod.anon().get(t, "/Inbox/"); r.Status != http.StatusPermanentRedirect {
		t.Errorf("GET /Inbox/ over plain HTTP in production: %d, want 308", r.Status)
	}

	e := newEnv(t)
	asset := wantPage(t, e.signIn(t, maria).get(t, "/inbox")).First(htmltest.Tag("link")).Attr["href"]
	madeUp := &client{e: e, cookie: &http.Cookie{Name: "sid", Value: "made-up"}}
	for _, tc := range []struct {
		path    string
		cleared bool
	}{
		{"/healthz", false}, {"/HEALTHZ", false}, {"/healthz/", false},
		{asset, false}, {strings.Replace(asset, "/static/", "/STATIC/", 1), false},
		{"/signin", true}, {"/SIGNIN/", true},
	} {
		r := madeUp.get(t, tc.path)
		if r.Status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tc.path, r.Status)
		}
		if cleared := r.cookie("sid") != nil; cleared != tc.cleared {
			t.Errorf("GET %s with a made-up session cookie: cookie cleared %t, want %t", tc.path, cleared, tc.cleared)
		}
	}
}

// A request with another method than a special route's goes through the pages' checks
// (routes.go): signed in, it needs the CSRF token like any post (403 without, then 405), and
// from another site it is refused.
func TestWrongMethodsGetThePagesChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	asset := wantPage(t, patient.get(t, "/inbox")).First(htmltest.Tag("link")).Attr["href"]
	before := e.counts(t)
	for _, path := range []string{"/healthz", "/HEALTHZ/", "/events", "/Events/", asset} {
		for _, method := range []string{"POST", "DELETE"} {
			if r := patient.send(t, method, path, url.Values{}); r.Status != http.StatusForbidden {
				t.Errorf("signed in, %s %s without the CSRF token: %d, want 403", method, path, r.Status)
			}
			if r := patient.send(t, method, path, url.Values{csrfField: {patient.token(t)}}); r.Status != http.StatusMethodNotAllowed {
				t.Errorf("signed in, %s %s with the CSRF token: %d, want 405", method, path, r.Status)
			}
			if r := e.anon().send(t, method, path, url.Values{}, "Sec-Fetch-Site", "cross-site"); r.Status != http.StatusForbidden {
				t.Errorf("%s %s from another site: %d, want 403", method, path, r.Status)
			}
			if r := e.anon().send(t, method, path, url.Values{}); r.Status != http.StatusMethodNotAllowed {
				t.Errorf("signed out, %s %s: %d, want 405", method, path, r.Status)
			}
		}
	}
	if after := e.counts(t); after != before {
		t.Errorf("requests with the wrong method changed something: %+v -> %+v", before, after)
	}
}
