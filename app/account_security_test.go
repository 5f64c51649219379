package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// totpStep is where turning the second factor on or off stands for the test: the form's action,
// and how to reach it for an account signed in as email (returning the authenticator's secret).
type totpStep struct {
	action string
	ready  func(t *testing.T, e *env, c *client, email string) string
	// on is whether the second factor is on before the change, and so after a refusal.
	on bool
}

var totpSteps = map[string]totpStep{
	"turn on": {action: "/account/totp/enable", ready: func(t *testing.T, e *env, c *client, _ string) string {
		page := c.post(t, "/account/totp", nil)
		wantStatus(t, page, http.StatusOK)
		return page.doc(t).First(func(n *htmltest.Node) bool { return n.Tag == "code" && n.HasClass("secret") }).TextContent()
	}},
	"turn off": {action: "/account/totp/disable", on: true, ready: func(t *testing.T, e *env, c *client, email string) string {
		return e.totpOn(t, email)
	}},
}

// TestTOTPChangeTakesPasswordAndIsLimited: turning the second factor on or off takes the
// password and a current code. A wrong password (even with the right code) or a wrong code is
// refused with 422, keeps the code typed and never the password, is counted against the
// account's sign-in limit and audited as second_factor_failed; once the account has failed five
// times, even the right password and code get 429 and change nothing. Failures from one address
// lock that address for other accounts too.
func TestTOTPChangeTakesPasswordAndIsLimited(t *testing.T) {
	t.Parallel()
	for name, step := range totpSteps {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.signIn(t, physician)
			secret := step.ready(t, e, c, physician)
			good := func() string {
				// The step after now: the one the server accepts that set-up has not used.
				code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				return code
			}
			try := func(password, code string, status int, problem string) {
				t.Helper()
				r := c.post(t, step.action, url.Values{"password": {password}, "code": {code}})
				wantStatus(t, r, status)
				doc := wantPage(t, r)
				form := doc.First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == step.action })
				if form == nil || form.Input("code").Attr["value"] != code || form.Input("password").Attr["value"] != "" {
					t.Errorf("%s: the form is not shown again with the code kept and the password empty:\n%s", step.action, r.Body)
				}
				if strings.Contains(r.Body, password) {
					t.Errorf("%s: the password is echoed", step.action)
				}
				if !strings.Contains(r.Body, problem) {
					t.Errorf("%s: the page does not say %q:\n%s", step.action, problem, r.Body)
				}
				if on := e.user(t, physician).TOTPEnabled; on != step.on {
					t.Fatalf("%s refused with %d, yet the second factor is now on=%v", step.action, status, on)
				}
			}
			try("not-the-password", good(), http.StatusUnprocessableEntity, "That password is not right")
			if n := e.failures(t, physician); n != 1 {
				t.Errorf("%d failures counted after a wrong password, want 1", n)
			}
			for i := 2; i <= 5; i++ {
				try(store.DemoPassword, "000000", http.StatusUnprocessableEntity, "That code did not match")
				if n := e.failures(t, physician); n != i {
					t.Errorf("%d failures counted after a wrong code, want %d", n, i)
				}
			}
			try(store.DemoPassword, good(), http.StatusTooManyRequests, "Too many failed attempts")
			var audited []string
			if err := e.st.DB().Select(&audited, `SELECT action || ':' || outcome || ':' || object_id FROM audit_log
				WHERE action LIKE 'second_factor%' ORDER BY chain_seq`); err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(strings.Repeat("second_factor_failed:failure:"+itoa(e.user(t, physician).ID)+",", 5), ",")
			if step.on {
				want = "second_factor_enabled:success:" + itoa(e.user(t, physician).ID) + "," + want
			}
			if got := strings.Join(audited, ","); got != want {
				t.Errorf("audited %s, want %s", got, want)
			}
			// The lock is the sign-in lock: the password alone no longer signs in either.
			wantStatus(t, e.anon().send(t, "POST", "/signin", url.Values{"email": {physician}, "password": {store.DemoPassword}}), http.StatusTooManyRequests)
		})
	}
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t)
		cfg.Signin.PerAddress = 2
		e := newEnvWith(t, cfg)
		c := e.signIn(t, tom)
		totpSteps["turn on"].ready(t, e, c, tom)
		for _, email := range []string{physician, maria} {
			wantStatus(t, e.signIn(t, email).post(t, "/account/totp/disable", url.Values{"password": {"guess"}, "code": {"000000"}}),
				http.StatusUnprocessableEntity)
		}
		wantStatus(t, c.post(t, "/account/totp/enable", url.Values{"password": {store.DemoPassword}, "code": {"000000"}}), http.StatusTooManyRequests)
	})
}
