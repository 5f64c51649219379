package systemtest

// Sessions over real HTTP: fixation, idle and absolute expiry (timestamps moved back in
// PostgreSQL rather than waiting), sign-out ending the session on the server and its streams,
// the randomness of session ids, and the cookie's attributes behind a TLS-terminating router.

import (
	"encoding/base64"
	"math/bits"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"securemessages/app"
	"securemessages/realtime"
	"securemessages/store"
)

// TestSessionFixation: whatever cookie a browser carried before signing in, it is worth nothing
// afterwards. A token an attacker made up is never accepted; a real session token planted in the
// victim's browser (the attacker's own, or an old one of hers) is ended by her sign-in; and the
// sign-in always issues a token of its own.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)

	// A made-up token: never accepted, before or after a sign-in that carried it.
	planted := secAnon(in.URL)
	planted.cookie = &http.Cookie{Name: "sid", Value: base64.RawURLEncoding.EncodeToString(make([]byte, 32))}
	if r := planted.get(t, "/inbox"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Fatalf("a made-up token: %s", r)
	}
	madeUp := planted.cookie.Value
	planted.signIn(t, secMaria)
	if planted.cookie.Value == madeUp {
		t.Fatal("sign-in kept the token the browser came with")
	}
	ghost := secAnon(in.URL)
	ghost.cookie = &http.Cookie{Name: "sid", Value: madeUp}
	if r := ghost.get(t, "/inbox"); r.Status != http.StatusSeeOther {
		t.Errorf("the made-up token after a sign-in that carried it: %s", r)
	}

	// A real token, planted: the attacker signs in as himself and puts his cookie in Maria's
	// browser; she signs in over it.
	attacker := in.signIn(t, secTom)
	victim := secAnon(in.URL)
	victim.cookie = &http.Cookie{Name: "sid", Value: attacker.cookie.Value}
	victim.signIn(t, secMaria)
	if victim.cookie.Value == attacker.cookie.Value {
		t.Fatal("sign-in kept the planted token")
	}
	if r := victim.get(t, "/inbox"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Maria Lopez") {
		t.Fatalf("Maria after signing in: %s", r)
	}
	if r := attacker.get(t, "/inbox"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Errorf("the token planted before Maria's sign-in still works afterwards: %s", r)
	}

	// Signing in again in the same browser ends the session it had.
	old := victim.cookie.Value
	before := sys.count(t, `SELECT count(*) FROM sessions`)
	victim.signIn(t, secMaria)
	stale := secAnon(in.URL)
	stale.cookie = &http.Cookie{Name: "sid", Value: old}
	if r := stale.get(t, "/inbox"); r.Status != http.StatusSeeOther {
		t.Errorf("the session from before signing in again still works: %s", r)
	}
	if after := sys.count(t, `SELECT count(*) FROM sessions`); after != before {
		t.Errorf("sessions %d -> %d after signing in again: the old one should have gone", before, after)
	}
}

