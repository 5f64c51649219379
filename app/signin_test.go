package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"securemessages/store"
	"securemessages/views/htmltest"
)

func TestSigninWrongPasswordAndUnknownEmailLookTheSame(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const unknown = "nobody.here@riverside.example"
	wrong := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"not-the-password"}})
	nobody := e.anon().send(t, "POST", "/signin", url.Values{"email": {unknown}, "password": {"not-the-password"}})
	for _, r := range []*response{wrong, nobody} {
		wantStatus(t, r, http.StatusUnauthorized)
		wantPage(t, r)
		if want := "That email and password do not match an account. Please try again."; !strings.Contains(r.Body, want) {
			t.Errorf("sign-in failure page does not say %q:\n%s", want, r.Body)
		}
		if c := r.cookie("sid"); c != nil && c.Value != "" {
			t.Errorf("a failed sign-in set a session cookie")
		}
	}
	// The address typed is kept in the form; apart from it, an attacker learns nothing.
	if a, b := strings.ReplaceAll(wrong.Body, maria, "EMAIL"), strings.ReplaceAll(nobody.Body, unknown, "EMAIL"); a != b {
		t.Errorf("a wrong password and an unknown address answer differently:\n%s\n----\n%s", a, b)
	}
}

func TestSigninLocksAccountAfterFiveFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		r := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"guess"}})
		wantStatus(t, r, http.StatusUnauthorized)
	}
	r := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if !strings.Contains(r.Body, "Too many failed sign-ins") {
		t.Errorf("locked sign-in does not say why:\n%s", r.Body)
	}
	if c := r.cookie("sid"); c != nil && c.Value != "" {
		t.Error("a locked account was signed in")
	}
	if n := e.counts(t).Sessions; n != 0 {
		t.Errorf("%d sessions after a locked sign-in, want 0", n)
	}
	// The lock is on the account, not on everyone at this address.
	e.signIn(t, tom)
}

func TestSigninSetsRotatedHttpOnlyLaxCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const planted = "planted-by-an-attacker"
	planter := &client{e: e, cookie: &http.Cookie{Name: "sid", Value: planted}}
	r := planter.send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}})
	wantRedirect(t, r, "/inbox")
	c := r.cookie("sid")
	if c == nil || c.Value == "" {
		t.Fatalf("no sid cookie: %q", r.Header.Values("Set-Cookie"))
	}
	if c.Value == planted {
		t.Fatal("sign-in kept the cookie planted before it")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %q: want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP", r.Header.Get("Set-Cookie"))
	}
	signedIn := &client{e: e, cookie: c}
	if page := signedIn.get(t, "/inbox"); page.Status != http.StatusOK || !strings.Contains(page.Body, "Signed in as Maria Lopez") {
		t.Fatalf("the new cookie does not sign in: %d\n%s", page.Status, page.Body)
	}
	if page := planter.get(t, "/inbox"); page.Status != http.StatusSeeOther {
		t.Fatalf("the planted cookie signs in: %d", page.Status)
	}

	// Signing in again, already signed in, also gives a new session.
	again := signedIn.post(t, "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}})
	wantRedirect(t, again, "/inbox")
	if c2 := again.cookie("sid"); c2 == nil || c2.Value == "" || c2.Value == c.Value {
		t.Errorf("second sign-in did not rotate the session: %q", again.Header.Values("Set-Cookie"))
	}
}

func TestSigninOverHTTPSSetsSecureHostCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}},
		"X-Forwarded-Proto", "https")
	wantRedirect(t, r, "/inbox")
	c := r.cookie("__Host-sid")
	if c == nil || c.Value == "" {
		t.Fatalf("no __Host-sid cookie: %q", r.Header.Values("Set-Cookie"))
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %q: want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", r.Header.Get("Set-Cookie"))
	}
	if plain := r.cookie("sid"); plain != nil {
		t.Errorf("a plain sid cookie was set over HTTPS too: %q", r.Header.Values("Set-Cookie"))
	}
	if sts := r.Header.Get("Strict-Transport-Security"); !strings.Contains(sts, "max-age=31536000") {
		t.Errorf("no HSTS over HTTPS: %q", sts)
	}
	signedIn := &client{e: e, cookie: c}
	if page := signedIn.get(t, "/inbox", "X-Forwarded-Proto", "https"); page.Status != http.StatusOK {
		t.Fatalf("the __Host-sid cookie does not sign in over HTTPS: %d", page.Status)
	}
}

