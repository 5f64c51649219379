package store_test

import (
	"errors"
	"slices"
	"testing"

	"securemessages/store"
)

// prefsOf is a user's preferences as "kind=delivery" strings, in the store's order.
func prefsOf(t *testing.T, s *store.Store, userID int64) []string {
	t.Helper()
	prefs, err := s.NotificationPreferences(t.Context(), userID)
	if err != nil {
		t.Fatalf("preferences of user %d: %v", userID, err)
	}
	var out []string
	for _, p := range prefs {
		out = append(out, string(p.Kind)+"="+string(p.Delivery))
	}
	return out
}

func wantPrefs(t *testing.T, s *store.Store, userID int64, want ...string) {
	t.Helper()
	if got := prefsOf(t, s, userID); !slices.Equal(got, want) {
		t.Errorf("user %d preferences %q, want %q", userID, got, want)
	}
}

// Nobody has chosen anything in the demo: patients hear of the care team's messages at once,
// staff at once of what asks for them and not at all of the rest.
func TestNotificationPreferencesDefaults(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	wantPrefs(t, f.s, f.maria.UserID, "practice_message=now")
	wantPrefs(t, f.s, f.physician.UserID, "requested=now", "waiting=off")
	if _, err := f.s.NotificationPreferences(t.Context(), 987654321); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("preferences of no user: %v, want ErrNotFound", err)
	}
}

