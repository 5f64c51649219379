package store_test

import (
	"fmt"
	"testing"
	"time"

	"securemessages/store"
)

var signinLimits = store.SigninLimits{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 20}

func fail(t *testing.T, s *store.Store, email, ip string) {
	t.Helper()
	if err := s.RecordSigninFailure(t.Context(), email, store.Origin{RequestID: "r", ClientIP: ip}); err != nil {
		t.Fatal(err)
	}
}

func blocked(t *testing.T, s *store.Store, email, ip string) bool {
	t.Helper()
	b, err := s.SigninBlocked(t.Context(), email, ip, signinLimits)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSigninBlockedPerAccount: after PerAccount failures an account is blocked from any address,
// however its address is typed; other accounts are not.
func TestSigninBlockedPerAccount(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "victim@example.test")
	for i := range signinLimits.PerAccount - 1 {
		fail(t, s, "victim@example.test", fmt.Sprintf("198.51.100.%d", i))
	}
	if blocked(t, s, "victim@example.test", "203.0.113.1") {
		t.Fatal("blocked one failure early")
	}
	fail(t, s, "  Victim@Example.TEST ", "198.51.100.99") // the same account, typed differently
	for _, addr := range []string{"victim@example.test", "VICTIM@example.test", " victim@example.test"} {
		for _, ip := range []string{"203.0.113.1", "198.51.100.0", "2001:db8::1"} {
			if !blocked(t, s, addr, ip) {
				t.Errorf("%q from %s not blocked after %d failures", addr, ip, signinLimits.PerAccount)
			}
		}
	}
	if blocked(t, s, "someone.else@example.test", "203.0.113.1") {
		t.Error("another account is blocked")
	}
	// Failures are audited without the address tried.
	a := lastAudit(t, s)
	if a.Action != "sign_in_failed" || a.Outcome != "failure" || a.ClientIP != "198.51.100.99" || a.ActorID != 0 {
		t.Errorf("audit %+v", a)
	}
	if n := count(t, s, `SELECT count(*) FROM audit_log a WHERE a::text ILIKE '%victim%'`); n != 0 {
		t.Errorf("%d audit rows name the account", n)
	}
}

// TestSigninBlockedPerAddress: after PerAddress failures from one address, any account is blocked
// from it (password spraying); the accounts are not blocked elsewhere.
func TestSigninBlockedPerAddress(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "target0@example.test")
	const sprayer = "203.0.113.66"
	for i := range signinLimits.PerAddress - 1 {
		fail(t, s, fmt.Sprintf("target%d@example.test", i), sprayer)
	}
	if blocked(t, s, "fresh@example.test", sprayer) {
		t.Fatal("blocked one failure early")
	}
	fail(t, s, "target-last@example.test", sprayer)
	for _, email := range []string{"fresh@example.test", "target0@example.test", "target-last@example.test"} {
		if !blocked(t, s, email, sprayer) {
			t.Errorf("%s from the sprayer's address not blocked", email)
		}
	}
	if blocked(t, s, "target0@example.test", "198.51.100.7") {
		t.Error("an account with one failure is blocked from another address")
	}
}

// TestSigninSuccessClearsAccountFailures: signing in clears that account's failures, and only
// that account's.
func TestSigninSuccessClearsAccountFailures(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "forgetful@example.test")
	for i := range signinLimits.PerAccount {
		fail(t, s, "Forgetful@example.test", fmt.Sprintf("198.51.100.%d", i))
		fail(t, s, "other@example.test", fmt.Sprintf("198.51.100.%d", i))
	}
	if !blocked(t, s, u.Email, "203.0.113.1") || !blocked(t, s, "other@example.test", "203.0.113.1") {
		t.Fatal("setup: both accounts should be blocked")
	}
	if _, err := s.CreateSession(t.Context(), u, origin); err != nil {
		t.Fatal(err)
	}
	if blocked(t, s, u.Email, "203.0.113.1") {
		t.Error("still blocked after signing in")
	}
	if !blocked(t, s, "other@example.test", "203.0.113.1") {
		t.Error("signing in cleared another account's failures")
	}
}

// TestSigninWindow: failures older than the window do not count.
func TestSigninWindow(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "old@example.test")
	for range signinLimits.PerAccount {
		fail(t, s, "old@example.test", "198.51.100.1")
	}
	for range signinLimits.PerAddress {
		fail(t, s, "spray@example.test", "198.51.100.2")
	}
	if !blocked(t, s, "old@example.test", "203.0.113.1") || !blocked(t, s, "x@example.test", "198.51.100.2") {
		t.Fatal("setup: should be blocked")
	}
	// Just inside the window: still counted.
	if _, err := s.DB().ExecContext(t.Context(), `UPDATE signin_failures SET occurred_at = now() - interval '14 minutes'`); err != nil {
		t.Fatal(err)
	}
	if !blocked(t, s, "old@example.test", "203.0.113.1") || !blocked(t, s, "x@example.test", "198.51.100.2") {
		t.Error("failures 14 minutes old no longer count")
	}
	// Outside it: not.
	if _, err := s.DB().ExecContext(t.Context(), `UPDATE signin_failures SET occurred_at = now() - interval '16 minutes'`); err != nil {
		t.Fatal(err)
	}
	if blocked(t, s, "old@example.test", "203.0.113.1") || blocked(t, s, "x@example.test", "198.51.100.2") {
		t.Error("failures 16 minutes old still count")
	}
	// One new failure does not bring the old ones back.
	fail(t, s, "old@example.test", "198.51.100.1")
	if blocked(t, s, "old@example.test", "203.0.113.1") {
		t.Error("one recent failure blocked the account")
	}
}
