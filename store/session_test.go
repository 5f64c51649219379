package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

var limits = store.SessionLimits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}

// newUser adds a practice and one user to a fresh database.
func newUser(t *testing.T, email string) (*store.Store, store.User) {
	t.Helper()
	s := storetest.New(t)
	p, err := s.CreatePractice(t.Context(), "Test Practice", 0, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(t.Context(), store.User{PracticeID: p.ID, Role: store.RolePatient, Email: email,
		PasswordHash: "not-a-real-hash", FullName: "Pat Doe", Initials: "PD"})
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

// ageSession moves a session's times back, as if it had been created or last used earlier.
func ageSession(t *testing.T, s *store.Store, token, column string, by time.Duration) {
	t.Helper()
	h := sha256.Sum256([]byte(token))
	res, err := s.DB().ExecContext(t.Context(),
		`UPDATE sessions SET `+column+` = `+column+` - make_interval(secs => $2) WHERE token_hash = $1`, h[:], by.Seconds())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("aged %d sessions", n)
	}
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)

func TestCreateSession(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "pat@example.test")
	ctx := t.Context()

	token := newSession(t, s, u)
	if !tokenPattern.MatchString(token) {
		t.Errorf("token %q is not at least 43 base64url characters", token)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) < 32 {
		t.Errorf("token carries %d bytes (%v), want at least 256 bits", len(raw), err)
	}

	sess, err := s.SessionByToken(ctx, token, limits)
	if err != nil {
		t.Fatal(err)
	}
	if sess.User.ID != u.ID || sess.User.Email != u.Email || sess.User.Role != store.RolePatient || sess.User.Viewer() != u.Viewer() {
		t.Errorf("session user %+v, want %+v", sess.User, u)
	}
	if !tokenPattern.MatchString(sess.CSRFToken) || sess.CSRFToken == token {
		t.Errorf("CSRF token %q", sess.CSRFToken)
	}
	if age := time.Since(sess.CreatedAt); age < -time.Minute || age > time.Minute {
		t.Errorf("created %v ago", age)
	}
	// The same token finds the same session, with the same CSRF token.
	again, err := s.SessionByToken(ctx, token, limits)
	if err != nil || again.CSRFToken != sess.CSRFToken {
		t.Errorf("second lookup: %+v, %v", again, err)
	}

	// Every sign-in makes new tokens.
	token2 := newSession(t, s, u)
	sess2, err := s.SessionByToken(ctx, token2, limits)
	if err != nil {
		t.Fatal(err)
	}
	if token2 == token || sess2.CSRFToken == sess.CSRFToken {
		t.Error("a second sign-in reused a token")
	}

	a := lastAudit(t, s)
	if a.ActorID != u.ID || a.Action != "signed_in" || a.ObjectID != u.ID || a.ClientIP != origin.ClientIP {
		t.Errorf("audit %+v", a)
	}
}

// TestSessionStoresOnlyAHash: a read of the sessions table cannot be replayed as a cookie.
func TestSessionStoresOnlyAHash(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "hash@example.test")
	ctx := t.Context()
	var tokens []string
	for range 3 {
		token := newSession(t, s, u)
		tokens = append(tokens, token)
	}
	var hashes [][]byte
	if err := s.DB().SelectContext(ctx, &hashes, `SELECT token_hash FROM sessions`); err != nil {
		t.Fatal(err)
	}
	var rows []string
	if err := s.DB().SelectContext(ctx, &rows, `SELECT s::text FROM sessions s`); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != len(tokens) {
		t.Fatalf("%d sessions stored, want %d", len(hashes), len(tokens))
	}
	for _, token := range tokens {
		raw, _ := base64.RawURLEncoding.DecodeString(token)
		for _, h := range hashes {
			if bytes.Equal(h, []byte(token)) || bytes.Equal(h, raw) || bytes.Contains(h, raw[:8]) {
				t.Errorf("a stored token_hash is the token itself")
			}
		}
		for _, row := range rows {
			if strings.Contains(row, token) || strings.Contains(row, hex.EncodeToString([]byte(token))) ||
				strings.Contains(row, hex.EncodeToString(raw)) {
				t.Errorf("sessions row %s holds the token", row)
			}
		}
		// What is stored is a SHA-256 of the token, so the lookup still works.
		want := sha256.Sum256([]byte(token))
		if n := count(t, s, `SELECT count(*) FROM sessions WHERE token_hash = $1`, want[:]); n != 1 {
			t.Errorf("no session stored under the token's hash")
		}
		if key := store.SessionKey(token); key != hex.EncodeToString(want[:]) {
			t.Errorf("SessionKey = %s, want the hex of the stored hash", key)
		}
	}
}