// Setting changes the actor's own choices and nobody else's, audits each change once, and
// refuses (changing nothing) a kind the actor's role has not or a delivery that is no choice.
func TestSetNotificationPreference(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	if err := f.s.SetNotificationPreference(ctx, f.maria, origin, store.KindPracticeMessage, store.DeliveryDigest); err != nil {
		t.Fatal(err)
	}
	wantPrefs(t, f.s, f.maria.UserID, "practice_message=digest")
	wantPrefs(t, f.s, f.tom.UserID, "practice_message=now")
	if a := lastAudit(t, f.s); a.Action != "notification_preference_changed" || a.ActorID != f.maria.UserID ||
		a.ObjectType != "user" || a.ObjectID != f.maria.UserID || a.RequestID != origin.RequestID || a.ClientIP != origin.ClientIP {
		t.Errorf("audit %+v", a)
	}

	err := f.s.SetNotificationPreferences(ctx, f.physician, origin, []store.NotificationPreference{
		{Kind: store.KindRequested, Delivery: store.DeliveryDigest}, {Kind: store.KindWaiting, Delivery: store.DeliveryNow}})
	if err != nil {
		t.Fatal(err)
	}
	wantPrefs(t, f.s, f.physician.UserID, "requested=digest", "waiting=now")
	wantPrefs(t, f.s, f.nurse.UserID, "requested=now", "waiting=off")

	// The same choice again is no change, and is not audited again.
	audited := count(t, f.s, `SELECT count(*) FROM audit_log`)
	if err := f.s.SetNotificationPreference(ctx, f.maria, origin, store.KindPracticeMessage, store.DeliveryDigest); err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM audit_log`); n != audited {
		t.Errorf("choosing what was chosen wrote %d audit rows", n-audited)
	}

	before := dbState(t, f.s)
	for _, tc := range []struct {
		actor store.Viewer
		prefs []store.NotificationPreference
		want  error
	}{
		{f.maria, []store.NotificationPreference{{Kind: store.KindRequested, Delivery: store.DeliveryOff}}, store.ErrUnknownKind},
		{f.physician, []store.NotificationPreference{{Kind: store.KindPracticeMessage, Delivery: store.DeliveryOff}}, store.ErrUnknownKind},
		{f.maria, []store.NotificationPreference{{Kind: "everything", Delivery: store.DeliveryOff}}, store.ErrUnknownKind},
		{f.maria, []store.NotificationPreference{{Kind: store.KindPracticeMessage, Delivery: "weekly"}}, store.ErrUnknownDelivery},
		// One bad choice among good ones: none is written.
		{f.physician, []store.NotificationPreference{{Kind: store.KindRequested, Delivery: store.DeliveryOff},
			{Kind: store.KindWaiting, Delivery: ""}}, store.ErrUnknownDelivery},
	} {
		if err := f.s.SetNotificationPreferences(ctx, tc.actor, origin, tc.prefs); !errors.Is(err, tc.want) {
			t.Errorf("user %d sets %+v: %v, want %v", tc.actor.UserID, tc.prefs, err, tc.want)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// An unsubscribe token turns off its one kind for its one user, and nothing else: not the other
// kind, not anybody else's. Only its hash is stored. Repeating it changes nothing; a token that
// is not one is not found.
func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	if err := f.s.SetNotificationPreference(ctx, f.physician, origin, store.KindWaiting, store.DeliveryDigest); err != nil {
		t.Fatal(err)
	}
	token, err := f.s.NewUnsubscribeToken(ctx, nil, f.physician.UserID, store.KindRequested)
	if err != nil {
		t.Fatal(err)
	}
	// A token made in a transaction exists with it.
	tx, err := f.s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := f.s.NewUnsubscribeToken(ctx, tx, f.maria.UserID, store.KindPracticeMessage)
	if err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if _, err := f.s.UnsubscribeKind(ctx, rolledBack); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a token whose transaction rolled back: %v, want ErrNotFound", err)
	}

	if n := count(t, f.s, `SELECT count(*) FROM unsubscribe_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, token); n != 1 {
		t.Errorf("%d rows keyed by the token's SHA-256, want 1", n)
	}
	if found := findPlaintext(t, f.s, []string{token}); len(found) > 0 {
		t.Errorf("the token itself is stored: %v", found)
	}
	if len(token) < 43 {
		t.Errorf("token %q is shorter than 32 random bytes", token)
	}

	if kind, err := f.s.UnsubscribeKind(ctx, token); err != nil || kind != store.KindRequested {
		t.Fatalf("kind of the token: %q, %v", kind, err)
	}
	wantPrefs(t, f.s, f.physician.UserID, "requested=now", "waiting=digest") // asking changed nothing
	kind, err := f.s.Unsubscribe(ctx, token, origin)
	if err != nil || kind != store.KindRequested {
		t.Fatalf("unsubscribe: %q, %v", kind, err)
	}
	wantPrefs(t, f.s, f.physician.UserID, "requested=off", "waiting=digest")
	wantPrefs(t, f.s, f.nurse.UserID, "requested=now", "waiting=off")
	wantPrefs(t, f.s, f.maria.UserID, "practice_message=now")
	if a := lastAudit(t, f.s); a.Action != "notification_unsubscribed" || a.ActorID != f.physician.UserID || a.ObjectID != f.physician.UserID {
		t.Errorf("audit %+v", a)
	}

	before := dbState(t, f.s)
	if kind, err := f.s.Unsubscribe(ctx, token, origin); err != nil || kind != store.KindRequested {
		t.Errorf("unsubscribe again: %q, %v", kind, err)
	}
	for _, bad := range []string{"", "not-a-token", token[:len(token)-1], token + "A", rolledBack,
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := f.s.Unsubscribe(ctx, bad, origin); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unsubscribe with %q: %v, want ErrNotFound", bad, err)
		}
		if _, err := f.s.UnsubscribeKind(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("kind of %q: %v, want ErrNotFound", bad, err)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// A token is for a kind the user has, of a user who exists.
	if _, err := f.s.NewUnsubscribeToken(ctx, nil, f.maria.UserID, store.KindWaiting); !errors.Is(err, store.ErrUnknownKind) {
		t.Errorf("a patient's token for staff mail: %v, want ErrUnknownKind", err)
	}
	if _, err := f.s.NewUnsubscribeToken(ctx, nil, f.maria.UserID, "everything"); !errors.Is(err, store.ErrUnknownKind) {
		t.Errorf("a token for no kind: %v, want ErrUnknownKind", err)
	}
	if _, err := f.s.NewUnsubscribeToken(ctx, nil, 987654321, store.KindPracticeMessage); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a token for no user: %v, want ErrNotFound", err)
	}
	// Each e-mail gets a token of its own.
	again, err := f.s.NewUnsubscribeToken(ctx, nil, f.physician.UserID, store.KindRequested)
	if err != nil || again == token {
		t.Errorf("a second token: %q, %v (the first %q)", again, err, token)
	}
}
