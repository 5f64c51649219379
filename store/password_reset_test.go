package store_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"securemessages/store"
)

// mintReset asks for a reset of email and draws its link's token, as the e-mail's job does.
func mintReset(t *testing.T, s *store.Store, email string) (int64, string) {
	t.Helper()
	if err := s.RequestPasswordReset(t.Context(), email, origin); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.DB().Get(&id, `SELECT max(id) FROM password_resets`); err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.MintPasswordReset(t.Context(), id)
	if err != nil || !ok {
		t.Fatalf("mint reset %d: %v, %t", id, err, ok)
	}
	if m.To != strings.ToLower(strings.TrimSpace(email)) || len(m.Token) < 40 {
		t.Fatalf("mail %+v", m)
	}
	return id, m.Token
}

// TestPasswordResetSingleUse: a link's token is kept only as its hash, sets the password once,
// ends every session of the account and every other link of it; used again, it is refused and
// changes nothing.
func TestPasswordResetSingleUse(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	maria := demoUser(t, f.s, "maria.lopez@riverside.example")
	session := newSession(t, f.s, maria)
	_, older := mintReset(t, f.s, "Maria.Lopez@riverside.example ")
	id, token := mintReset(t, f.s, maria.Email)

	var stored []byte
	if err := f.s.DB().Get(&stored, `SELECT token_hash FROM password_resets WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(stored) != string(sum[:]) {
		t.Error("the stored value is not the token's SHA-256")
	}
	if n := count(t, f.s, `SELECT count(*) FROM password_resets r WHERE position(convert_to($1, 'UTF8') IN r.token_hash) > 0`, token); n != 0 {
		t.Error("the token itself is stored")
	}
	if err := f.s.CheckPasswordReset(ctx, token); err != nil {
		t.Fatalf("a fresh link: %v", err)
	}
	hash, err := store.HashPassword(ctx, "chosen after a reset")
	if err != nil {
		t.Fatal(err)
	}
	userID, err := f.s.ResetPassword(ctx, token, hash, origin)
	if err != nil || userID != maria.ID {
		t.Fatalf("reset: %d, %v", userID, err)
	}
	if ok, _ := store.CheckPassword(ctx, "chosen after a reset", demoUser(t, f.s, maria.Email).PasswordHash); !ok {
		t.Error("the new password does not sign in")
	}
	if _, err := f.s.SessionByToken(ctx, session, store.SessionLimits{Idle: time.Hour, Absolute: time.Hour}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a session outlived the reset: %v", err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM account_changes WHERE target_id = $1 AND what = 'password_reset' AND actor_id IS NULL`, maria.ID); n != 1 {
		t.Errorf("%d resets recorded", n)
	}
	before := dbState(t, f.s)
	for name, tok := range map[string]string{"the used link": token, "an older link": older, "a made-up link": "not-a-token"} {
		if err := f.s.CheckPasswordReset(ctx, tok); !errors.Is(err, store.ErrResetLinkInvalid) {
			t.Errorf("%s checks as %v", name, err)
		}
		if _, err := f.s.ResetPassword(ctx, tok, hash, origin); !errors.Is(err, store.ErrResetLinkInvalid) {
			t.Errorf("%s resets: %v", name, err)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// TestPasswordResetExpires: an hour after the request the link is refused, even if the e-mail
// went later; nor is a token drawn for an expired one.
func TestPasswordResetExpires(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	id, token := mintReset(t, f.s, "tom.becker@riverside.example")
	if _, err := f.s.DB().Exec(`UPDATE password_resets SET requested_at = requested_at - interval '61 minutes',
		expires_at = expires_at - interval '61 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := f.s.CheckPasswordReset(t.Context(), token); !errors.Is(err, store.ErrResetLinkInvalid) {
		t.Errorf("an expired link: %v", err)
	}
	if _, err := f.s.ResetPassword(t.Context(), token, "x", origin); !errors.Is(err, store.ErrResetLinkInvalid) {
		t.Errorf("an expired link resets: %v", err)
	}
	if _, ok, err := f.s.MintPasswordReset(t.Context(), id); ok || err != nil {
		t.Errorf("a token drawn for an expired reset: %t, %v", ok, err)
	}
	// Pruned a day after it expired, not before.
	if n, err := f.s.PrunePasswordResets(t.Context()); n != 0 || err != nil {
		t.Errorf("pruned %d an hour after expiry (%v)", n, err)
	}
	if _, err := f.s.DB().Exec(`UPDATE password_resets SET requested_at = requested_at - interval '2 days',
		expires_at = expires_at - interval '2 days' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.PrunePasswordResets(t.Context()); n != 1 || err != nil {
		t.Errorf("pruned %d two days after expiry (%v)", n, err)
	}
}

// TestPasswordResetSameAnswer: an unknown address answers as a known one does and writes
// nothing; a known one gets at most a few e-mails an hour, whoever asks.
func TestPasswordResetSameAnswer(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	before := dbState(t, f.s)
	if err := f.s.RequestPasswordReset(t.Context(), "nobody@riverside.example", origin); err != nil {
		t.Errorf("an unknown address: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
	for range 5 {
		if err := f.s.RequestPasswordReset(t.Context(), "grace.kim@hillcrest.example", origin); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, f.s, `SELECT count(*) FROM password_resets`); n != 3 {
		t.Errorf("%d resets from five requests, want 3", n)
	}
}