func TestSignoutEndsSessionOnServer(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		patient := e.signIn(t, maria).variant(htmx)
		token := patient.token(t)
		before := e.counts(t).Sessions
		r := patient.post(t, "/signout", nil)
		if htmx {
			wantStatus(t, r, http.StatusNoContent)
			if got := r.Header.Get("HX-Redirect"); got != "/signin" {
				t.Errorf("HX-Redirect %q, want /signin", got)
			}
		} else {
			wantRedirect(t, r, "/signin")
		}
		if c := r.cookie("sid"); c == nil || c.Value != "" || !c.Expires.Before(time.Now()) {
			t.Errorf("sign-out did not clear the cookie: %q", r.Header.Values("Set-Cookie"))
		}
		if got := r.Header.Get("Clear-Site-Data"); !strings.Contains(got, `"cache"`) {
			t.Errorf("Clear-Site-Data %q", got)
		}
		if after := e.counts(t).Sessions; after != before-1 {
			t.Errorf("sessions %d -> %d: the session was not deleted on the server", before, after)
		}
		// The old cookie, replayed, is worth nothing: no page, no change.
		page := patient.variant(false).get(t, "/inbox")
		wantRedirect(t, page, "/signin")
		patient.csrf = token
		refused := patient.variant(false).post(t, "/conversations/1/archive", nil)
		wantStatus(t, refused, http.StatusUnauthorized)
	})
}

func TestSigninPagesRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anon := e.anon()
	wantRedirect(t, anon.get(t, "/"), "/signin")
	page := anon.get(t, "/signin")
	wantStatus(t, page, http.StatusOK)
	form := wantPage(t, page).First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == "/signin" })
	if form == nil || form.Input("email") == nil || form.Input("password") == nil {
		t.Fatalf("no sign-in form:\n%s", page.Body)
	}
	if scripts := page.doc(t).All(htmltest.Tag("script")); len(scripts) != 0 {
		t.Error("the signed-out page loads a script; it has nothing to swap")
	}
	patient := e.signIn(t, maria)
	wantRedirect(t, patient.get(t, "/"), "/inbox")
	wantRedirect(t, patient.get(t, "/signin"), "/inbox")
}

// totpOn turns the second factor on for a demo account through the store, and returns its secret.
func (e *env) totpOn(t *testing.T, email string) string {
	t.Helper()
	ctx := context.Background()
	setup, err := e.st.BeginTOTP(ctx, e.user(t, email), "Secure Messages")
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(setup.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.EnableTOTP(ctx, e.user(t, email), code, store.Origin{RequestID: "test"}); err != nil {
		t.Fatal(err)
	}
	return setup.Secret
}

// passwordStep signs in with the password of an account that has the second factor on, and
// returns the browser, which now owes its code.
func (e *env) passwordStep(t *testing.T, email string) *client {
	t.Helper()
	c := e.anon()
	r := c.send(t, "POST", "/signin", url.Values{"email": {email}, "password": {store.DemoPassword}})
	wantRedirect(t, r, "/signin/code")
	c.cookie = r.cookie("sid")
	return c
}

// submit fills in a form of the page at path as a person would (its own fields, hidden ones
// included, plus what they type) and sends it.
func (c *client) submit(t *testing.T, path, action string, typed url.Values) *response {
	t.Helper()
	page := c.get(t, path)
	wantStatus(t, page, http.StatusOK)
	form := page.doc(t).First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == action })
	if form == nil {
		t.Fatalf("no form to %s in %s:\n%s", action, path, page.Body)
	}
	values := form.FormValues()
	for k, v := range typed {
		values[k] = v
	}
	return c.send(t, "POST", action, values)
}

