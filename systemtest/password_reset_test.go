package systemtest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
)

// testPasswordResetByMail: a patient who forgot her password asks for a link on the built
// binary's page, reads it in the real Mailpit, sets a new password through it and signs in with
// it; the session she had was ended, the link works once, and an address without an account got
// the same answer and no e-mail. Every e-mail is checked for health information and names when
// the test ends (mailtest.Start).
func testPasswordResetByMail(t *testing.T, bin string) {
	r := newMailRig(t, localmail.Options{})
	r.serve(t, bin, r.env)
	before := secSignIn(t, r.web.URL, secMaria)
	anon := secAnon(r.web.URL)
	ask := func(email string) *secResp {
		resp, err := anon.do("POST", "/password/forgot", url.Values{"email": {email}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	known, unknown := ask(secMaria), ask("nobody@riverside.example")
	if known.Status != http.StatusSeeOther || known.Header.Get("Location") != "/password/forgot?sent=1" ||
		unknown.Status != known.Status || unknown.Header.Get("Location") != known.Header.Get("Location") {
		t.Fatalf("requests answered %s and %s", known, unknown)
	}
	page := anon.get(t, "/password/forgot?sent=1")
	if !strings.Contains(page.Body, "If an account uses that address") {
		t.Errorf("the page after the request:\n%s", excerpt(page.Body))
	}

	mails := mailtest.WaitFor(t, r.mail.WebURL, 30*time.Second, "the reset e-mail", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, secMaria)) == 1
	})
	if len(mails) != 1 {
		t.Errorf("e-mails:%s", mailtest.Summary(mails))
	}
	text := strings.ReplaceAll(mailtest.To(mails, secMaria)[0].Text, "\r\n", "\n")
	var link string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, r.web.URL+"/password/reset/") {
			link = strings.TrimPrefix(line, r.web.URL)
		}
	}
	if link == "" {
		t.Fatalf("no reset link in %q", text)
	}
	if form := anon.get(t, link); form.Status != http.StatusOK || !strings.Contains(form.Body, "Choose a new password") {
		t.Fatalf("the link opens %s\n%s", form, excerpt(form.Body))
	}
	set, err := anon.do("POST", link, url.Values{"new_password": {"remembered at last"}, "confirm": {"remembered at last"}})
	if err != nil || set.Status != http.StatusSeeOther || set.Header.Get("Location") != "/signin?reset=1" {
		t.Fatalf("setting the new password: %v %v", set, err)
	}
	if r := before.get(t, "/inbox"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("her session from before the reset: %s", r)
	}
	signin, err := secAnon(r.web.URL).do("POST", "/signin", url.Values{"email": {secMaria}, "password": {"remembered at last"}})
	if err != nil || signin.Status != http.StatusSeeOther || signin.Header.Get("Location") != "/inbox" {
		t.Errorf("signing in with the new password: %v %v", signin, err)
	}
	if again := anon.get(t, link); again.Status != http.StatusGone {
		t.Errorf("the link used again: %s", again)
	}
	if n := r.sys.count(t, `SELECT count(*) FROM password_resets WHERE token_hash IS NOT NULL AND used_at IS NOT NULL`); n != 1 {
		t.Errorf("%d resets used", n)
	}
}
