package systemtest

// Headers in production, behind a router that terminates TLS and reports the scheme in
// X-Forwarded-Proto: plain HTTP is sent to APP_URL over HTTPS, HTTPS answers carry HSTS, and every page and
// fragment carries a strict Content-Security-Policy (and needs nothing it forbids), no framing,
// no sniffing, a Referrer-Policy that still lets same-origin form posts through the CSRF check,
// and no-store wherever health information is shown.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"securemessages/app"
	"securemessages/views/htmltest"
)

func TestProductionHeaders(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	// As on Heroku: every peer is the router, and APP_URL names the canonical address.
	const appURL = "https://messages.example.test"
	in := sys.start(t, func(c *app.Config) { c.Production, c.AppURL, c.TrustProxy = true, appURL, true })
	host := strings.TrimPrefix(in.URL, "http://")
	// A peer that is not the router: its X-Forwarded-Proto counts for nothing.
	stranger := sys.start(t, func(c *app.Config) {
		c.Production, c.AppURL, c.TrustProxy = true, appURL, false
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})

	// Plain HTTP: a permanent, uncached redirect to APP_URL with the same path and query, for
	// pages and posts alike, whatever host the request names; the health check stays reachable.
	for _, tc := range []struct{ method, path, location string }{
		{"GET", "/", "/"}, {"GET", "/signin", "/signin"}, {"GET", "/inbox?all=1", "/inbox?all=1"}, {"POST", "/signin", "/signin"},
		{"GET", "/messages/1", "/messages/1"},
		{"GET", "//evil.example/signin", "/evil.example/signin"}, // the path as the server reads it: still on APP_URL
	} {
		for _, header := range [][]string{
			nil, {"X-Forwarded-Proto", "http"}, {"X-Forwarded-Proto", "http", "X-Forwarded-Host", "evil.example"},
		} {
			for _, peer := range []*instance{in, stranger} {
				if peer == stranger && header == nil {
					header = []string{"X-Forwarded-Proto", "https"}
				}
				r, err := peer.anon().do(tc.method, tc.path, nil, header...)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s %s over plain HTTP (%q, trusted peer %t)", tc.method, tc.path, header, peer == in)
				if r.Status != http.StatusPermanentRedirect || r.Header.Get("Location") != appURL+tc.location {
					t.Errorf("%s: %s, want 308 to %s%s", name, r, appURL, tc.location)
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
				}
				if r.cookie("sid") != nil || r.cookie("__Host-sid") != nil {
					t.Errorf("%s set a cookie", name)
				}
			}
		}
	}
	if r := in.anon().get(t, "/healthz"); r.Status != http.StatusOK {
		t.Errorf("/healthz over plain HTTP: %s", r)
	}

	// Over HTTPS (as the router says): signed in, every screen, page and fragment.
	https := []string{"X-Forwarded-Proto", "https"}
	patient := secAnon(in.URL)
	patient.header = https
	patient.signIn(t, secMaria)
	staff := secAnon(in.URL)
	staff.header = https
	staff.signIn(t, secPhysician)
	anon := secAnon(in.URL)
	anon.header = https
	sent := sys.startConversation(t, secMaria, "Headers", "Health information")
	pages := []struct {
		c    *secClient
		path string
	}{
		{anon, "/signin"},
		{patient, "/inbox"}, {patient, "/inbox?all=1"}, {patient, "/messages/new"}, {patient, "/account/security"}, {patient, "/account/notifications"}, {staff, "/account/notifications"},
		{patient, fmt.Sprintf("/messages/%s", sys.msg(sent.MessageID))}, {patient, fmt.Sprintf("/messages/%s/reply", sys.msg(sent.MessageID))},
		{patient, fmt.Sprintf("/messages/%s/cancel", sys.msg(sent.MessageID))}, {patient, fmt.Sprintf("/messages/%s/slot", sys.msg(sent.MessageID))},
		{staff, "/inbox"}, {staff, "/inbox?assigned=unassigned"}, {staff, fmt.Sprintf("/messages/%s", sys.msg(sent.MessageID))},
	}
	const errorPage = "/messages/987654321" // not a public id: the bad-link error page
	pages = append(pages, struct {
		c    *secClient
		path string
	}{patient, errorPage})
	for _, p := range pages {
		for _, htmx := range []bool{false, true} {
			header := []string{}
			if htmx {
				header = append(header, "HX-Request", "true")
			}
			r := p.c.get(t, p.path, header...)
			name := fmt.Sprintf("GET %s (htmx %t)", p.path, htmx)
			want := http.StatusOK
			if p.path == errorPage {
				want = http.StatusBadRequest
			}
			if r.Status != want {
				t.Errorf("%s: %s, want %d", name, r, want)
				continue
			}
			secWantHeaders(t, name, r, true)
			secWantNoInlineCode(t, name, r, htmx)
		}
	}
	// The live stream is health-adjacent too (ids of changes): never cached.
	resp, err := patient.streamStatus(t.Context(), "/events?after=0")
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("stream over HTTPS: %v %v", err, resp)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("the stream's Cache-Control is %q", cc)
	}

	// The CSRF check works with the Referrer-Policy in force: a same-origin post (what the
	// browser reports for our own forms) goes through, a cross-site one does not. Same origin is
	// APP_URL's, not whatever host the request names.
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"same-origin", []string{"Origin", appURL, "Sec-Fetch-Site", "same-origin", "Referer", appURL + "/inbox"}, http.StatusSeeOther},
		{"cross-site", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "Referer", "https://evil.example/"}, http.StatusForbidden},
		{"forwarded-host", []string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example"}, http.StatusForbidden},
		{"other-host", []string{"Origin", "https://" + host}, http.StatusForbidden},
	} {
		r := patient.post(t, "/messages", secComposeForm("Posted "+tc.name, "Text"), tc.header...)
		if r.Status != tc.want {
			t.Errorf("a %s post over HTTPS: %s, want %d", tc.name, r, tc.want)
		}
	}
	if rp := patient.get(t, "/inbox").Header.Get("Referrer-Policy"); rp != "same-origin" && rp != "strict-origin-when-cross-origin" && rp != "strict-origin" {
		t.Errorf("Referrer-Policy %q: no-referrer would leave a Referer-based CSRF check blind; want same-origin", rp)
	}
}

