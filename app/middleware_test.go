package app

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
)

func TestPagesAreGzippedForEveryBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	plain := patient.get(t, "/inbox")
	wantStatus(t, plain, http.StatusOK)
	if enc := plain.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q", enc)
	}
	// What browsers send today, and what an old one sends.
	for _, accept := range []string{"gzip, deflate, br, zstd", "br, gzip", "gzip"} {
		zipped := patient.get(t, "/inbox", "Accept-Encoding", accept)
		wantStatus(t, zipped, http.StatusOK)
		if enc := zipped.Header.Values("Content-Encoding"); len(enc) != 1 || enc[0] != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip", accept, enc)
			continue
		}
		if !strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: Vary %q, want Accept-Encoding in it", accept, zipped.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(strings.NewReader(zipped.Body))
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		page, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		if len(zipped.Body) >= len(page)/4 {
			t.Errorf("Accept-Encoding %q: %d bytes sent for %d of HTML", accept, len(zipped.Body), len(page))
		}
		if withoutToken(string(page)) != withoutToken(plain.Body) {
			t.Errorf("Accept-Encoding %q: the page unpacks to other HTML than the uncompressed one", accept)
		}
	}
}

// The request log carries the status that was sent, also when a handler returned an error that
// the error handler turned into the answer: a 404 for another patient's message, a 500 when the
// database refuses a statement, and a 422 for a form that comes back to be fixed.
func TestRequestLogHasTheStatusSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	toms := e.start(t, tom, "Tom's question", "Tom's text")
	notFound := patient.get(t, "/messages/"+e.mid(toms.MessageID))
	wantStatus(t, notFound, http.StatusNotFound)
	bad := anyForm()
	bad.Set("subject", " ")
	unfit := patient.post(t, "/messages", bad)
	wantStatus(t, unfit, http.StatusUnprocessableEntity)
	// A fault on our side: the table of failed sign-ins is gone from under the app.
	if _, err := e.st.DB().Exec(`ALTER TABLE signin_failures RENAME TO signin_failures_gone`); err != nil {
		t.Fatal(err)
	}
	failed := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"wrong"}})
	wantStatus(t, failed, http.StatusInternalServerError)

	for _, tc := range []struct {
		r      *response
		route  string
		status float64
	}{{notFound, "/messages/:id", 404}, {unfit, "/messages", 422}, {failed, "/signin", 500}} {
		id := tc.r.Header.Get("X-Request-Id")
		var found []map[string]any
		for _, line := range e.log.lines(t) {
			if line["msg"] == "request" && line["request_id"] == id {
				found = append(found, line)
			}
		}
		if len(found) != 1 || found[0]["status"] != tc.status || found[0]["route"] != tc.route {
			t.Errorf("request %s (%s, %d): logged %v, want one line with status %v", id, tc.route, tc.r.Status, found, tc.status)
		}
	}
}

// A NUL or bytes that are not UTF-8 anywhere in the path, the query or a form are refused with a
// 400 that says so, before any handler runs, and change nothing.
func TestBadBytesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	compose := func(subject string) url.Values {
		f := anyForm()
		f.Set("subject", subject)
		return f
	}
	for _, tc := range []struct {
		name string
		send func(t *testing.T) *response
	}{
		{"NUL in the sign-in e-mail", func(t *testing.T) *response {
			return e.anon().send(t, "POST", "/signin", url.Values{"email": {"maria\x00@riverside.example"}, "password": {"x"}})
		}},
		{"NUL in a form", func(t *testing.T) *response { return patient.post(t, "/messages", compose("Hello\x00there")) }},
		{"invalid UTF-8 in a form", func(t *testing.T) *response { return patient.post(t, "/messages", compose("Hello \xff\xfe")) }},
		{"invalid UTF-8 in a field's name", func(t *testing.T) *response {
			f := compose("Hello")
			f.Set("\xc3", "x")
			return patient.post(t, "/messages", f)
		}},
		{"NUL in the query", func(t *testing.T) *response { return patient.get(t, "/inbox?all=%00") }},
		{"invalid UTF-8 in the query", func(t *testing.T) *response { return patient.get(t, "/inbox?notice=%ff") }},
		{"NUL in the path", func(t *testing.T) *response { return patient.get(t, "/inbox%00") }},
		{"invalid UTF-8 in the path", func(t *testing.T) *response { return patient.get(t, "/messages/%c3%28") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counts(t)
			r := tc.send(t)
			wantNotice(t, r, false, http.StatusBadRequest, "holds something that is not text (a NUL character, or bytes that are not UTF-8)")
			if after := e.counts(t); after != before {
				t.Errorf("a refused request changed the database: %+v -> %+v", before, after)
			}
		})
	}
}

