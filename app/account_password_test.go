package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
)

// TestChangePassword: a wrong current password is refused (422) and counted as a failed sign-in;
// a new one too short or typed differently is refused by its field; the right one changes it,
// ends every other session and keeps this one.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		here := e.signIn(t, maria).variant(htmx)
		elsewhere := e.signIn(t, maria)
		form := func(current, next, confirm string) url.Values {
			return url.Values{"current_password": {current}, "new_password": {next}, "confirm": {confirm}}
		}
		for _, tc := range []struct {
			name  string
			form  url.Values
			field string
		}{
			{"a wrong current password", form("not my password", "a long new password", "a long new password"), "current_password"},
			{"a short new password", form(store.DemoPassword, "short", "short"), "new_password"},
			{"two that differ", form(store.DemoPassword, "a long new password", "a long new passwort"), "confirm"},
		} {
			r := here.post(t, "/account/password", tc.form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			doc := r.doc(t)
			if htmx {
				doc = wantFragment(t, r, "password", "#password")
			}
			if v := doc.Input(tc.field); v == nil || v.Attr["aria-invalid"] != "true" {
				t.Errorf("%s: field %s not marked:\n%s", tc.name, tc.field, r.Body)
			}
			if strings.Contains(r.Body, "a long new password") || strings.Contains(r.Body, store.DemoPassword) {
				t.Errorf("%s: a password typed is given back", tc.name)
			}
		}
		if n := e.failures(t, maria); n != 1 {
			t.Errorf("%d failures counted, want 1 (the wrong current password)", n)
		}
		if r := elsewhere.get(t, "/inbox"); r.Status != http.StatusOK {
			t.Fatalf("a refused change ended the other session: %d", r.Status)
		}

		r := here.post(t, "/account/password", form(store.DemoPassword, "a long new password", "a long new password"))
		if htmx {
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(wantFragment(t, r, "password", "#password").TextContent(), "Your password was changed") {
				t.Errorf("no notice:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, "/account/password?done=1")
		}
		if r := here.get(t, "/inbox"); r.Status != http.StatusOK {
			t.Errorf("this session ended: %d", r.Status)
		}
		if r := elsewhere.get(t, "/inbox"); r.Status != http.StatusSeeOther {
			t.Errorf("the other session still works: %d", r.Status)
		}
		signin := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"a long new password"}})
		if signin.Status != http.StatusSeeOther {
			t.Errorf("the new password does not sign in: %d", signin.Status)
		}
	})
}

// TestOwnSessions: the list shows this session and the others with their devices; "Sign out
// everywhere else" ends the others only, and is offered only when there are some.
func TestOwnSessions(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		phone := e.anon()
		r := phone.send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}},
			"User-Agent", "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36")
		phone.cookie = r.cookie("sid")
		here := e.signIn(t, maria).variant(htmx)
		toms := e.signIn(t, tom)
		list := here.get(t, "/account/sessions")
		wantStatus(t, list, http.StatusOK)
		if !strings.Contains(list.Body, "Chrome on Android") || !strings.Contains(list.Body, "(this one)") {
			t.Errorf("the list:\n%s", list.Body)
		}
		r = here.post(t, "/account/sessions/end_others", url.Values{})
		if htmx {
			wantStatus(t, r, http.StatusOK)
			part := wantFragment(t, r, "sessions", "#sessions")
			if !strings.Contains(part.TextContent(), "signed out everywhere else") || strings.Contains(part.TextContent(), "Chrome on Android") {
				t.Errorf("after signing out elsewhere:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, "/account/sessions?done=1")
		}
		if r := phone.get(t, "/inbox"); r.Status != http.StatusSeeOther {
			t.Errorf("the phone's session still works: %d", r.Status)
		}
		for _, c := range []*client{here, toms} {
			if r := c.get(t, "/inbox"); r.Status != http.StatusOK {
				t.Errorf("a session that should stay ended: %d", r.Status)
			}
		}
		if strings.Contains(here.variant(false).get(t, "/account/sessions").Body, "Sign Out Everywhere Else") {
			t.Error("offered to sign out elsewhere with no other session")
		}
	})
}

// TestPasswordResetPages: the request answers the same for an address with and without an
// account, keeps a malformed one with its problem (422); a link opens the form, refuses passwords
// that differ (422), sets the password once and ends every session; used again, it is gone (410).
func TestPasswordResetPages(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		anon := e.anon().variant(htmx)
		known := anon.send(t, "POST", "/password/forgot", url.Values{"email": {maria}})
		unknown := anon.send(t, "POST", "/password/forgot", url.Values{"email": {"nobody@riverside.example"}})
		if known.Status != unknown.Status || known.Body != unknown.Body || known.Header.Get("Location") != unknown.Header.Get("Location") {
			t.Errorf("known and unknown addresses answer apart: %d %q / %d %q", known.Status, known.Header.Get("Location"), unknown.Status, unknown.Header.Get("Location"))
		}
		bad := anon.send(t, "POST", "/password/forgot", url.Values{"email": {"maria at riverside"}})
		wantStatus(t, bad, http.StatusUnprocessableEntity)
		if !strings.Contains(bad.Body, `value="maria at riverside"`) {
			t.Errorf("the address typed is not kept:\n%s", bad.Body)
		}

		var id int64
		if err := e.st.DB().Get(&id, `SELECT id FROM password_resets WHERE user_id = $1`, e.user(t, maria).ID); err != nil {
			t.Fatalf("no reset for the known address: %v", err)
		}
		mail, ok, err := e.st.MintPasswordReset(t.Context(), id)
		if err != nil || !ok {
			t.Fatal(err, ok)
		}
		link := "/password/reset/" + mail.Token
		signedIn := e.signIn(t, maria)
		wantStatus(t, anon.get(t, link), http.StatusOK)
		r := anon.send(t, "POST", link, url.Values{"new_password": {"a long new password"}, "confirm": {"another one"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		r = anon.send(t, "POST", link, url.Values{"new_password": {"a long new password"}, "confirm": {"a long new password"}})
		if htmx {
			if r.Status != http.StatusNoContent || r.Header.Get("HX-Redirect") != "/signin?reset=1" {
				t.Errorf("reset: %d, HX-Redirect %q", r.Status, r.Header.Get("HX-Redirect"))
			}
		} else {
			wantRedirect(t, r, "/signin?reset=1")
		}
		if r := signedIn.get(t, "/inbox"); r.Status != http.StatusSeeOther {
			t.Errorf("a session outlived the reset: %d", r.Status)
		}
		if r := e.anon().get(t, "/signin?reset=1"); !strings.Contains(r.Body, "Your password was changed") {
			t.Error("the sign-in page does not say the password was changed")
		}
		e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"a long new password"}})
		for _, method := range []string{"GET", "POST"} {
			r := anon.send(t, method, link, url.Values{"new_password": {"yet another password"}, "confirm": {"yet another password"}})
			if r.Status != http.StatusGone || !strings.Contains(r.Body, "expired or was already used") {
				t.Errorf("%s of a used link: %d", method, r.Status)
			}
		}
	})
}
