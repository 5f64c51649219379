package store_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"securemessages/store"
	"securemessages/store/storetest"
)

// code is the authenticator app's code for a moment offset from now by whole 30-second steps.
func code(t *testing.T, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awayFromStepEdge waits out the end of a 30-second step when less than two seconds are left, so
// that the codes a test makes belong to the steps it means. (Codes depend on the wall clock; this
// is the one wait in these tests that is not a poll.)
func awayFromStepEdge(t *testing.T) {
	t.Helper()
	if left := 30*time.Second - time.Duration(time.Now().UnixNano()%int64(30*time.Second)); left < 2*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// enrolled is a fresh user with the second factor turned on; the code of the current step has
// been spent turning it on.
func enrolled(t *testing.T) (*store.Store, store.User, string) {
	t.Helper()
	s, u := newUser(t, "twofactor@example.test")
	ctx := t.Context()
	setup, err := s.BeginTOTP(ctx, u, "Test Practice")
	if err != nil {
		t.Fatal(err)
	}
	awayFromStepEdge(t)
	if err := s.EnableTOTP(ctx, u, code(t, setup.Secret, 0), origin); err != nil {
		t.Fatal(err)
	}
	if u, err = s.UserByEmail(ctx, u.Email); err != nil || !u.TOTPEnabled {
		t.Fatalf("after EnableTOTP: %+v, %v", u, err)
	}
	return s, u, setup.Secret
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "enrol@example.test")
	ctx := t.Context()
	setup, err := s.BeginTOTP(ctx, u, "Riverside Family Medicine")
	if err != nil {
		t.Fatal(err)
	}
	if len(setup.Secret) < 16 || !strings.HasPrefix(setup.URI, "otpauth://totp/") ||
		!strings.Contains(setup.URI, "secret="+setup.Secret) || !strings.Contains(setup.URI, "Riverside") {
		t.Errorf("setup %+v", setup)
	}
	// The secret is sealed at rest.
	var row string
	if err := s.DB().GetContext(ctx, &row, `SELECT u::text FROM users u WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, setup.Secret) || strings.Contains(row, hex.EncodeToString([]byte(setup.Secret))) {
		t.Error("the TOTP secret is stored in clear")
	}
	// Not in force until a code proves the app has it.
	if u, _ := s.UserByEmail(ctx, u.Email); u.TOTPEnabled {
		t.Fatal("enabled before a code was given")
	}
	awayFromStepEdge(t)
	before := dbState(t, s)
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "+12345", "000000", code(t, setup.Secret, 5), code(t, setup.Secret, -3)} {
		if bad == code(t, setup.Secret, 0) {
			continue // one in a million: the wrong code happens to be right
		}
		if err := s.EnableTOTP(ctx, u, bad, origin); !errors.Is(err, store.ErrBadCode) {
			t.Errorf("EnableTOTP(%q) = %v, want ErrBadCode", bad, err)
		}
	}
	assertUnchanged(t, before, dbState(t, s))
	if err := s.EnableTOTP(ctx, u, code(t, setup.Secret, 0), origin); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByEmail(ctx, u.Email); !u.TOTPEnabled {
		t.Error("not enabled")
	}
	if a := lastAudit(t, s); a.ActorID != u.ID || a.Action != "second_factor_enabled" {
		t.Errorf("audit %+v", a)
	}
}

// TestTOTPCodeUsedOnce: a code is accepted once, and once a code is used no earlier one is.
func TestTOTPCodeUsedOnce(t *testing.T) {
	t.Parallel()
	s, u, secret := enrolled(t)
	ctx := t.Context()
	if err := s.CheckTOTP(ctx, u, code(t, secret, 0)); !errors.Is(err, store.ErrBadCode) {
		t.Errorf("the code spent on EnableTOTP, again: %v", err)
	}
	if err := s.CheckTOTP(ctx, u, code(t, secret, 1)); err != nil {
		t.Errorf("next step's code (clock drift): %v", err)
	}
	for _, steps := range []int{1, 0, -1, 2} {
		if err := s.CheckTOTP(ctx, u, code(t, secret, steps)); !errors.Is(err, store.ErrBadCode) {
			t.Errorf("code %+d steps after the last used one: %v, want ErrBadCode", steps-1, err)
		}
	}
}

// TestSecondFactorSession: with the second factor on, the password alone makes a session that
// can do nothing but give the code; the code swaps it for a full session under a new token.
func TestSecondFactorSession(t *testing.T) {
	t.Parallel()
	s, u, secret := enrolled(t)
	ctx := t.Context()
	for range signinLimits.PerAccount {
		fail(t, s, u.Email, "198.51.100.1")
	}

	pending := newSession(t, s, u)
	sess, err := s.SessionByToken(ctx, pending, limits)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.SecondFactorPending {
		t.Fatal("password alone made a full session")
	}
	if a := lastAudit(t, s); a.Action != "password_passed" {
		t.Errorf("audit %+v", a)
	}
	if !blocked(t, s, u.Email, "203.0.113.9") {
		t.Error("the password alone cleared the account's failed sign-ins")
	}

	if err := s.CheckTOTP(ctx, u, code(t, secret, 1)); err != nil {
		t.Fatal(err)
	}
	full, err := s.CompleteSecondFactor(ctx, pending, u, origin)
	if err != nil {
		t.Fatal(err)
	}
	if full == pending {
		t.Fatal("the token did not change with the privilege")
	}
	if _, err := s.SessionByToken(ctx, pending, limits); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the pending token still works: %v", err)
	}
	sess, err = s.SessionByToken(ctx, full, limits)
	if err != nil || sess.SecondFactorPending || sess.User.ID != u.ID {
		t.Errorf("full session %+v, %v", sess, err)
	}
	if a := lastAudit(t, s); a.Action != "second_factor_passed" || a.ActorID != u.ID {
		t.Errorf("audit %+v", a)
	}
	if blocked(t, s, u.Email, "203.0.113.9") {
		t.Error("a full sign-in did not clear the account's failed sign-ins")
	}
}

func TestDisableTOTP(t *testing.T) {
	t.Parallel()
	s, u, secret := enrolled(t)
	ctx := t.Context()
	if err := s.DisableTOTP(ctx, u, "000000", origin); !errors.Is(err, store.ErrBadCode) && code(t, secret, 1) != "000000" {
		t.Errorf("DisableTOTP with a wrong code: %v", err)
	}
	if u, _ := s.UserByEmail(ctx, u.Email); !u.TOTPEnabled {
		t.Fatal("a wrong code turned the second factor off")
	}
	if err := s.DisableTOTP(ctx, u, code(t, secret, 1), origin); err != nil {
		t.Fatal(err)
	}
	u, err := s.UserByEmail(ctx, u.Email)
	if err != nil || u.TOTPEnabled {
		t.Fatalf("still enabled: %+v, %v", u, err)
	}
	if n := count(t, s, `SELECT count(*) FROM users WHERE id = $1 AND totp_secret IS NULL`, u.ID); n != 1 {
		t.Error("the secret was kept")
	}
	if a := lastAudit(t, s); a.Action != "second_factor_disabled" {
		t.Errorf("audit %+v", a)
	}
	token := newSession(t, s, u)
	if sess, err := s.SessionByToken(ctx, token, limits); err != nil || sess.SecondFactorPending {
		t.Errorf("session after disabling: %+v, %v", sess, err)
	}
}

// TestReencryptCoversTOTPSecrets: the TOTP secret is sealed with the message keys, so rotating
// the keys must move it too; otherwise dropping the old key locks every enrolled user out.
func TestReencryptCoversTOTPSecrets(t *testing.T) {
	t.Parallel()
	s, u, secret := enrolled(t)
	ctx := t.Context()
	newKey := randomKey(t)
	rotated := store.New(s.DB(), mustRing(t, "2:"+newKey+","+storetest.KeySpec))
	if _, err := rotated.Reencrypt(ctx, 10); err != nil {
		t.Fatal(err)
	}
	newOnly := store.New(s.DB(), mustRing(t, "2:"+newKey))
	if err := newOnly.CheckTOTP(ctx, u, code(t, secret, 1)); err != nil {
		t.Errorf("after re-encryption, the new key alone cannot check the second factor: %v", err)
	}
}

// TestPendingTOTP: the secret being set up can be shown again, the same as first shown, until it
// is turned on; then there is none pending.
func TestPendingTOTP(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "pending@example.test")
	ctx := t.Context()
	if _, err := s.PendingTOTP(ctx, u, "Test Practice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PendingTOTP before set-up: %v, want ErrNotFound", err)
	}
	setup, err := s.BeginTOTP(ctx, u, "Test Practice")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.PendingTOTP(ctx, u, "Test Practice")
	if err != nil || again != setup {
		t.Fatalf("PendingTOTP = %+v, %v; want %+v", again, err, setup)
	}
	awayFromStepEdge(t)
	if err := s.EnableTOTP(ctx, u, code(t, setup.Secret, 0), origin); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PendingTOTP(ctx, u, "Test Practice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PendingTOTP once on: %v, want ErrNotFound", err)
	}
}

// TestSecondFactorFailuresCount: a wrong password or code given to change the second factor is
// a failed sign-in of the account and the address, audited as second_factor_failed of that user.
func TestSecondFactorFailuresCount(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "changes@example.test")
	o := store.Origin{RequestID: "r", ClientIP: "198.51.100.7"}
	for i := range signinLimits.PerAccount {
		if blocked(t, s, u.Email, "203.0.113.1") {
			t.Fatalf("blocked after %d failures", i)
		}
		if err := s.RecordSecondFactorFailure(t.Context(), u, o); err != nil {
			t.Fatal(err)
		}
	}
	if !blocked(t, s, u.Email, "203.0.113.1") {
		t.Errorf("not blocked after %d failures", signinLimits.PerAccount)
	}
	if n := count(t, s, `SELECT count(*) FROM signin_failures WHERE client_ip = $1`, o.ClientIP); n != signinLimits.PerAccount {
		t.Errorf("%d failures counted for the address, want %d", n, signinLimits.PerAccount)
	}
	a := lastAudit(t, s)
	if a.Action != "second_factor_failed" || a.Outcome != "failure" || a.ActorID != u.ID || a.ClientIP != o.ClientIP {
		t.Errorf("audit %+v", a)
	}
}