func TestSessionByTokenRefuses(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "refuse@example.test")
	ctx := t.Context()
	token := newSession(t, s, u)
	flipped := []byte(token)
	flipped[10] ^= 1
	sum := sha256.Sum256([]byte(token))
	for name, bad := range map[string]string{
		"empty":                    "",
		"unknown":                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"one character changed":    string(flipped),
		"token with a suffix":      token + "x",
		"the stored hash, as text": hex.EncodeToString(sum[:]),
	} {
		if _, err := s.SessionByToken(ctx, bad, limits); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.SessionByToken(ctx, token, limits); err != nil {
		t.Errorf("the real token: %v", err)
	}
}

// TestSessionExpiry: a session ends after the idle limit without use, and after the absolute
// limit whatever its use. The limits are compared with the database's clock, so the test moves
// the session's times back rather than sleeping.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		column string
		by     time.Duration
		alive  bool
	}{
		{"used 29 minutes ago", "last_seen_at", 29 * time.Minute, true},
		{"idle 31 minutes", "last_seen_at", 31 * time.Minute, false},
		{"signed in 11 hours ago", "created_at", 11 * time.Hour, true},
		{"signed in 13 hours ago, used just now", "created_at", 13 * time.Hour, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, u := newUser(t, "expiry@example.test")
			ctx := t.Context()
			token := newSession(t, s, u)
			ageSession(t, s, token, tc.column, tc.by)
			active, err := s.SessionActive(ctx, store.SessionKey(token), limits)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.SessionByToken(ctx, token, limits)
			if tc.alive {
				if err != nil || !active {
					t.Errorf("SessionByToken = %v, SessionActive = %v; want alive", err, active)
				}
			} else if !errors.Is(err, store.ErrNotFound) || active {
				t.Errorf("SessionByToken = %v, SessionActive = %v; want expired", err, active)
			}
		})
	}
	// Tiny limits end a session at once.
	s, u := newUser(t, "tiny@example.test")
	token := newSession(t, s, u)
	if _, err := s.SessionByToken(t.Context(), token, store.SessionLimits{Idle: time.Nanosecond, Absolute: time.Hour}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("1ns idle limit: %v", err)
	}
	if _, err := s.SessionByToken(t.Context(), token, store.SessionLimits{Idle: time.Hour, Absolute: time.Nanosecond}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("1ns absolute limit: %v", err)
	}
}

