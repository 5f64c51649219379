package store_test

import (
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"securemessages/store"
)

// TestPersonAllowed is the rule table of an administrator's changes to a person.
func TestPersonAllowed(t *testing.T) {
	t.Parallel()
	admin := store.User{ID: 1, PracticeID: 7, Role: store.RoleStaff, Administrator: true}
	person := func(u store.User, deactivated bool) store.Person {
		p := store.Person{User: u}
		if deactivated {
			p.DeactivatedAt = sql.NullTime{Time: time.Now(), Valid: true}
		}
		return p
	}
	nurse := store.User{ID: 2, PracticeID: 7, Role: store.RoleStaff, StaffRole: store.StaffNurse, TOTPEnabled: true}
	patient := store.User{ID: 3, PracticeID: 7, Role: store.RolePatient}
	otherAdmin := store.User{ID: 4, PracticeID: 7, Role: store.RoleStaff, Administrator: true}
	all := store.PersonActions{View: true, Rename: true, ChangeRole: true, GrantAdmin: true, Deactivate: true, ResetSecondFactor: true}
	for _, tc := range []struct {
		name   string
		actor  store.User
		target store.Person
		admins int
		want   store.PersonActions
	}{
		{"a nurse with two-step sign-in", admin, person(nurse, false), 1, all},
		{"a patient: no role, no right", admin, person(patient, false),
			1, store.PersonActions{View: true, Rename: true, Deactivate: true}},
		{"a deactivated nurse: only reactivate", admin, person(nurse, true), 1, store.PersonActions{View: true, Reactivate: true}},
		{"another administrator, two in all", admin, person(otherAdmin, false), 2,
			store.PersonActions{View: true, Rename: true, ChangeRole: true, RevokeAdmin: true, Deactivate: true}},
		{"oneself, the last administrator", admin, person(admin, false), 1,
			store.PersonActions{View: true, Rename: true, ChangeRole: true}},
		{"oneself, with another administrator", admin, person(admin, false), 2,
			store.PersonActions{View: true, Rename: true, ChangeRole: true, RevokeAdmin: true, Deactivate: true}},
		{"a person of another practice", admin, person(store.User{ID: 5, PracticeID: 8, Role: store.RoleStaff}, false), 1, store.PersonActions{}},
		{"the automatic account", admin, store.Person{User: store.User{ID: 6, PracticeID: 7, Role: store.RoleStaff}, Automatic: true}, 1, store.PersonActions{}},
		{"by staff without the right", nurse, person(patient, false), 1, store.PersonActions{}},
		{"by a patient whose row says administrator", store.User{ID: 9, PracticeID: 7, Role: store.RolePatient, Administrator: true},
			person(patient, false), 1, store.PersonActions{}},
		{"by an administrator of another practice", store.User{ID: 10, PracticeID: 8, Role: store.RoleStaff, Administrator: true},
			person(nurse, false), 1, store.PersonActions{}},
	} {
		if got := store.PersonAllowed(tc.actor, tc.target, tc.admins); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestPeopleOfTheirPractice: an administrator lists and reads their own practice's people only;
// another practice's person is not found, and nobody else may list.
func TestPeopleOfTheirPractice(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := demoUser(t, f.s, "admin@riverside.example")
	people, err := f.s.People(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	staff, patients := 0, 0
	for _, p := range people {
		if p.PracticeID != f.riverside.ID || p.Automatic {
			t.Errorf("listed %s of practice %d (automatic %t)", p.Email, p.PracticeID, p.Automatic)
		}
		if p.Role == store.RoleStaff {
			staff++
			if patients > 0 {
				t.Errorf("staff %s listed after patients", p.Email)
			}
		} else {
			patients++
		}
	}
	if staff < 4 || patients < 2 {
		t.Errorf("%d staff and %d patients", staff, patients)
	}
	if _, _, err := f.s.PersonOf(t.Context(), admin, f.grace.UserID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another practice's patient: %v, want ErrNotFound", err)
	}
	if _, err := f.s.People(t.Context(), demoUser(t, f.s, "physician@riverside.example")); !errors.Is(err, store.ErrNotAllowed) {
		t.Errorf("staff without the right listed people: %v", err)
	}
	before := dbState(t, f.s)
	for name, err := range map[string]error{
		"rename":     f.s.Rename(t.Context(), admin, origin, f.grace.UserID, "Someone Else", "SE"),
		"deactivate": f.s.Deactivate(t.Context(), admin, origin, f.grace.UserID),
		"role":       f.s.SetRole(t.Context(), admin, origin, f.hNurse.UserID, store.StaffPhysician, true),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of another practice's person: %v, want ErrNotFound", name, err)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// TestPersonChanges: each change is made, kept with old and new values in account_changes and
// chained in the audit log; bad input and changes that do not apply change nothing.
func TestPersonChanges(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := demoUser(t, f.s, "admin@riverside.example")
	ctx := t.Context()

	before := dbState(t, f.s)
	var invalid *store.ValidationError
	if err := f.s.SetRole(ctx, admin, origin, f.nurse.UserID, "surgeon", false); !errors.As(err, &invalid) || invalid.Fields["staff_role"] == "" {
		t.Errorf("an unknown role: %v", err)
	}
	if err := f.s.SetRole(ctx, admin, origin, f.maria.UserID, store.StaffNurse, false); !errors.Is(err, store.ErrNoSuchChange) {
		t.Errorf("a role for a patient: %v", err)
	}
	if err := f.s.Rename(ctx, admin, origin, f.nurse.UserID, "", "N0"); !errors.As(err, &invalid) ||
		invalid.Fields["full_name"] == "" || invalid.Fields["initials"] == "" {
		t.Errorf("an empty name and initials with a digit: %v", err)
	}
	if err := f.s.ResetSecondFactor(ctx, admin, origin, f.nurse.UserID); !errors.Is(err, store.ErrNoSuchChange) {
		t.Errorf("a reset of a second factor that is off: %v", err)
	}
	if err := f.s.Reactivate(ctx, admin, origin, f.nurse.UserID); !errors.Is(err, store.ErrNoSuchChange) {
		t.Errorf("reactivating someone active: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))

	if err := f.s.SetRole(ctx, admin, origin, f.nurse.UserID, store.StaffPhysician, true); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Rename(ctx, admin, origin, f.nurse.UserID, "Dr. Nora Quinn", "NQ"); err != nil {
		t.Fatal(err)
	}
	p, _, err := f.s.PersonOf(ctx, admin, f.nurse.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if p.StaffRole != store.StaffPhysician || !p.Administrator || p.FullName != "Dr. Nora Quinn" || p.Initials != "NQ" {
		t.Errorf("after the changes: %+v", p)
	}
	changes, err := f.s.AccountChanges(ctx, admin, f.nurse.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].What != store.ChangeName || changes[1].What != store.ChangeRole ||
		changes[1].Old != "nurse" || changes[1].New != "physician+administrator" || changes[1].ActorID != admin.ID {
		t.Errorf("changes: %+v", changes)
	}
	if a := lastAudit(t, f.s); a.Action != "account_changed:name" || a.ActorID != admin.ID {
		t.Errorf("audit: %+v", a)
	}
	if n, broken, err := f.s.VerifyAudit(ctx); err != nil || broken != nil || n == 0 {
		t.Errorf("audit chain: %d rows, break %+v, %v", n, broken, err)
	}
}

// TestLastAdministrator: the practice's last active administrator can neither be demoted nor
// deactivated, by themself or anyone; with two, one may go, and two at once demoting each other
// leave one.
func TestLastAdministrator(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := demoUser(t, f.s, "admin@riverside.example")
	ctx := t.Context()
	before := dbState(t, f.s)
	if err := f.s.Deactivate(ctx, admin, origin, admin.ID); !errors.Is(err, store.ErrLastAdministrator) {
		t.Errorf("deactivating oneself, the last administrator: %v", err)
	}
	if err := f.s.SetRole(ctx, admin, origin, admin.ID, store.StaffFrontDesk, false); !errors.Is(err, store.ErrLastAdministrator) {
		t.Errorf("demoting oneself, the last administrator: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// A second administrator; then both demote each other at once: one wins.
	if err := f.s.SetRole(ctx, admin, origin, f.physician.UserID, store.StaffPhysician, true); err != nil {
		t.Fatal(err)
	}
	second := demoUser(t, f.s, "physician@riverside.example")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pair := range [][2]store.User{{admin, second}, {second, admin}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.s.SetRole(ctx, pair[0], origin, pair[1].ID, store.StaffNurse, false)
		}()
	}
	wg.Wait()
	if n := count(t, f.s, `SELECT count(*) FROM users WHERE practice_id = $1 AND administrator AND deactivated_at IS NULL`, f.riverside.ID); n != 1 {
		t.Errorf("%d administrators after both demoted each other (errors %v)", n, errs)
	}
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrLastAdministrator) && !errors.Is(err, store.ErrNotAllowed):
			t.Errorf("the losing demotion: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d demotions succeeded, want 1: %v", ok, errs)
	}
}

// TestDeactivation: a deactivated person's sessions end with the change, they cannot sign in
// (UserByEmail finds nobody) or ask for a reset, their messages stay theirs; reactivated, they
// sign in with their password again.
func TestDeactivation(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := demoUser(t, f.s, "admin@riverside.example")
	ctx := t.Context()
	maria := demoUser(t, f.s, "maria.lopez@riverside.example")
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Before deactivation"})
	phone, laptop := newSession(t, f.s, maria), newSession(t, f.s, maria)
	toms := newSession(t, f.s, demoUser(t, f.s, "tom.becker@riverside.example"))

	if err := f.s.Deactivate(ctx, admin, origin, maria.ID); err != nil {
		t.Fatal(err)
	}
	limits := store.SessionLimits{Idle: time.Hour, Absolute: 24 * time.Hour}
	for _, token := range []string{phone, laptop} {
		if _, err := f.s.SessionByToken(ctx, token, limits); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deactivated person's session: %v", err)
		}
	}
	if _, err := f.s.SessionByToken(ctx, toms, limits); err != nil {
		t.Errorf("another person's session ended too: %v", err)
	}
	if _, err := f.s.UserByEmail(ctx, maria.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deactivated person found to sign in: %v", err)
	}
	if err := f.s.RequestPasswordReset(ctx, maria.Email, origin); err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM password_resets`); n != 0 {
		t.Errorf("a deactivated person's reset request made %d resets", n)
	}
	if n := count(t, f.s, `SELECT count(*) FROM messages WHERE id = $1 AND author_id = $2`, sent.MessageID, maria.ID); n != 1 {
		t.Error("a deactivated person's message is no longer theirs")
	}
	if err := f.s.Deactivate(ctx, admin, origin, maria.ID); !errors.Is(err, store.ErrNoSuchChange) {
		t.Errorf("deactivating twice: %v", err)
	}
	if err := f.s.Reactivate(ctx, admin, origin, maria.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UserByEmail(ctx, maria.Email); err != nil {
		t.Errorf("reactivated, not found to sign in: %v", err)
	}
}

// TestOwnSessionsAndPassword: the list shows one's own live sessions with their device, this one
// first; "everywhere else" and a password change end all the others, and only one's own.
func TestOwnSessionsAndPassword(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	maria := demoUser(t, f.s, "maria.lopez@riverside.example")
	phone, err := f.s.CreateSession(ctx, maria, store.Origin{Device: "Firefox on Android"})
	if err != nil {
		t.Fatal(err)
	}
	laptop := newSession(t, f.s, maria)
	toms := newSession(t, f.s, demoUser(t, f.s, "tom.becker@riverside.example"))
	limits := store.SessionLimits{Idle: time.Hour, Absolute: 24 * time.Hour}
	list, err := f.s.Sessions(ctx, maria, phone, limits)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Current || list[0].Device != "Firefox on Android" || list[1].Current {
		t.Fatalf("sessions: %+v", list)
	}
	ended, err := f.s.EndOtherSessions(ctx, maria, phone, origin)
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != 1 || ended[0] != store.SessionKey(laptop) {
		t.Errorf("ended %v, want the laptop's key", ended)
	}
	if _, err := f.s.SessionByToken(ctx, phone, limits); err != nil {
		t.Errorf("this session ended too: %v", err)
	}
	if _, err := f.s.SessionByToken(ctx, toms, limits); err != nil {
		t.Errorf("another person's session ended: %v", err)
	}

	var invalid *store.ValidationError
	if err := store.CheckNewPassword("short", "short"); !errors.As(err, &invalid) || invalid.Fields["new_password"] == "" {
		t.Errorf("a short password: %v", err)
	}
	if err := store.CheckNewPassword("long enough words", "long enough word"); !errors.As(err, &invalid) || invalid.Fields["confirm"] == "" {
		t.Errorf("two passwords that differ: %v", err)
	}
	again := newSession(t, f.s, maria)
	hash, err := store.HashPassword(ctx, "a new long password")
	if err != nil {
		t.Fatal(err)
	}
	ended, err = f.s.ChangePassword(ctx, maria, phone, hash, origin)
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != 1 || ended[0] != store.SessionKey(again) {
		t.Errorf("a password change ended %v, want the other session's key", ended)
	}
	u := demoUser(t, f.s, maria.Email)
	if ok, _ := store.CheckPassword(ctx, "a new long password", u.PasswordHash); !ok {
		t.Error("the new password does not sign in")
	}
	if n := count(t, f.s, `SELECT count(*) FROM account_changes WHERE target_id = $1 AND what = 'password_changed' AND old = '' AND new = ''`, u.ID); n != 1 {
		t.Errorf("%d password changes recorded without values", n)
	}
}