// The request id, which every log line and audit row carries, is the router's only when it is a
// short token of safe characters; anything else gets a fresh one.
func TestRequestIDFromTheRouterIsCheckedBeforeUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	lab := e.mariasInbox(t).lab.ID
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"router.id:42_A", true},
		{"evil\x00id", false},
		{"<script>alert(1)</script>", false},
		{"id with spaces", false},
		{strings.Repeat("a", 65), false},
	} {
		r := patient.get(t, "/messages/"+e.mid(lab), "X-Request-Id", tc.sent)
		wantStatus(t, r, http.StatusOK)
		id := r.Header.Get("X-Request-Id")
		if kept := id == tc.sent; kept != tc.kept {
			t.Errorf("X-Request-Id %q: answered with id %q, want it kept %t", tc.sent, id, tc.kept)
		}
		if !tc.kept && !routerRequestID.MatchString(id) {
			t.Errorf("X-Request-Id %q: the fresh id %q is not a safe token", tc.sent, id)
		}
		var audited string
		if err := e.st.DB().Get(&audited, `SELECT request_id FROM audit_log WHERE action = 'message_read' ORDER BY id DESC LIMIT 1`); err != nil {
			t.Fatal(err)
		}
		if audited != id {
			t.Errorf("X-Request-Id %q: audited as %q, answered as %q", tc.sent, audited, id)
		}
	} // From a peer that is not a trusted router, even a well-formed id is not taken.
	untrusted := newEnvWith(t, testConfig(t, "TRUST_PROXY", "10.0.0.0/8"))
	const routers = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	if id := untrusted.anon().get(t, "/signin", "X-Request-Id", routers).Header.Get("X-Request-Id"); id == routers || id == "" {
		t.Errorf("an untrusted peer's X-Request-Id %q was answered with %q", routers, id)
	}
}

// X-Forwarded-Proto, -For and -Host count only from TRUST_PROXY's peers (in-process, the peer is
// 0.0.0.0): the scheme decides the cookie, the client's address is audited, and the host is
// what an Origin is compared with when APP_URL is not set.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	forwarded := []string{"X-Forwarded-Proto", "https", "X-Forwarded-For", "203.0.113.9, 198.51.100.7, 10.1.2.3",
		"X-Forwarded-Host", "portal.example"}
	for _, tc := range []struct {
		trust, cookie, address string
		originRefused          bool // a post whose Origin is the forwarded host
	}{
		{"", "sid", "0.0.0.0", true},
		{"false", "sid", "0.0.0.0", true},
		{"10.0.0.0/8", "sid", "0.0.0.0", true},
		{"true", "__Host-sid", "10.1.2.3", false},
		{"0.0.0.0, 10.1.0.0/16", "__Host-sid", "198.51.100.7", false},
	} {
		t.Run("TRUST_PROXY="+tc.trust, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, testConfig(t, "TRUST_PROXY", tc.trust))
			r := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}}, forwarded...)
			wantRedirect(t, r, "/inbox")
			if r.cookie(tc.cookie) == nil {
				t.Errorf("cookies %q, want %s", r.Header.Values("Set-Cookie"), tc.cookie)
			}
			var address string
			if err := e.st.DB().Get(&address, `SELECT client_ip FROM audit_log WHERE action = 'signed_in' ORDER BY id DESC LIMIT 1`); err != nil {
				t.Fatal(err)
			}
			if address != tc.address {
				t.Errorf("sign-in audited from %q, want %q", address, tc.address)
			}
			page := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"wrong"}},
				append(forwarded, "Origin", "https://portal.example")...)
			if refused := page.Status == http.StatusForbidden; refused != tc.originRefused {
				t.Errorf("a post from the forwarded host's origin: %d, want refused %t", page.Status, tc.originRefused)
			}
		})
	}
}
