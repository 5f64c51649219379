package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// csrfCase is a request a route would carry out, the answer it gets with a valid token (status,
// Location, and text the page says), and what it changes when it does (nil: nothing counts
// shows).
type csrfCase struct {
	path     string
	form     url.Values
	status   int
	location string
	says     string
	changed  func(before, after counts) bool
}

// csrfCases gives, for every state-changing route, a request that gets past the CSRF check with
// a valid token, the exact answer it then gets, and how to see that it did. A route missing here
// fails the test.
func csrfCases(t *testing.T, e *env, m demoInbox, c *client) map[string]csrfCase {
	t.Helper()
	compose := filledCompose(t, e, c, "CSRF probe")
	reply := replyFormFor(t, c, m.refillDr.ID)
	reply.Set("body", "CSRF probe")
	reply.Set("consent", "yes")
	// The care team's reply, opened by her, is hers to mark unread.
	if _, err := e.st.MessageDetails(t.Context(), e.user(t, maria).Viewer(), store.Origin{}, m.refillDr.ID); err != nil {
		t.Fatal(err)
	}
	cases := map[string]csrfCase{
		"/signin": {"/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}}, http.StatusSeeOther, "/inbox", "",
			// Signing in again replaces the browser's session: one more sign-in, as many sessions.
			func(b, a counts) bool { return a.SignIns == b.SignIns+1 && a.Sessions == b.Sessions }},
		"/signout": {"/signout", url.Values{}, http.StatusSeeOther, "/signin", "",
			func(b, a counts) bool { return a.Sessions == b.Sessions-1 }},
		// A full session has no code to give: the code page sends it back to sign in.
		"/signin/code": {"/signin/code", url.Values{"code": {"000000"}}, http.StatusSeeOther, "/signin", "", nil},
		"/messages": {"/messages", compose, http.StatusSeeOther, "/inbox?notice=sent", "",
			func(b, a counts) bool { return a.Messages == b.Messages+1 }},
		"/messages/:id/replies": {"/messages/" + e.mid(m.refillDr.ID) + "/replies", reply, http.StatusSeeOther, "/inbox?notice=sent", "",
			func(b, a counts) bool { return a.Messages == b.Messages+1 }},
		"/messages/:id/cancel": {"/messages/" + e.mid(m.lab.ID) + "/cancel", url.Values{}, http.StatusSeeOther, "/inbox?notice=cancelled", "",
			func(b, a counts) bool { return a.Messages == b.Messages-1 }},
		"/messages/:id/unread": {"/messages/" + e.mid(m.refillDr.ID) + "/unread", url.Values{}, http.StatusSeeOther, "/inbox?notice=unread", "",
			func(b, a counts) bool { return a.Events == b.Events+1 }},
		"/conversations/:id/archive": {"/conversations/" + e.cid(m.refill.ConversationID) + "/archive", url.Values{}, http.StatusSeeOther, "/inbox?notice=archived", "",
			func(b, a counts) bool { return a.Archived == b.Archived+1 }},
		"/conversations/:id/reopen": {"/conversations/" + e.cid(m.rash.ConversationID) + "/reopen", url.Values{}, http.StatusSeeOther, "/inbox?notice=reopened", "",
			func(b, a counts) bool { return a.Archived == b.Archived-1 }},
		// Two-step sign-in: setting up shows the key; turning it on or off with a wrong code gets
		// as far as checking the code (the password was right), which only a request past the CSRF
		// check does.
		"/account/totp": {"/account/totp", url.Values{}, http.StatusOK, "", "", nil},
		"/account/notifications": {"/account/notifications", url.Values{"practice_message": {"digest"}}, http.StatusSeeOther,
			"/account/notifications?notice=saved", "", func(b, a counts) bool { return a.Preferences != b.Preferences }},
		"/account/totp/enable": {"/account/totp/enable", url.Values{"password": {store.DemoPassword}, "code": {"000000"}},
			http.StatusUnprocessableEntity, "", "That code did not match. Enter the current 6-digit code from your app.", nil},
		"/account/totp/disable": {"/account/totp/disable", url.Values{"password": {store.DemoPassword}, "code": {"000000"}},
			http.StatusUnprocessableEntity, "", "That code did not match. Enter the current 6-digit code from your app.", nil},
	}
	// One's own account, and a forgotten password: past the token, a new password too short is
	// refused as such, the sessions list signs out the others, a request for a link is taken, a
	// made-up link is gone.
	cases["/account/password"] = csrfCase{"/account/password", url.Values{"current_password": {store.DemoPassword}, "new_password": {"short"}, "confirm": {"short"}},
		http.StatusUnprocessableEntity, "", "Choose a password of", nil}
	cases["/account/sessions/end_others"] = csrfCase{"/account/sessions/end_others", url.Values{}, http.StatusSeeOther, "/account/sessions?done=1", "", nil}
	cases["/password/forgot"] = csrfCase{"/password/forgot", url.Values{"email": {maria}}, http.StatusSeeOther, "/password/forgot?sent=1", "", nil}
	cases["/password/reset/:token"] = csrfCase{"/password/reset/made-up", url.Values{"new_password": {"a long new password"}, "confirm": {"a long new password"}},
		http.StatusGone, "", "expired or was already used", nil}
	// The practice's people: past the token, a patient is refused as no administrator.
	for _, change := range []string{"name", "role", "deactivate", "reactivate", "second_factor"} {
		cases["/practice/people/:id/"+change] = csrfCase{"/practice/people/" + e.uid(e.user(t, tom).ID) + "/" + change, url.Values{},
			http.StatusForbidden, "", "administrators can see and change its settings", nil}
	}
	// The practice's settings: past the token, a patient is refused as no administrator.
	for _, section := range settingsSections {
		path := "/practice/settings/" + section
		cases[path] = csrfCase{path, url.Values{}, http.StatusForbidden, "", "administrators can see and change its settings", nil}
	}
	// The audit review's export: past the token, a patient is refused as no administrator
	// (TestAuditExport has the token's own test for an administrator).
	cases["/practice/audit/export"] = csrfCase{"/practice/audit/export", url.Values{}, http.StatusForbidden, "",
		"administrators can review its audit log", nil}
	// Invitations and the patient import, the same: administrators only.
	for _, path := range []string{"/practice/invitations", "/practice/invitations/:id/resend", "/practice/invitations/:id/revoke",
		"/practice/import", "/practice/import/:id"} {
		cases[path] = csrfCase{strings.ReplaceAll(path, ":id", "x"), url.Values{}, http.StatusForbidden, "", "administrators can see and change its settings", nil}
	}
	// An invitation's link: past the token, a link that is no invitation is not found.
	cases["/invitations/:token"] = csrfCase{"/invitations/nonsense", url.Values{"password": {"long enough password"},
		"confirm": {"long enough password"}}, http.StatusNotFound, "", "does not work any more", nil}
	return cases
}