// secWantHeaders checks the security headers of an answer.
func secWantHeaders(t *testing.T, name string, r *secResp, https bool) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		fields := strings.Fields(d)
		if len(fields) > 0 {
			directives[fields[0]] = strings.Join(fields[1:], " ")
		}
	}
	for d, want := range map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "frame-ancestors": "'none'",
		"base-uri": "'none'", "form-action": "'self'",
	} {
		if directives[d] != want {
			t.Errorf("%s: CSP %s is %q, want %q (CSP %q)", name, d, directives[d], want, csp)
		}
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:"} {
		for d, v := range directives {
			if strings.Contains(" "+v+" ", " "+bad+" ") {
				t.Errorf("%s: CSP %s allows %s", name, d, bad)
			}
		}
	}
	for header, want := range map[string]string{
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Cache-Control":              "no-store",
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("%s: %s %q, want %q", name, header, got, want)
		}
	}
	if rp := r.Header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("%s: Referrer-Policy %q, want same-origin", name, rp)
	}
	if https {
		sts := r.Header.Get("Strict-Transport-Security")
		if !strings.Contains(sts, "max-age=31536000") || !strings.Contains(sts, "includeSubDomains") {
			t.Errorf("%s: Strict-Transport-Security %q, want a year and includeSubDomains", name, sts)
		}
	}
}

// secWantNoInlineCode checks that the HTML needs nothing the CSP forbids (which would break it,
// or tempt someone to loosen the policy): no inline script or style, no event handler attributes.
func secWantNoInlineCode(t *testing.T, name string, r *secResp, fragment bool) {
	t.Helper()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		return
	}
	doc := secParse(t, r.Body)
	if fragment {
		doc = secParseFragment(t, r.Body)
	}
	for _, n := range doc.All(func(n *htmltest.Node) bool { return n.Tag != htmltest.Comment && n.Tag != "#root" }) {
		src, hasSrc := n.Attr["src"]
		switch {
		case n.Tag == "script" && (!hasSrc || !strings.HasPrefix(src, "/static/")):
			t.Errorf("%s: an inline or foreign script (src %q)", name, src)
		case n.Tag == "style":
			t.Errorf("%s: an inline <style>", name)
		case n.Tag == "link":
			if href := n.Attr["href"]; !strings.HasPrefix(href, "/static/") {
				t.Errorf("%s: a stylesheet from elsewhere: %q", name, href)
			}
		}
		for _, a := range n.Attrs {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(a.Key, "hx-on") {
				t.Errorf("%s: <%s %s=...>: inline code or style, which the CSP blocks", name, n.Tag, a.Key)
			}
			if (a.Key == "href" || a.Key == "src" || a.Key == "action") && strings.HasPrefix(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("%s: <%s %s=%q>", name, n.Tag, a.Key, a.Val)
			}
		}
	}
}

// TestAnswersFasthttpWritesCarrySecurityHeaders: a body over the limit (413), headers over the
// read buffer (431) and a request that cannot be parsed (400) are answered by the web server
// before any middleware runs; they still carry every security header, and say what happened in
// words of ours, quoting nothing of the request. Sent over a real TCP connection, since an
// in-process request may not go through the server's reader.
func TestAnswersFasthttpWritesCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	addr := strings.TrimPrefix(in.URL, "http://")
	for _, tc := range []struct {
		name, request string
		status        int
		says          string
	}{
		{"body too large", "POST /signin HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 100000\r\n\r\nemail=Zorblax", http.StatusRequestEntityTooLarge, "more than this site accepts in one request"},
		{"headers too large", "GET /signin HTTP/1.1\r\nHost: " + addr + "\r\nX-Zorblax: " + strings.Repeat("Zorblax", 2000) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "more header data than this site accepts"},
		{"unreadable", "GET /Zorblax-suspended HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: Zorblax\r\n\r\n",
			http.StatusBadRequest, "This request could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(secWait))
			if _, err := io.WriteString(conn, tc.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r := &secResp{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Path: tc.name}
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d\n%s", r.Status, tc.status, r.Body)
			}
			secWantHeaders(t, tc.name, r, false)
			if !strings.Contains(r.Body, tc.says) || strings.Contains(r.Body, "Zorblax") {
				t.Errorf("want a page saying %q and quoting nothing of the request:\n%s", tc.says, r.Body)
			}
		})
	}
}
