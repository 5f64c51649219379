package systemtest

// Headers in production, behind a router that terminates TLS and reports the scheme in
// X-Forwarded-Proto: plain HTTP is sent to HTTPS, HTTPS answers carry HSTS, and every page and
// fragment carries a strict Content-Security-Policy (and needs nothing it forbids), no framing,
// no sniffing, a Referrer-Policy that still lets same-origin form posts through the CSRF check,
// and no-store wherever health information is shown.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"securemessages/app"
)

func TestProductionHeaders(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, func(c *app.Config) { c.Production = true })
	host := strings.TrimPrefix(in.URL, "http://")

	// Plain HTTP: a permanent redirect to the same address over HTTPS, for pages and posts alike;
	// the platform's health check stays reachable.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/signin"}, {"GET", "/inbox?all=1"}, {"POST", "/signin"}, {"GET", "/messages/1"},
	} {
		for _, proto := range []string{"", "http"} {
			var header []string
			if proto != "" {
				header = []string{"X-Forwarded-Proto", proto}
			}
			r, err := in.anon().do(tc.method, tc.path, nil, header...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "https://"+host+tc.path {
				t.Errorf("%s %s over plain HTTP (X-Forwarded-Proto %q): %s, want 301 to https://%s%s", tc.method, tc.path, proto, r, host, tc.path)
			}
			if r.cookie("sid") != nil || r.cookie("__Host-sid") != nil {
				t.Errorf("%s %s over plain HTTP set a cookie", tc.method, tc.path)
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
		{patient, "/inbox"}, {patient, "/inbox?all=1"}, {patient, "/messages/new"}, {patient, "/account/security"},
		{patient, fmt.Sprintf("/messages/%s", sys.msg(sent.MessageID))}, {patient, fmt.Sprintf("/messages/%s/reply", sys.msg(sent.MessageID))},
		{patient, fmt.Sprintf("/messages/%s/cancel", sys.msg(sent.MessageID))}, {patient, fmt.Sprintf("/messages/%s/slot", sys.msg(sent.MessageID))},
		{staff, "/inbox"}, {staff, "/inbox?assigned=unassigned"}, {staff, fmt.Sprintf("/messages/%s", sys.msg(sent.MessageID))},
		{patient, "/messages/987654321"}, // the error page
	}
	for _, p := range pages {
		for _, htmx := range []bool{false, true} {
			header := []string{}
			if htmx {
				header = append(header, "HX-Request", "true")
			}
			r := p.c.get(t, p.path, header...)
			name := fmt.Sprintf("GET %s (htmx %t)", p.path, htmx)
			if r.Status >= 500 || r.Status == http.StatusMovedPermanently {
				t.Errorf("%s: %s", name, r)
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
	// browser reports for our own forms) goes through, a cross-site one does not.
	origin := "https://" + host
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"same-origin", []string{"Origin", origin, "Sec-Fetch-Site", "same-origin", "Referer", origin + "/inbox"}, http.StatusSeeOther},
		{"cross-site", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "Referer", "https://evil.example/"}, http.StatusForbidden},
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
	for _, n := range secAll(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		src, hasSrc := secAttr(n, "src")
		switch {
		case n.Data == "script" && (!hasSrc || !strings.HasPrefix(src, "/static/")):
			t.Errorf("%s: an inline or foreign script (src %q)", name, src)
		case n.Data == "style":
			t.Errorf("%s: an inline <style>", name)
		case n.Data == "link":
			if href, _ := secAttr(n, "href"); !strings.HasPrefix(href, "/static/") {
				t.Errorf("%s: a stylesheet from elsewhere: %q", name, href)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(a.Key, "hx-on") {
				t.Errorf("%s: <%s %s=...>: inline code or style, which the CSP blocks", name, n.Data, a.Key)
			}
			if (a.Key == "href" || a.Key == "src" || a.Key == "action") && strings.HasPrefix(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
			}
		}
	}
}