// csrfExempt are the state changes that take no CSRF token, each for its reason (routes.go): the
// one-click unsubscribe, which a mail client posts with no cookie, reads no session, and has the
// token in its address as its only authority (TestUnsubscribeOneClick).
var csrfExempt = map[string]bool{"POST /unsubscribe/:token": true}

// Every state-changing route, as the route table has it, refuses a request without this
// session's token, or from another site, and changes nothing; with the token it goes through.
func TestCSRFOnEveryStateChange(t *testing.T) {
	t.Parallel()
	var posts []string
	exempt := 0
	for _, r := range newEnv(t).app.GetRoutes(true) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if csrfExempt[r.Method+" "+r.Path] {
				exempt++
				continue
			}
			posts = append(posts, r.Method+" "+r.Path)
		}
	}
	if exempt != len(csrfExempt) {
		t.Errorf("%d of the %d routes exempt from CSRF are routes", exempt, len(csrfExempt))
	}
	if len(posts) < 7 {
		t.Fatalf("only %d state-changing routes found: %q", len(posts), posts)
	}
	for _, route := range posts {
		method, pattern, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			m := e.mariasInbox(t)
			patient := e.signIn(t, maria)
			other := e.signIn(t, tom)
			tc, known := csrfCases(t, e, m, patient)[pattern]
			if !known {
				t.Fatalf("%s has no case in csrfCases: add one, with the answer a valid token gets", route)
			}
			tc.form.Del(csrfField)
			valid := patient.token(t)
			// One character changed in the middle (the last one may only carry padding bits).
			tampered := []byte(valid)
			if i := len(tampered) / 2; tampered[i] == 'A' {
				tampered[i] = 'B'
			} else {
				tampered[i] = 'A'
			}
			same := []string{"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"}

			for _, bad := range []struct {
				name   string
				token  string
				header []string
			}{
				{"no token", "", same},
				{"made-up token", "bm90LWEtdG9rZW4", same},
				{"tampered token", string(tampered), same},
				{"another session's token", other.token(t), same},
				{"cross-site", valid, []string{"Sec-Fetch-Site", "cross-site"}},
				{"same-site subdomain", valid, []string{"Sec-Fetch-Site", "same-site"}},
				{"foreign Origin", valid, []string{"Origin", "https://evil.example"}},
				{"null Origin", valid, []string{"Origin", "null"}},
			} {
				for _, htmx := range []bool{false, true} {
					name := bad.name + map[bool]string{false: " (form)", true: " (htmx)"}[htmx]
					t.Run(name, func(t *testing.T) {
						before := e.counts(t)
						form, header := cloneValues(tc.form), append([]string(nil), bad.header...)
						if bad.token != "" {
							if htmx {
								header = append(header, csrfHeader, bad.token)
							} else {
								form.Set(csrfField, bad.token)
							}
						}
						r := patient.variant(htmx).send(t, method, tc.path, form, header...)
						wantNotice(t, r, htmx, http.StatusForbidden, "did not come from this site")
						if after := e.counts(t); after != before {
							t.Errorf("a refused request changed the database: %+v -> %+v", before, after)
						}
					})
				}
			}

			// The control: the same request with the session's own token goes through, so the
			// refusals above were the token's doing and nothing else's.
			before := e.counts(t)
			form := cloneValues(tc.form)
			form.Set(csrfField, valid)
			r := patient.send(t, method, tc.path, form, same...)
			if r.Status != tc.status || r.Header.Get("Location") != tc.location || !strings.Contains(r.Body, tc.says) {
				t.Fatalf("with a valid token: status %d, Location %q; want %d, %q, saying %q\n%s",
					r.Status, r.Header.Get("Location"), tc.status, tc.location, tc.says, r.Body)
			}
			if tc.changed != nil && !tc.changed(before, e.counts(t)) {
				t.Errorf("with a valid token the request changed nothing: %+v -> %+v (status %d)", before, e.counts(t), r.Status)
			}
		})
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Signing in needs no token (there is no session yet), but must come from this site.
func TestSigninRefusesOtherSites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := url.Values{"email": {maria}, "password": {store.DemoPassword}}
	for _, header := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		r := e.anon().send(t, "POST", "/signin", form, header...)
		wantStatus(t, r, http.StatusForbidden)
		if c := r.cookie("sid"); c != nil && c.Value != "" {
			t.Errorf("%s: signed in from another site", header)
		}
	}
	if n := e.counts(t).Sessions; n != 0 {
		t.Errorf("%d sessions after sign-ins from other sites", n)
	}
	r := e.anon().send(t, "POST", "/signin", form, "Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
	wantRedirect(t, r, "/inbox")
}

// The token in a page works for every form in it and for htmx (hx-headers), and is masked
// afresh in every response, so a compressed page never repeats it.
func TestCSRFTokenInPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	page := patient.get(t, "/inbox")
	doc := wantPage(t, page)
	var tokens []string
	for _, in := range doc.All(func(n *htmltest.Node) bool { return n.Tag == "input" && n.Attr["name"] == csrfField }) {
		tokens = append(tokens, in.Attr["value"])
	}
	if len(tokens) < 2 {
		t.Fatalf("%d _csrf inputs in the inbox", len(tokens))
	}
	body := doc.First(htmltest.Tag("body"))
	if body.Attr["hx-headers:inherited"] != csrfHeaders(tokens[0]) {
		t.Errorf("hx-headers %q does not carry the page's token %q", body.Attr["hx-headers:inherited"], tokens[0])
	}
	again := patient.get(t, "/inbox").doc(t).Input(csrfField).Attr["value"]
	if again == tokens[0] {
		t.Error("the token is not masked afresh for each response")
	}
}