// TestSessionExpiry: a session idle for longer than the idle timeout, or older than the absolute
// lifetime however busy, is signed out; its open stream is told so and ends. Just inside both
// limits, it lives.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	limits := in.Cfg.Sessions
	if limits.Idle <= 0 || limits.Idle > time.Hour || limits.Absolute <= limits.Idle || limits.Absolute > 24*time.Hour {
		t.Fatalf("session limits %+v: want an idle timeout of at most an hour and a longer absolute lifetime of at most a day", limits)
	}
	age := func(t *testing.T, c *secClient, set string, d time.Duration) {
		t.Helper()
		if _, err := sys.db().Exec(`UPDATE sessions SET `+set+` WHERE token_hash = decode($2, 'hex')`,
			d.Seconds(), store.SessionKey(c.cookie.Value)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		set  string
		by   time.Duration
	}{
		{"idle", `last_seen_at = now() - make_interval(secs => $1::float8)`, limits.Idle},
		{"absolute", `created_at = now() - make_interval(secs => $1::float8)`, limits.Absolute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := in.signIn(t, secMaria)
			c.token(t)
			age(t, c, tc.set, tc.by-time.Minute)
			if r := c.get(t, "/inbox"); r.Status != http.StatusOK {
				t.Fatalf("a minute inside the %s limit: %s", tc.name, r)
			}
			s := c.stream(t, "Maria's stream", sys.newestEvent(t))
			age(t, c, tc.set, tc.by+time.Minute)
			fs := s.waitFor(t, "the end of the stream", secWait, func(_ []sseFrame, ended bool) bool { return ended })
			if last := fs[len(fs)-1]; last.Event != realtime.SSESignedOut {
				t.Errorf("the stream of an expired session ended with %+v, want a %s event", last, realtime.SSESignedOut)
			}
			r := c.get(t, "/inbox")
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
				t.Fatalf("past the %s limit: %s", tc.name, r)
			}
			if ck := r.cookie("sid"); ck == nil || ck.Value != "" {
				t.Errorf("past the %s limit, the cookie is not cleared: %q", tc.name, r.Header.Values("Set-Cookie"))
			}
			if r := c.post(t, "/messages", secComposeForm("Too late", "Text")); r.Status != http.StatusUnauthorized {
				t.Errorf("a send past the %s limit: %s", tc.name, r)
			}
		})
	}
}

// TestSignOutEndsSessionAndStreams: sign-out deletes the session row, the cookie no longer signs
// in (replayed, it changes nothing), and the session's open stream is told and ends at once,
// while the same person's other session, on another device, carries on.
func TestSignOutEndsSessionAndStreams(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	// A heartbeat of a minute: the stream's own session check (every third heartbeat) cannot end
	// it within the wait, so an end seen here was pushed.
	in := sys.start(t, func(c *app.Config) { c.Heartbeat = time.Minute })
	laptop, phone := in.signIn(t, secMaria), in.signIn(t, secMaria)
	token := laptop.token(t)
	after := sys.newestEvent(t)
	laptopStream, phoneStream := laptop.stream(t, "the laptop's stream", after), phone.stream(t, "the phone's stream", after)

	r := laptop.post(t, "/signout", url.Values{})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
		t.Fatalf("sign out: %s", r)
	}
	if n := sys.count(t, `SELECT count(*) FROM sessions WHERE token_hash = decode($1, 'hex')`, store.SessionKey(laptop.cookie.Value)); n != 0 {
		t.Error("the session row is still there after sign-out")
	}
	start := time.Now()
	fs := laptopStream.waitFor(t, "the end of the stream", secWait, func(_ []sseFrame, ended bool) bool { return ended })
	if last := fs[len(fs)-1]; last.Event != realtime.SSESignedOut {
		t.Errorf("the signed-out stream ended with %+v", last)
	}
	t.Logf("the stream ended %v after sign-out", time.Since(start).Round(time.Millisecond))
	if r := laptop.get(t, "/inbox"); r.Status != http.StatusSeeOther {
		t.Errorf("the cookie after sign-out: %s", r)
	}
	before := sys.state(t)
	if r, _ := laptop.do("POST", "/messages", withToken(secComposeForm("Replayed", "Text"), token)); r.Status != http.StatusUnauthorized {
		t.Errorf("a send with the signed-out cookie and its token: %s", r)
	}
	if after := sys.state(t); after != before {
		t.Errorf("a request with the signed-out cookie changed something")
	}
	if _, ended := phoneStream.snapshot(); ended {
		t.Error("the phone's stream (another session) ended too")
	}
	if r := phone.get(t, "/inbox"); r.Status != http.StatusOK {
		t.Errorf("the phone's session after the laptop signed out: %s", r)
	}
}

