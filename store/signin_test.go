package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
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

// TestSigninAttemptsLimited: attempts of any outcome are limited per account (however typed) and
// per address; a refused attempt is not counted; attempts older than the window do not count;
// and attempts made all at once never pass the limit together.
func TestSigninAttemptsLimited(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "busy@example.test")
	l := store.SigninLimits{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 30, AttemptsPerAccount: 3, AttemptsPerAddress: 5}
	attempt := func(email, ip string) bool {
		t.Helper()
		ok, err := s.CountSigninAttempt(t.Context(), email, ip, l)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for i, email := range []string{"busy@example.test", " Busy@Example.TEST", "busy@example.test"} {
		if !attempt(email, fmt.Sprintf("198.51.100.%d", i)) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if attempt("busy@example.test", "198.51.100.9") {
		t.Error("an attempt past the account's limit was let in")
	}
	if !attempt("other@example.test", "198.51.100.9") {
		t.Error("another account was refused")
	}
	// Per address: five from one address, over any accounts.
	for i := range l.AttemptsPerAddress {
		if !attempt(fmt.Sprintf("desk%d@example.test", i), "203.0.113.5") {
			t.Fatalf("attempt %d from the address refused", i+1)
		}
	}
	if attempt("fresh@example.test", "203.0.113.5") {
		t.Error("an attempt past the address's limit was let in")
	}
	if n := count(t, s, `SELECT count(*) FROM signin_attempts`); n != 3+1+l.AttemptsPerAddress {
		t.Errorf("%d attempts counted, want %d: refused ones must not count", n, 3+1+l.AttemptsPerAddress)
	}
	// Out of the window, they no longer count.
	if _, err := s.DB().ExecContext(t.Context(), `UPDATE signin_attempts SET occurred_at = now() - interval '16 minutes'`); err != nil {
		t.Fatal(err)
	}
	if !attempt("busy@example.test", "203.0.113.5") {
		t.Error("attempts 16 minutes old still count")
	}

	// Twenty at once for a fresh account: exactly the limit get in.
	var wg sync.WaitGroup
	var in atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := s.CountSigninAttempt(t.Context(), "crowd@example.test", fmt.Sprintf("192.0.2.%d", i), l); err != nil {
				t.Error(err)
			} else if ok {
				in.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := in.Load(); n != int32(l.AttemptsPerAccount) {
		t.Errorf("%d of 20 concurrent attempts let in, want %d", n, l.AttemptsPerAccount)
	}
	// A limits value written out by hand without attempt limits gets the defaults, not zero.
	if ok, err := s.CountSigninAttempt(t.Context(), "plain@example.test", "192.0.2.200", store.SigninLimits{Window: time.Minute}); err != nil || !ok {
		t.Errorf("attempt under zero attempt limits: %v, %v; want the defaults to apply", ok, err)
	}
}

// TestPruneSigninCounts: failures and attempts older than the window are deleted; recent ones
// stay and still count.
func TestPruneSigninCounts(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t, "counted@example.test")
	for range signinLimits.PerAccount {
		fail(t, s, "counted@example.test", "198.51.100.1")
		fail(t, s, "old@example.test", "198.51.100.2")
	}
	for _, email := range []string{"counted@example.test", "old@example.test"} {
		if _, err := s.CountSigninAttempt(t.Context(), email, "198.51.100.3", signinLimits); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"signin_failures", "signin_attempts"} {
		if _, err := s.DB().ExecContext(t.Context(), `UPDATE `+table+` SET occurred_at = now() - interval '16 minutes'
			WHERE email = 'old@example.test'`); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneSigninCounts(t.Context(), signinLimits.Window)
	if err != nil || n != int64(signinLimits.PerAccount)+1 {
		t.Fatalf("PruneSigninCounts = %d, %v; want the %d old rows", n, err, signinLimits.PerAccount+1)
	}
	if n := count(t, s, `SELECT count(*) FROM signin_failures WHERE email = 'old@example.test'`) +
		count(t, s, `SELECT count(*) FROM signin_attempts WHERE email = 'old@example.test'`); n != 0 {
		t.Errorf("%d old rows left", n)
	}
	if n := count(t, s, `SELECT count(*) FROM signin_attempts WHERE email = 'counted@example.test'`); n != 1 {
		t.Errorf("%d recent attempts left, want 1", n)
	}
	if !blocked(t, s, "counted@example.test", "203.0.113.1") {
		t.Error("pruning took recent failures")
	}
}