// TestSigninAgainFromTheCodeStep: a browser that owes its second-factor code can still use the
// sign-in form (as the same person or as someone else; the half-signed-in session ends), and the
// code form works after a visit to the sign-in page.
func TestSigninAgainFromTheCodeStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := e.totpOn(t, physician)

	// As someone else: Tom signs in from the browser Dr. Chen left at the code step.
	pending := e.passwordStep(t, physician)
	code := pending.get(t, "/signin/code")
	if link := code.doc(t).First(func(n *htmltest.Node) bool { return n.Tag == "a" && n.Attr["href"] == "/signin" }); link == nil {
		t.Errorf("the code step offers no way back to the sign-in form:\n%s", code.Body)
	}
	r := pending.submit(t, "/signin", "/signin", url.Values{"email": {tom}, "password": {store.DemoPassword}})
	wantRedirect(t, r, "/inbox")
	tomsBrowser := &client{e: e, cookie: r.cookie("sid")}
	if page := tomsBrowser.get(t, "/inbox"); page.Status != http.StatusOK || !strings.Contains(page.Body, "Signed in as Tom Becker") {
		t.Fatalf("signed in as Tom from the code step: %d\n%s", page.Status, page.Body)
	}
	wantRedirect(t, pending.get(t, "/signin/code"), "/signin") // the half-signed-in session ended

	// As the same person: back to the code step under a new session, and the code form works.
	pending = e.passwordStep(t, physician)
	r = pending.submit(t, "/signin", "/signin", url.Values{"email": {physician}, "password": {store.DemoPassword}})
	wantRedirect(t, r, "/signin/code")
	old := pending.cookie
	pending.cookie = r.cookie("sid")
	if pending.cookie == nil || pending.cookie.Value == old.Value {
		t.Fatalf("signing in again from the code step kept the session: %q", r.Header.Values("Set-Cookie"))
	}
	now, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, pending.submit(t, "/signin/code", "/signin/code", url.Values{"code": {now}}), "/inbox")

	// Still refused from another site, owing the code or not.
	pending = e.passwordStep(t, physician)
	page := pending.get(t, "/signin").doc(t).First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == "/signin" })
	values := page.FormValues()
	values.Set("email", tom)
	values.Set("password", store.DemoPassword)
	wantStatus(t, pending.send(t, "POST", "/signin", values, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
}

// TestSigninAttemptsLimitedWhateverTheOutcome: right passwords count too. Past the account's
// attempt limit even the right password gets a 429 sign-in page that keeps the address typed,
// and an unknown account gets exactly the same; past the address's limit, every account is
// refused from it.
func TestSigninAttemptsLimitedWhateverTheOutcome(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Signin.AttemptsPerAccount, cfg.Signin.AttemptsPerAddress = 3, 8
	e := newEnvWith(t, cfg)
	const unknown = "nobody.here@riverside.example"
	for range 3 {
		e.signIn(t, maria)
		wantStatus(t, e.anon().send(t, "POST", "/signin", url.Values{"email": {unknown}, "password": {store.DemoPassword}}), http.StatusUnauthorized)
	}
	before := e.counts(t)
	known := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {store.DemoPassword}})
	nobody := e.anon().send(t, "POST", "/signin", url.Values{"email": {unknown}, "password": {store.DemoPassword}})
	for _, r := range []*response{known, nobody} {
		wantStatus(t, r, http.StatusTooManyRequests)
		if !strings.Contains(r.Body, "Too many sign-ins for this account or from this network in a short time. For your security, please wait 15 minutes and try again.") {
			t.Errorf("the refused sign-in does not say why:\n%s", r.Body)
		}
		if c := r.cookie("sid"); c != nil && c.Value != "" {
			t.Error("a refused sign-in set a session cookie")
		}
	}
	if email := wantPage(t, known).Input("email"); email == nil || email.Attr["value"] != maria {
		t.Errorf("the refused sign-in does not keep the address typed:\n%s", known.Body)
	}
	if a, b := strings.ReplaceAll(known.Body, maria, "EMAIL"), strings.ReplaceAll(nobody.Body, unknown, "EMAIL"); a != b {
		t.Errorf("a known and an unknown account answer differently when limited:\n%s\n----\n%s", a, b)
	}
	if after := e.counts(t); after != before {
		t.Errorf("a refused sign-in changed something: %+v -> %+v", before, after)
	}
	// Six attempts so far from this address (the refused ones are not counted): two more go in,
	// then the address is refused for everyone.
	e.signIn(t, tom)
	e.signIn(t, grace)
	wantStatus(t, e.anon().send(t, "POST", "/signin", url.Values{"email": {physician}, "password": {store.DemoPassword}}), http.StatusTooManyRequests)
}