// TestSessionUseKeepsItAlive: a request marks the session used (at most once a minute), which
// restarts the idle clock; SessionActive, the check an open stream makes, does not.
func TestSessionUseKeepsItAlive(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "alive@example.test")
	ctx := t.Context()
	token := newSession(t, s, u)
	h := sha256.Sum256([]byte(token))
	idleSeconds := func() float64 {
		var secs float64
		if err := s.DB().GetContext(ctx, &secs, `SELECT extract(epoch FROM now() - last_seen_at) FROM sessions WHERE token_hash = $1`, h[:]); err != nil {
			t.Fatal(err)
		}
		return secs
	}

	ageSession(t, s, token, "last_seen_at", 30*time.Second)
	if _, err := s.SessionByToken(ctx, token, limits); err != nil {
		t.Fatal(err)
	}
	if secs := idleSeconds(); secs < 25 {
		t.Errorf("used 30 s ago: marked used again (idle %.0f s); want at most one write a minute", secs)
	}

	ageSession(t, s, token, "last_seen_at", 20*time.Minute)
	if active, err := s.SessionActive(ctx, store.SessionKey(token), limits); err != nil || !active {
		t.Fatalf("SessionActive = %v, %v", active, err)
	}
	if secs := idleSeconds(); secs < 20*60 {
		t.Errorf("SessionActive marked the session used (idle %.0f s)", secs)
	}
	if _, err := s.SessionByToken(ctx, token, limits); err != nil {
		t.Fatal(err)
	}
	if secs := idleSeconds(); secs > 5 {
		t.Errorf("a request 20 min after the last did not mark the session used (idle %.0f s)", secs)
	}
	// Used 20 minutes in, it survives another 20 idle minutes (40 since the first use).
	ageSession(t, s, token, "last_seen_at", 20*time.Minute)
	if _, err := s.SessionByToken(ctx, token, limits); err != nil {
		t.Errorf("after use and 20 idle minutes: %v", err)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "bye@example.test")
	ctx := t.Context()
	token := newSession(t, s, u)
	other := newSession(t, s, u)
	if err := s.EndSession(ctx, token, origin); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByToken(ctx, token, limits); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ended session: %v", err)
	}
	if active, err := s.SessionActive(ctx, store.SessionKey(token), limits); err != nil || active {
		t.Errorf("SessionActive of an ended session = %v, %v", active, err)
	}
	if a := lastAudit(t, s); a.ActorID != u.ID || a.Action != "signed_out" {
		t.Errorf("audit %+v", a)
	}
	// Only that session ended.
	if _, err := s.SessionByToken(ctx, other, limits); err != nil {
		t.Errorf("the user's other session: %v", err)
	}
	// Signing out twice, or with a token never issued, is not an error and writes nothing.
	before := rowCounts(t, s)
	if err := s.EndSession(ctx, token, origin); err != nil {
		t.Errorf("second sign-out: %v", err)
	}
	if err := s.EndSession(ctx, "never-issued", origin); err != nil {
		t.Errorf("unknown token: %v", err)
	}
	if after := rowCounts(t, s); after != before {
		t.Errorf("wrote %+v -> %+v", before, after)
	}
}

func TestSessionActiveBadKey(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "key@example.test")
	for _, key := range []string{"", "zz", "not hex at all", strings.Repeat("ab", 32)} {
		if active, err := s.SessionActive(t.Context(), key, limits); err != nil || active {
			t.Errorf("SessionActive(%q) = %v, %v; want false, nil", key, active, err)
		}
	}
}

// TestPruneSessions: the sessions that ended by themselves (idle too long, or past their absolute
// lifetime) are deleted; live ones stay, and still sign in.
func TestPruneSessions(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "prune@example.test")
	ctx := t.Context()
	ages := map[string]struct {
		column string
		by     time.Duration
		alive  bool
	}{
		"just made":              {"last_seen_at", 0, true},
		"used 29 minutes ago":    {"last_seen_at", 29 * time.Minute, true},
		"idle 31 minutes":        {"last_seen_at", 31 * time.Minute, false},
		"signed in 11 hours ago": {"created_at", 11 * time.Hour, true},
		"signed in 13 hours ago": {"created_at", 13 * time.Hour, false},
	}
	tokens := map[string]string{}
	for name, age := range ages {
		token := newSession(t, s, u)
		if age.by > 0 {
			ageSession(t, s, token, age.column, age.by)
		}
		tokens[name] = token
	}
	n, err := s.PruneSessions(ctx, limits)
	if err != nil || n != 2 {
		t.Fatalf("PruneSessions = %d, %v; want the 2 ended sessions", n, err)
	}
	for name, age := range ages {
		h := sha256.Sum256([]byte(tokens[name]))
		if kept := count(t, s, `SELECT count(*) FROM sessions WHERE token_hash = $1`, h[:]) == 1; kept != age.alive {
			t.Errorf("%s: kept %v, want %v", name, kept, age.alive)
		}
		if _, err := s.SessionByToken(ctx, tokens[name], limits); age.alive && err != nil {
			t.Errorf("%s: no longer signs in after pruning: %v", name, err)
		}
	}
	if n, err := s.PruneSessions(ctx, limits); err != nil || n != 0 {
		t.Errorf("pruning again = %d, %v; want nothing", n, err)
	}
}
