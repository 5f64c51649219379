package app

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"securemessages/app/unsubscribe"
	"securemessages/views/htmltest"
)

// The link of an e-mail asks first, changing nothing, whoever opens it: signed out, signed in,
// another person entirely (a mail scanner). Its button posts the one-click form to itself.
func TestUnsubscribeAsks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.unsubscribeToken(t, maria)
	clients := []*client{e.anon(), e.signIn(t, maria), e.signIn(t, physician)}
	before := e.counts(t)
	for _, c := range clients {
		r := c.get(t, "/unsubscribe/"+token)
		wantStatus(t, r, http.StatusOK)
		doc := wantPage(t, r)
		if h := doc.First(htmltest.Tag("h2")); h == nil || h.TextContent() != "Stop these e-mails?" {
			t.Errorf("no question as the heading:\n%s", r.Body)
		}
		if !strings.Contains(r.Body, "new messages and replies from your care team") {
			t.Errorf("the page does not say which e-mails stop:\n%s", r.Body)
		}
		form := doc.First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == "/unsubscribe/"+token })
		if form == nil || form.Attr["method"] != "post" || form.Submits() == nil {
			t.Fatalf("no form posting to the link:\n%s", r.Body)
		}
		if got := form.FormValues().Get("List-Unsubscribe"); got != "One-Click" {
			t.Errorf("the button posts List-Unsubscribe=%q, want One-Click", got)
		}
	}
	if after := e.counts(t); after != before {
		t.Errorf("opening the link changed something: %+v -> %+v", before, after)
	}
}

// A mail client's one-click POST (RFC 8058) works with no cookie and no CSRF token, from wherever
// it comes, turns off only that kind of that person's e-mail, may come twice, and the page says
// what stopped and where to change it.
func TestUnsubscribeOneClick(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patientToken := e.unsubscribeToken(t, maria)
	staffToken := e.unsubscribeToken(t, physician)
	body := url.Values{"List-Unsubscribe": {"One-Click"}}
	for i, tc := range []struct {
		c      *client
		header []string
	}{
		{e.anon(), nil},
		{e.anon(), []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://mail.example.net"}},
		{e.signIn(t, tom), nil}, // a session without its CSRF token, and not even hers
	} {
		r := tc.c.send(t, "POST", "/unsubscribe/"+patientToken, body, tc.header...)
		wantStatus(t, r, http.StatusOK)
		doc := wantPage(t, r)
		if !strings.Contains(r.Body, "You will no longer get e-mails about new messages and replies from your care team.") {
			t.Errorf("try %d: the page does not say what stopped:\n%s", i, r.Body)
		}
		if doc.First(func(n *htmltest.Node) bool { return n.Tag == "a" && n.Attr["href"] == "/account/notifications" }) == nil {
			t.Errorf("try %d: no link to sign in and change the choices", i)
		}
		if got := e.prefs(t, maria); !slices.Equal(got, []string{"practice_message=off"}) {
			t.Errorf("try %d: Maria's choices %q", i, got)
		}
	}
	if got := e.prefs(t, tom); !slices.Equal(got, []string{"practice_message=now"}) {
		t.Errorf("another patient's choices changed: %q", got)
	}
	wantStatus(t, e.anon().send(t, "POST", "/unsubscribe/"+staffToken, body), http.StatusOK)
	if got := e.prefs(t, physician); !slices.Equal(got, []string{"requested=off", "waiting=off"}) {
		t.Errorf("the physician's choices %q", got)
	}
	var audited int
	if err := e.st.DB().Get(&audited, `SELECT count(*) FROM audit_log WHERE action = 'notification_unsubscribed'`); err != nil {
		t.Fatal(err)
	}
	if audited != 2 {
		t.Errorf("%d unsubscribes audited, want 2 (one per change)", audited)
	}
}

// A link that is not one of ours is a 404 that says so, posted or opened, and changes nothing.
func TestUnsubscribeUnknownLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.unsubscribeToken(t, maria)
	before := e.counts(t)
	for _, path := range []string{"/unsubscribe/" + token[:20], "/unsubscribe/" + strings.Repeat("A", 43), "/unsubscribe/%00", "/unsubscribe/x"} {
		for _, method := range []string{"GET", "POST"} {
			var form url.Values
			if method == "POST" {
				form = url.Values{"List-Unsubscribe": {"One-Click"}}
			}
			r := e.anon().send(t, method, path, form)
			if r.Status == http.StatusBadRequest && strings.Contains(path, "%00") {
				continue // refused before any route, as every path with a NUL is
			}
			wantStatus(t, r, http.StatusNotFound)
			if !strings.Contains(r.Body, "This unsubscribe link is not valid") {
				t.Errorf("%s %s: no clear message:\n%s", method, path, r.Body)
			}
			wantSecurityHeaders(t, r)
		}
	}
	if after := e.counts(t); after != before {
		t.Errorf("unknown links changed something: %+v -> %+v", before, after)
	}
}

// The headers an e-mail carries point at the route that answers the one-click POST.
func TestUnsubscribeHeadersPointHere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.unsubscribeToken(t, maria)
	h := unsubscribe.Headers("https://messages.example.test", token)
	path := strings.TrimSuffix(strings.TrimPrefix(h[unsubscribe.HeaderList], "<https://messages.example.test"), ">")
	post, _ := url.ParseQuery(h[unsubscribe.HeaderPost])
	wantStatus(t, e.anon().send(t, "POST", path, post), http.StatusOK)
	if got := e.prefs(t, maria); !slices.Equal(got, []string{"practice_message=off"}) {
		t.Errorf("Maria's choices %q after the headers' POST", got)
	}
}
