package store_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

func adminOf(t *testing.T, f *fixture, email string) store.User {
	t.Helper()
	u, err := f.s.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// jobs is how many invitation jobs wait in the queue for invitation id.
func inviteJobs(t *testing.T, s *store.Store, id int64) int {
	return count(t, s, `SELECT count(*) FROM river_job WHERE kind = 'invitation' AND (args->>'invitation_id')::bigint = $1`, id)
}

// An invitation's link works once, until it expires, and is kept only as a hash; each send
// replaces the one before; the job that mints it carries no token.
func TestInvitationLinkSingleUseExpiringHashed(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := adminOf(t, f, "admin@riverside.example")
	id, err := f.s.Invite(t.Context(), admin, origin, store.NewInvitation{Email: "New.Nurse@Example.com", FullName: "Nina Park", Role: "nurse"})
	if err != nil {
		t.Fatal(err)
	}
	if n := inviteJobs(t, f.s, id); n != 1 {
		t.Fatalf("%d jobs for the invitation, want 1 (enqueued with it)", n)
	}
	m, err := f.s.MintInvitation(t.Context(), id, 1)
	if err != nil || m.Done || m.Token == "" || m.To != "new.nurse@example.com" {
		t.Fatalf("mint: %+v, %v", m, err)
	}
	// Only the hash is kept: the token is in no table, the jobs' included.
	for _, table := range []string{"invitations", "river_job", "audit_log"} {
		if n := count(t, f.s, `SELECT count(*) FROM `+table+` t WHERE t::text LIKE '%' || $1 || '%'`, m.Token); n != 0 {
			t.Errorf("the token is in %s", table)
		}
	}
	var name []byte
	if err := f.s.DB().Get(&name, `SELECT full_name FROM invitations WHERE id = $1`, id); err != nil || bytes.Contains(name, []byte("Nina")) {
		t.Errorf("the name is not sealed: %q %v", name, err)
	}
	// A job for an older send does nothing.
	if err := f.s.ResendInvitation(t.Context(), admin, origin, id); err != nil {
		t.Fatal(err)
	}
	if stale, err := f.s.MintInvitation(t.Context(), id, 1); err != nil || !stale.Done {
		t.Errorf("the first send's job after a resend: %+v, %v", stale, err)
	}
	if _, err := f.s.InvitationByToken(t.Context(), m.Token); err != nil {
		t.Errorf("the first link before the resend's e-mail goes: %v", err)
	}
	second, err := f.s.MintInvitation(t.Context(), id, 2)
	if err != nil || second.Token == "" || second.Token == m.Token {
		t.Fatalf("second mint: %+v, %v", second, err)
	}
	if _, err := f.s.InvitationByToken(t.Context(), m.Token); !errors.Is(err, store.ErrInvitationInvalid) {
		t.Errorf("the first link after the second went: %v", err)
	}
	// Expired: refused, to read and to use, and nothing changes.
	f.s.SetClock(func() time.Time { return time.Now().Add(store.InvitationValid + time.Minute) })
	before := dbState(t, f.s)
	if _, err := f.s.InvitationByToken(t.Context(), second.Token); !errors.Is(err, store.ErrInvitationInvalid) {
		t.Errorf("an expired link reads: %v", err)
	}
	if _, err := f.s.AcceptInvitation(t.Context(), second.Token, "hash", origin); !errors.Is(err, store.ErrInvitationInvalid) {
		t.Errorf("an expired link is used: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
	f.s.SetClock(time.Now)

	u, err := f.s.AcceptInvitation(t.Context(), second.Token, "argon2id-hash", origin)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "new.nurse@example.com" || u.StaffRole != store.StaffNurse || u.Initials != "NP" || u.PracticeID != admin.PracticeID {
		t.Errorf("account: %+v", u)
	}
	before = dbState(t, f.s)
	if _, err := f.s.AcceptInvitation(t.Context(), second.Token, "other", origin); !errors.Is(err, store.ErrInvitationInvalid) {
		t.Errorf("a used link, again: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
	if n := count(t, f.s, `SELECT count(*) FROM invitations WHERE id = $1 AND token_hash IS NULL AND state = 'accepted'`, id); n != 1 {
		t.Error("the accepted invitation keeps its token's hash")
	}
}

// An address with an account anywhere gets the advice to sign in, no link; the inviter saw the
// same answer as for any address.
func TestInvitationToAnAddressInUse(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := adminOf(t, f, "admin@riverside.example")
	id, err := f.s.Invite(t.Context(), admin, origin, store.NewInvitation{Email: "grace.kim@hillcrest.example", FullName: "G K", Role: "nurse"})
	if err != nil {
		t.Fatalf("an address of another practice's patient: %v", err)
	}
	m, err := f.s.MintInvitation(t.Context(), id, 1)
	if err != nil || m.Done || m.Token != "" || m.To != "grace.kim@hillcrest.example" {
		t.Errorf("mint for an address in use: %+v, %v", m, err)
	}
	// Taken after the link went: using it makes nothing.
	id2, err := f.s.Invite(t.Context(), admin, origin, store.NewInvitation{Email: "late@example.com", FullName: "L T", Role: "nurse"})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := f.s.MintInvitation(t.Context(), id2, 1)
	if _, err := f.s.CreateUser(t.Context(), store.User{PracticeID: f.hillcrest.ID, Role: store.RolePatient, Email: "late@example.com",
		PasswordHash: "x", FullName: "L T", Initials: "LT"}); err != nil {
		t.Fatal(err)
	}
	before := dbState(t, f.s)
	if _, err := f.s.AcceptInvitation(t.Context(), m2.Token, "h", origin); !errors.Is(err, store.ErrAddressInUse) {
		t.Errorf("accepting for an address taken since: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// One practice's administrator reaches nothing of another's, and nobody else invites at all.
func TestInvitationsOfAnotherPractice(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	riverside, hillcrest := adminOf(t, f, "admin@riverside.example"), adminOf(t, f, "admin@hillcrest.example")
	id, err := f.s.Invite(t.Context(), riverside, origin, store.NewInvitation{Email: "p@example.com", FullName: "P Q", Role: "patient", DateOfBirth: "1990-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	upload, err := f.s.UploadPatientImport(t.Context(), riverside, []store.ImportRow{{Line: 2, Name: "A B", Email: "a.b@example.com", DateOfBirth: "1990-01-01"}})
	if err != nil {
		t.Fatal(err)
	}
	physician := adminOf(t, f, "physician@riverside.example")
	before := dbState(t, f.s)
	for name, err := range map[string]error{
		"resend": f.s.ResendInvitation(t.Context(), hillcrest, origin, id),
		"revoke": f.s.RevokeInvitation(t.Context(), hillcrest, origin, id),
		"confirm": func() error {
			_, _, err := f.s.ConfirmPatientImport(t.Context(), hillcrest, origin, upload)
			return err
		}(),
		"preview": func() error { _, err := f.s.PatientImportPreview(t.Context(), hillcrest, upload); return err }(),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another practice's administrator, %s: %v, want not found", name, err)
		}
	}
	if _, err := f.s.Invite(t.Context(), physician, origin, store.NewInvitation{Email: "x@example.com", FullName: "X", Role: "nurse"}); !errors.Is(err, store.ErrNotAllowed) {
		t.Errorf("a physician invites: %v", err)
	}
	if list, _ := f.s.PendingInvitations(t.Context(), hillcrest); len(list) != 0 {
		t.Errorf("another practice's invitations listed: %+v", list)
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

const patientsCSV = "name,email,date_of_birth\n" +
	"Ana Reyes,ana.reyes@example.com,1985-02-03\n" +
	"Ben Ode,ben.ode@example.com,1990-12-31\n" +
	"Cy Twombly,,1990-12-31\n"

// The parser names each bad row's problem, and refuses what is no import CSV at all.
func TestParsePatientCSV(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	rows, err := store.ParsePatientCSV(strings.NewReader("\ufeffEmail,Name,Date_of_Birth\n"+
		"a@example.com,A A,1980-01-01\n"+
		"b@example.com,,1980-01-01\n"+
		"c@example,C C,1980-01-01\n"+
		"d@example.com,D D,1980-13-01\n"+
		"e@example.com,E E,2030-01-01\n"+
		"A@example.com,A Again,1980-01-01\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "name is missing", "e-mail", "date of birth", "date of birth", "line 2 already"}
	for i, r := range rows {
		if (want[i] == "") != (r.Problem == "") || !strings.Contains(r.Problem, want[i]) {
			t.Errorf("line %d: problem %q, want %q", r.Line, r.Problem, want[i])
		}
	}
	for _, bad := range []string{"", "name,email\nA,a@b.co\n", "name,email,date_of_birth\n", "name,email,date_of_birth\n\"x,y,z\n"} {
		var ce *store.CSVError
		if _, err := store.ParsePatientCSV(strings.NewReader(bad), now); !errors.As(err, &ce) {
			t.Errorf("%q: %v, want a CSVError", bad, err)
		}
	}
}

// The import is all or nothing, once; the same file again invites nobody twice; the rows are
// kept sealed.
func TestPatientImportOnce(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := adminOf(t, f, "admin@riverside.example")
	rows, err := store.ParsePatientCSV(strings.NewReader(patientsCSV), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.s.UploadPatientImport(t.Context(), admin, rows)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM patient_imports WHERE id = $1 AND position('Reyes'::bytea IN rows) = 0`, id); n != 1 {
		t.Error("the upload's rows are not sealed")
	}
	// All or nothing: a row that cannot be written (an address someone took a pending invitation
	// for a moment ago would be known; a failure inside is forced with a trigger) leaves nothing.
	if _, err := f.s.DB().Exec(`CREATE FUNCTION fail_ben() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.email = 'ben.ode@example.com' THEN RAISE EXCEPTION 'forced'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER fail_ben BEFORE INSERT ON invitations FOR EACH ROW EXECUTE FUNCTION fail_ben()`); err != nil {
		t.Fatal(err)
	}
	before := dbState(t, f.s)
	jobs := count(t, f.s, `SELECT count(*) FROM river_job`)
	if _, _, err := f.s.ConfirmPatientImport(t.Context(), admin, origin, id); err == nil {
		t.Fatal("the forced failure did not fail the import")
	}
	assertUnchanged(t, before, dbState(t, f.s))
	if n := count(t, f.s, `SELECT count(*) FROM river_job`); n != jobs {
		t.Errorf("a failed import left %d jobs", n-jobs)
	}
	if _, err := f.s.DB().Exec(`DROP TRIGGER fail_ben ON invitations`); err != nil {
		t.Fatal(err)
	}
	p, n, err := f.s.ConfirmPatientImport(t.Context(), admin, origin, id)
	if err != nil || n != 2 {
		t.Fatalf("confirm: %d invited, %v", n, err)
	}
	if !p.Rows[0].Invited || !p.Rows[1].Invited || p.Rows[2].Invited {
		t.Errorf("rows: %+v", p.Rows)
	}
	if _, _, err := f.s.ConfirmPatientImport(t.Context(), admin, origin, id); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Errorf("a second confirmation: %v", err)
	}
	again, err := f.s.UploadPatientImport(t.Context(), admin, rows)
	if err != nil {
		t.Fatal(err)
	}
	_, n, err = f.s.ConfirmPatientImport(t.Context(), admin, origin, again)
	if err != nil || n != 0 {
		t.Errorf("the same file again: %d invited, %v", n, err)
	}
	if got := count(t, f.s, `SELECT count(*) FROM invitations WHERE practice_id = $1`, admin.PracticeID); got != 2 {
		t.Errorf("%d invitations, want 2", got)
	}
	if got := count(t, f.s, `SELECT count(*) FROM river_job WHERE kind = 'invitation'`); got != 2 {
		t.Errorf("%d invitation jobs, want 2", got)
	}
	// Expired: refused, nothing changes.
	late, _ := f.s.UploadPatientImport(t.Context(), admin, []store.ImportRow{{Line: 2, Name: "Z Z", Email: "z@example.com", DateOfBirth: "1990-01-01"}})
	f.s.SetClock(func() time.Time { return time.Now().Add(store.ImportValid + time.Minute) })
	before = dbState(t, f.s)
	if _, _, err := f.s.ConfirmPatientImport(t.Context(), admin, origin, late); !errors.Is(err, store.ErrImportExpired) {
		t.Errorf("an expired upload: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
	if n, err := f.s.PruneImports(t.Context()); err != nil || n != 3 {
		t.Errorf("pruned %d, %v; want every upload", n, err)
	}
}

// practice create: a practice with its settings row, an administrator who cannot sign in yet,
// and an invitation that activates them.
func TestCreatePracticeWithAdmin(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	p, id, err := f.s.CreatePracticeWithAdmin(t.Context(), store.NewPractice{Name: "Lakeside Clinic", AdminEmail: "Boss@Lakeside.example", Mail: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM practice_settings WHERE practice_id = $1`, p.ID); n != 1 {
		t.Error("no settings row")
	}
	admin := adminOf(t, f, "boss@lakeside.example")
	if !admin.Administrator || admin.PasswordHash != "" || admin.PracticeID != p.ID {
		t.Errorf("administrator: %+v", admin)
	}
	if inviteJobs(t, f.s, id) != 1 {
		t.Error("the invitation's e-mail is not enqueued")
	}
	m, err := f.s.MintInvitation(t.Context(), id, 1)
	if err != nil || m.Token == "" {
		t.Fatalf("mint: %+v %v", m, err)
	}
	u, err := f.s.AcceptInvitation(t.Context(), m.Token, "the-hash", origin)
	if err != nil || u.ID != admin.ID || u.PasswordHash != "the-hash" {
		t.Errorf("accept: %+v %v", u, err)
	}
	if _, _, err := f.s.CreatePracticeWithAdmin(t.Context(), store.NewPractice{Name: "Again", AdminEmail: "boss@lakeside.example"}); !errors.Is(err, store.ErrAddressInUse) {
		t.Errorf("an administrator's address in use: %v", err)
	}
	var v *store.ValidationError
	if _, _, err := f.s.CreatePracticeWithAdmin(t.Context(), store.NewPractice{Name: " ", AdminEmail: "nope"}); !errors.As(err, &v) || len(v.Fields) != 2 {
		t.Errorf("no name, bad address: %v", err)
	}
}

// A key rotation moves the onboarding's sealed values too, so the old key can be dropped.
func TestReencryptOnboarding(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := adminOf(t, f, "admin@riverside.example")
	id, err := f.s.Invite(t.Context(), admin, origin, store.NewInvitation{Email: "p@example.com", FullName: "P Q", Role: "patient", DateOfBirth: "1990-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UploadPatientImport(t.Context(), admin, []store.ImportRow{{Line: 2, Name: "A B", Email: "a.b@example.com", DateOfBirth: "1990-01-01"}}); err != nil {
		t.Fatal(err)
	}
	m, _ := f.s.MintInvitation(t.Context(), id, 1)
	if _, err := f.s.AcceptInvitation(t.Context(), m.Token, "h", origin); err != nil {
		t.Fatal(err)
	}
	newKey := "2:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	both, err := store.ParseKeyring(newKey + "," + storetest.KeySpec)
	if err != nil {
		t.Fatal(err)
	}
	rotated := store.New(f.s.DB(), both)
	if _, err := rotated.Reencrypt(t.Context(), 100); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"invitations.full_name", "invitations.date_of_birth", "users.date_of_birth", "patient_imports.rows"} {
		table, col, _ := strings.Cut(c, ".")
		if n := count(t, f.s, `SELECT count(*) FROM `+table+` WHERE `+col+` IS NOT NULL AND substring(`+col+` FROM 2 FOR 4) <> '\x00000002'::bytea`); n != 0 {
			t.Errorf("%d of %s still under the old key", n, c)
		}
	}
}
