package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

func TestUserByEmail(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	for _, typed := range []string{"maria.lopez@riverside.example", "Maria.Lopez@Riverside.Example", "  maria.lopez@riverside.example\t"} {
		u, err := f.s.UserByEmail(t.Context(), typed)
		if err != nil {
			t.Errorf("%q: %v", typed, err)
			continue
		}
		if u.ID != f.maria.UserID || u.FullName != "Maria Lopez" || u.Initials != "ML" || u.Role != store.RolePatient ||
			u.PracticeID != f.riverside.ID || !checkPassword(t, store.DemoPassword, u.PasswordHash) {
			t.Errorf("%q: %+v", typed, u)
		}
	}
	for _, unknown := range []string{"", "nobody@riverside.example", "maria.lopez@riverside.example.evil", "%@riverside.example"} {
		if _, err := f.s.UserByEmail(t.Context(), unknown); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%q: err = %v, want ErrNotFound", unknown, err)
		}
	}
}

func TestCreateUserNormalizesEmail(t *testing.T) {
	t.Parallel()
	s, u := newUser(t, "  New.Patient@Example.TEST ")
	if u.Email != "new.patient@example.test" {
		t.Errorf("email stored as %q", u.Email)
	}
	// The address is unique however it is typed.
	_, err := s.CreateUser(t.Context(), store.User{PracticeID: u.PracticeID, Role: store.RolePatient,
		Email: "NEW.PATIENT@example.test", PasswordHash: "x", FullName: "Copy", Initials: "C"})
	if err == nil {
		t.Error("a second account with the same address was created")
	}
}

// TestStaffLists: the compose form's drop-downs list only the viewer's practice.
func TestStaffLists(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	if _, err := f.s.CreateUser(ctx, store.User{PracticeID: f.riverside.ID, Role: store.RoleStaff, Email: "records@riverside.example",
		PasswordHash: "x", FullName: "Aaron Records", Initials: "AR", AnswersMessages: false}); err != nil {
		t.Fatal(err)
	}
	names := func(us []store.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.FullName)
		}
		return out
	}
	for _, v := range []store.Viewer{f.maria, f.nurse} {
		staff, err := f.s.ResponderStaff(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		got, want := names(staff), []string{"Dr. Amelia Chen", "Jordan Patel, RN", "Sam Rivera"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("user %d: responders %q, want %q", v.UserID, got, want)
		}
	}
	patients, err := f.s.Patients(ctx, f.hNurse)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(patients); len(got) != 2 || got[0] != "David Osei" || got[1] != "Grace Kim" {
		t.Errorf("Hillcrest patients %q", got)
	}
	// A patient is not given the list of other patients.
	if patients, err := f.s.Patients(ctx, f.grace); err != nil || len(patients) != 0 {
		t.Errorf("patient's Patients() = %v, %v", names(patients), err)
	}
}

// TestSessionCarriesThePractice: every page shows its user's practice (its name, and its fee on
// the forms), read with the session.
func TestSessionCarriesThePractice(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	if f.riverside.Name != "Riverside Family Medicine" || !f.riverside.Charges() {
		t.Errorf("riverside %+v", f.riverside)
	}
	if f.hillcrest.Name != "Hillcrest Pediatrics" || f.hillcrest.Charges() {
		t.Errorf("hillcrest %+v", f.hillcrest)
	}
	for email, want := range map[string]store.Practice{
		"maria.lopez@riverside.example": f.riverside, "physician@riverside.example": f.riverside,
		"grace.kim@hillcrest.example": f.hillcrest, "nurse@hillcrest.example": f.hillcrest,
	} {
		u, err := f.s.UserByEmail(t.Context(), email)
		if err != nil {
			t.Fatal(err)
		}
		token := newSession(t, f.s, u)
		sess, err := f.s.SessionByToken(t.Context(), token, store.SessionLimits{Idle: time.Hour, Absolute: time.Hour})
		if err != nil || sess.Practice != want {
			t.Errorf("%s's session: practice %+v, %v; want %+v", email, sess.Practice, err, want)
		}
	}
}

// TestPracticeTimeZone: a practice's dates are in the zone it was created with, which its
// sessions carry, or in the configured default where it named none; a name Go's zone database
// does not know is refused when written and when read.
func TestPracticeTimeZone(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	for _, bad := range []string{"Local", "Central Time", "America/Nowhere"} {
		if _, err := s.CreatePractice(ctx, "Bad Zone Practice", 0, bad); err == nil {
			t.Errorf("a practice in time zone %q was created", bad)
		}
	}
	p, err := s.CreatePractice(ctx, "Lakeside Clinic", 0, "America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.User{PracticeID: p.ID, Role: store.RolePatient, Email: "lee@lakeside.example",
		PasswordHash: "not-a-real-hash", FullName: "Lee Park", Initials: "LP"})
	if err != nil {
		t.Fatal(err)
	}
	token := newSession(t, s, u)
	sess, err := s.SessionByToken(ctx, token, limits)
	if err != nil {
		t.Fatal(err)
	}
	if z := sess.Practice.Location(time.UTC); sess.Practice.TimeZone != "America/Chicago" || z.String() != "America/Chicago" {
		t.Errorf("the session's practice is in %q (%s), want America/Chicago", sess.Practice.TimeZone, z)
	}
	// A practice that names no zone (as every one did before practices had zones) shows its
	// dates in the configured default.
	if _, err := s.DB().ExecContext(ctx, `UPDATE practices SET time_zone = NULL WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = s.SessionByToken(ctx, token, limits); err != nil {
		t.Fatal(err)
	}
	if z := sess.Practice.Location(tokyo); sess.Practice.TimeZone != "" || z != tokyo {
		t.Errorf("a practice with no zone of its own is in %q (%s), want the default, Asia/Tokyo", sess.Practice.TimeZone, z)
	}
	unnamed, err := s.CreatePractice(ctx, "Hillside Clinic", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var stored *string
	if err := s.DB().GetContext(ctx, &stored, `SELECT time_zone FROM practices WHERE id = $1`, unnamed.ID); err != nil || stored != nil {
		t.Errorf("a practice created with no zone stored %v (%v), want NULL", stored, err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE practices SET time_zone = 'America/Nowhere' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByToken(ctx, token, limits); err == nil || !strings.Contains(err.Error(), "America/Nowhere") {
		t.Errorf("a session of a practice in an unknown zone: %v, want an error naming it", err)
	}
}