// TestSessionIDsAreRandom: session tokens carry at least 128 random bits. Twelve sign-ins give
// twelve different tokens of at least 16 bytes; any two differ in about half their bits (a
// counter, a timestamp or a short random part would not); the database keeps only a hash.
func TestSessionIDsAreRandom(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	var tokens [][]byte
	seen := map[string]bool{}
	for range 12 {
		c := in.signIn(t, secTom)
		raw, err := base64.RawURLEncoding.DecodeString(c.cookie.Value)
		if err != nil {
			t.Fatalf("token %q is not base64url: %v", c.cookie.Value, err)
		}
		if len(raw) < 16 {
			t.Fatalf("token of %d bytes, want at least 16 (128 bits)", len(raw))
		}
		if seen[c.cookie.Value] {
			t.Fatal("the same token twice")
		}
		seen[c.cookie.Value] = true
		tokens = append(tokens, raw)
		if n := sys.count(t, `SELECT count(*) FROM sessions WHERE token_hash = $1 OR csrf_token = $2`, raw, c.cookie.Value); n != 0 {
			t.Error("the session token is stored as it is")
		}
	}
	for i := range tokens {
		for j := i + 1; j < len(tokens); j++ {
			n := len(tokens[i]) * 8
			d := 0
			for k := range tokens[i] {
				d += bits.OnesCount8(tokens[i][k] ^ tokens[j][k])
			}
			// Random tokens differ in n/2 bits, give or take sqrt(n)/2; eight of those is far
			// beyond chance (about 1 in 10^15 per pair).
			if spread := 4 * isqrt(n); d < n/2-spread || d > n/2+spread {
				t.Errorf("tokens %d and %d differ in %d of %d bits", i, j, d, n)
			}
		}
	}
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// TestCookieBehindTLS: behind a router that terminates TLS and says so in X-Forwarded-Proto, the
// session cookie is __Host-sid: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain, and it lasts
// no longer than a session may. Sign-out clears it the same way. A plain "sid" cookie (which
// anybody on plain HTTP, or a sibling subdomain, could have set) is not read over HTTPS.
func TestCookieBehindTLS(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	c := secAnon(in.URL)
	c.header = []string{"X-Forwarded-Proto", "https"}
	r := c.post(t, "/signin", url.Values{"email": {secMaria}, "password": {store.DemoPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign in over HTTPS: %s", r)
	}
	checkCookie := func(r *secResp, clearing bool) *http.Cookie {
		t.Helper()
		if r.cookie("sid") != nil {
			t.Errorf("a plain sid cookie over HTTPS: %q", r.Header.Values("Set-Cookie"))
		}
		ck := r.cookie("__Host-sid")
		if ck == nil {
			t.Fatalf("no __Host-sid cookie: %q", r.Header.Values("Set-Cookie"))
		}
		raw := strings.Join(r.Header.Values("Set-Cookie"), "\n")
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("cookie %q: want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", raw)
		}
		if clearing {
			if ck.Value != "" || !ck.Expires.Before(time.Now()) {
				t.Errorf("sign-out does not clear the cookie: %q", raw)
			}
		} else if ck.Value == "" || ck.Expires.After(time.Now().Add(in.Cfg.Sessions.Absolute+time.Minute)) {
			t.Errorf("cookie %q outlives the session's absolute lifetime %v", raw, in.Cfg.Sessions.Absolute)
		}
		return ck
	}
	c.cookie = checkCookie(r, false)
	if r := c.get(t, "/inbox"); r.Status != http.StatusOK {
		t.Fatalf("the __Host-sid cookie over HTTPS: %s", r)
	}
	plain := secAnon(in.URL)
	plain.header = c.header
	plain.cookie = &http.Cookie{Name: "sid", Value: c.cookie.Value}
	if r := plain.get(t, "/inbox"); r.Status != http.StatusSeeOther {
		t.Errorf("a plain sid cookie read over HTTPS: %s", r)
	}
	checkCookie(c.post(t, "/signout", url.Values{}), true)
}
