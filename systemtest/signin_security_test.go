package systemtest

// Sign-in: attempts limited per account and per address in PostgreSQL, so the limit holds across
// instances and while Redis is down; one answer for an unknown account and a wrong password; and
// the optional second factor (TOTP), turned on and off by the account holder.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"securemessages/app"
	"securemessages/store"
	"securemessages/views/htmltest"
)

// TestSigninLimits: with two instances over one database, five wrong passwords for an account,
// spread over both, lock it on both, even for the right password; with Redis stopped the lock
// holds (it does not fail open), and so does the limit on attempts of any outcome, right
// passwords included; thirty failures from one address lock that address for every
// account; and at each step an unknown account gets exactly the answer a known one gets.
func TestSigninLimits(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	limits := sys.config(t).Signin
	if limits.PerAccount < 1 || limits.PerAccount > 10 || limits.PerAddress < limits.PerAccount || limits.Window < 5*time.Minute {
		t.Fatalf("sign-in limits %+v: want at most 10 per account, more per address, over at least 5 minutes", limits)
	}
	if limits.AttemptsPerAccount <= limits.PerAccount || limits.AttemptsPerAddress <= limits.PerAddress {
		t.Fatalf("sign-in limits %+v: want more attempts of any outcome allowed than failures", limits)
	}
	// The per-address allowance is lowered for the test (every failure costs a password hash),
	// and so is each account's allowance of attempts; the address's is raised out of the way.
	limits.PerAddress = 3 * limits.PerAccount
	limits.AttemptsPerAccount, limits.AttemptsPerAddress = limits.PerAccount+2, 1000
	tweak := func(c *app.Config) { c.Signin = limits }
	a, b := sys.start(t, tweak), sys.start(t, tweak)
	instances := []*instance{a, b}
	try := func(n int, email, password string) *secResp {
		t.Helper()
		r, err := instances[n%2].anon().do("POST", "/signin", url.Values{"email": {email}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// same checks that a known and an unknown account get the same status and page, apart from
	// the address typed, which the form keeps.
	same := func(what string, known, unknown *secResp, knownEmail, unknownEmail string, status int) {
		t.Helper()
		if known.Status != status || unknown.Status != status {
			t.Fatalf("%s: known account %d, unknown %d, want %d", what, known.Status, unknown.Status, status)
		}
		k := strings.ReplaceAll(known.Body, knownEmail, "EMAIL")
		u := strings.ReplaceAll(unknown.Body, unknownEmail, "EMAIL")
		if secVisible(t, k) != secVisible(t, u) {
			t.Errorf("%s: a known and an unknown account answer differently:\n%s\n----\n%s", what, secVisible(t, k), secVisible(t, u))
		}
		for _, r := range []*secResp{known, unknown} {
			if r.cookie("sid") != nil && r.cookie("sid").Value != "" {
				t.Errorf("%s: a failed sign-in set a session cookie", what)
			}
		}
	}
	const nobody = "nobody.at.all@riverside.example"

	// A wrong password and an unknown account: one answer.
	same("wrong password", try(0, secTom, "wrong password"), try(1, nobody, "wrong password"), secTom, nobody, http.StatusUnauthorized)

	// Per account, across instances.
	for i := range limits.PerAccount {
		if r := try(i, secMaria, "guess"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d for Maria: %s", i+1, r)
		}
	}
	for i := range 2 {
		if r := try(i, secMaria, store.DemoPassword); r.Status != http.StatusTooManyRequests {
			t.Fatalf("Maria's right password after %d failures, on instance %d: %s", limits.PerAccount, i%2, r)
		}
	}
	// An unknown account that fails as often is locked just the same: the lock tells nothing.
	for i := range limits.PerAccount {
		try(i, nobody, "guess")
	}
	same("locked", try(0, secMaria, store.DemoPassword), try(1, nobody, store.DemoPassword), secMaria, nobody, http.StatusTooManyRequests)

	// Redis down: still locked; other accounts still sign in.
	if err := sys.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if r := try(i, secMaria, store.DemoPassword); r.Status != http.StatusTooManyRequests {
			t.Fatalf("Maria's right password with Redis down: %s (the limit failed open)", r)
		}
	}
	// Right passwords count too: Grace signs in as often as an account may, over both
	// instances with Redis down, and then not at all, on either.
	for i := range limits.AttemptsPerAccount {
		if r := try(i, secGrace, store.DemoPassword); r.Status != http.StatusSeeOther {
			t.Fatalf("Grace signing in with Redis down, time %d: %s", i+1, r)
		}
	}
	for i := range 2 {
		if r := try(i, secGrace, store.DemoPassword); r.Status != http.StatusTooManyRequests ||
			secInputValue(secParse(t, r.Body), "email") != secGrace {
			t.Fatalf("Grace signing in past the attempt limit, on instance %d: %s", i%2, r)
		}
	}

	// Per address: every failure so far came from 127.0.0.1; fill the address's allowance with
	// made-up accounts, alternating instances, and the address is locked for everybody.
	failed := sys.count(t, `SELECT count(*) FROM signin_failures WHERE client_ip = '127.0.0.1'`)
	for i := failed; i < limits.PerAddress; i++ {
		if r := try(i, fmt.Sprintf("made.up.%d@riverside.example", i), "guess"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d from the address: %s", i+1, r)
		}
	}
	for i := range 2 {
		if r := try(i, secTom, store.DemoPassword); r.Status != http.StatusTooManyRequests {
			t.Fatalf("Tom from an address with %d failures, on instance %d: %s", limits.PerAddress, i%2, r)
		}
	}
	if n := sys.count(t, `SELECT count(*) FROM signin_failures`); n != limits.PerAddress {
		t.Errorf("%d failures counted, want %d: a refused attempt must not count, nor escape counting", n, limits.PerAddress)
	}
}

// secVisible is what a person sees of a page: its text, without the per-response CSRF token or
// the like.
func secVisible(t *testing.T, body string) string {
	t.Helper()
	return strings.Join(strings.Fields(secParse(t, body).TextContentRaw()), " ")
}

// TestTOTP: a staff member turns on the second factor from the account page, with a code computed
// from the secret it shows. From then on the password alone reaches only the code step (the inbox
// and every action send them back to it); a wrong code is refused and counted; the right one
// signs in under a new token and the half-signed-in one is dead; a code works once; turning the
// factor on or off takes the password and a code, and a wrong one is refused and audited.
func TestTOTP(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	staff := in.signIn(t, secNurse)

	var lastStep int64
	// code is the authenticator's code for the earliest step the server accepts (one step either
	// side of now) that was not used yet, and that stays accepted for a few seconds more: the
	// step before now only while the current step has five seconds left. When every step in the
	// window is used, it waits for the next step, as a person would.
	code := func(t *testing.T) string {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for time.Now().Before(deadline) {
			unix := time.Now().Unix()
			now, left := unix/30, 30-unix%30
			for _, step := range []int64{now - 1, now, now + 1} {
				if step > lastStep && (step >= now || left > 5) {
					lastStep = step
					return secTOTP(t, staff.secret, step)
				}
			}
			time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
		}
		t.Fatal("no unused code")
		return ""
	}

	// Turn it on.
	if r := staff.get(t, "/account/security"); r.Status != http.StatusOK || !strings.Contains(secVisible(t, r.Body), "is off") {
		t.Fatalf("account page: %s", r)
	}
	r := staff.post(t, "/account/totp", url.Values{})
	secret := secParse(t, r.Body).First(func(n *htmltest.Node) bool {
		return n.Tag == "code" && strings.Contains(n.Attr["class"], "secret")
	})
	if r.Status != http.StatusOK || secret == nil {
		t.Fatalf("set-up: %s\n%s", r, excerpt(r.Body))
	}
	staff.secret = secret.TextContentRaw()
	if r := staff.post(t, "/account/totp/enable", url.Values{"password": {store.DemoPassword}, "code": {"123456"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("turning on with a wrong code: %s", r)
	}
	if r := staff.post(t, "/account/totp/enable", url.Values{"password": {"not the password"}, "code": {code(t)}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("turning on with a wrong password: %s", r)
	}
	if r := staff.post(t, "/account/totp/enable", url.Values{"password": {store.DemoPassword}, "code": {code(t)}}); r.Status != http.StatusOK || !strings.Contains(secVisible(t, r.Body), "is on") {
		t.Fatalf("turning on: %s\n%s", r, excerpt(r.Body))
	}
	if n := sys.count(t, `SELECT count(*) FROM users WHERE email = $1 AND totp_enabled AND totp_secret IS NOT NULL
		AND position(convert_to($2, 'UTF8') IN totp_secret) = 0`, secNurse, staff.secret); n != 1 {
		t.Fatal("the second factor is not on, or its secret is stored in clear")
	}

	// The password alone reaches only the code step.
	signInWithPassword := func() *secClient {
		t.Helper()
		c := in.anon()
		r := c.post(t, "/signin", url.Values{"email": {secNurse}, "password": {store.DemoPassword}})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin/code" {
			t.Fatalf("password with the second factor on: %s", r)
		}
		c.cookie = r.cookie("sid")
		c.secret = staff.secret
		return c
	}
	pending := signInWithPassword()
	for _, path := range []string{"/inbox", "/messages/new", "/account/security", "/"} {
		if r := pending.get(t, path); r.Status != http.StatusSeeOther || (path != "/" && r.Header.Get("Location") != "/signin/code") {
			t.Errorf("GET %s owing the code: %s", path, r)
		}
	}
	codePage := pending.get(t, "/signin/code")
	if codePage.Status != http.StatusOK {
		t.Fatalf("code page: %s", codePage)
	}
	pending.csrf = secInputValue(secParse(t, codePage.Body), "_csrf")
	before := sys.state(t)
	for _, path := range []string{"/messages", "/account/totp/disable"} {
		if r := pending.post(t, path, secComposeForm("Owing the code", "Text")); r.Status != http.StatusUnauthorized {
			t.Errorf("POST %s owing the code: %s", path, r)
		}
	}
	if after := sys.state(t); after != before {
		t.Errorf("a session owing its code changed something:\n%s\n%s", before, after)
	}

	// A wrong code: refused and counted against the account.
	failures := sys.count(t, `SELECT count(*) FROM signin_failures WHERE email = $1`, secNurse)
	if r := pending.post(t, "/signin/code", url.Values{"code": {"000000"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("a wrong code: %s", r)
	}
	if n := sys.count(t, `SELECT count(*) FROM signin_failures WHERE email = $1`, secNurse); n != failures+1 {
		t.Errorf("a wrong code was not counted (%d -> %d failures)", failures, n)
	}

	// The right code: signed in, under a new token; the half-signed-in token is dead.
	good := code(t)
	r = pending.post(t, "/signin/code", url.Values{"code": {good}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/inbox" {
		t.Fatalf("the right code: %s\n%s", r, excerpt(r.Body))
	}
	full := in.anon()
	full.cookie = r.cookie("sid")
	if full.cookie == nil || full.cookie.Value == "" || full.cookie.Value == pending.cookie.Value {
		t.Fatalf("the session token did not change with the code: %q", r.Header.Values("Set-Cookie"))
	}
	if r := full.get(t, "/inbox"); r.Status != http.StatusOK {
		t.Fatalf("signed in with the code: %s", r)
	}
	if r := pending.get(t, "/inbox"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("the half-signed-in token after the code: %s", r)
	}

	// The same code again, at another sign-in: refused.
	again := signInWithPassword()
	again.csrf = secInputValue(secParse(t, again.get(t, "/signin/code").Body), "_csrf")
	if r := again.post(t, "/signin/code", url.Values{"code": {good}}); r.Status != http.StatusUnauthorized {
		t.Errorf("a code used a second time: %s", r)
	}

	// Turning it off takes the password and a current code.
	full.secret = staff.secret
	if r := full.post(t, "/account/totp/disable", url.Values{"password": {store.DemoPassword}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("turning off without a code: %s", r)
	}
	if r := full.post(t, "/account/totp/disable", url.Values{"password": {store.DemoPassword}, "code": {"999999"}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("turning off with a wrong code: %s", r)
	}
	offCode := code(t)
	if r := full.post(t, "/account/totp/disable", url.Values{"code": {offCode}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("turning off without the password: %s", r)
	}
	if n := sys.count(t, `SELECT count(*) FROM users WHERE email = $1 AND totp_enabled`, secNurse); n != 1 {
		t.Fatal("the second factor went off without a code")
	}
	if r := full.post(t, "/account/totp/disable", url.Values{"password": {store.DemoPassword}, "code": {offCode}}); r.Status != http.StatusOK || !strings.Contains(secVisible(t, r.Body), "is off") {
		t.Fatalf("turning off with a code: %s", r)
	}
	// And the password alone signs in again.
	in.signIn(t, secNurse)
	if _, broken, err := sys.st.VerifyAudit(context.Background()); err != nil || broken != nil {
		t.Errorf("audit chain: %+v %v", broken, err)
	}
	var actions []string
	if err := sys.db().Select(&actions, `SELECT action FROM audit_log WHERE action LIKE 'second_factor%' OR action = 'password_passed' ORDER BY chain_seq`); err != nil {
		t.Fatal(err)
	}
	const failed = "second_factor_failed"
	if got := strings.Join(actions, ","); got != strings.Join([]string{failed, failed, "second_factor_enabled", "password_passed",
		"second_factor_passed", "password_passed", failed, failed, failed, "second_factor_disabled"}, ",") {
		t.Errorf("audited: %s", got)
	}
}

// secTOTP is an authenticator app's code for a 30-second step.
func secTOTP(t *testing.T, secret string, step int64) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
