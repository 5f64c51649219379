package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"securemessages/store"
)

// auditScene is a little activity at Riverside: Maria writes, the nurse opens it twice, the
// physician replies, Maria opens the reply; Tom writes, the nurse opens it, Tom cancels it.
type auditScene struct {
	*fixture
	admin, hAdmin    store.User
	mariaMsg, tomMsg int64 // the first message of each
	since            int64 // the last audit row before the scene (the demo's loading writes some)
}

func newAuditScene(t *testing.T) auditScene {
	t.Helper()
	f := newDemo(t)
	sc := auditScene{fixture: f, admin: demoUser(t, f.s, "admin@riverside.example"), hAdmin: demoUser(t, f.s, "admin@hillcrest.example")}
	ctx := t.Context()
	sc.since = int64(count(t, f.s, `SELECT coalesce(max(id), 0) FROM audit_log`))
	m := start(t, f.s, f.maria, store.NewConversation{Subject: "Knee"})
	sc.mariaMsg = m.MessageID
	open := func(v store.Viewer, id int64) {
		t.Helper()
		if _, err := f.s.MessageDetails(ctx, v, origin, id); err != nil {
			t.Fatal(err)
		}
	}
	open(f.nurse, m.MessageID)
	open(f.nurse, m.MessageID)
	r := reply(t, f.s, f.physician, m.MessageID, "Rest it")
	open(f.maria, r.MessageID)
	tm := start(t, f.s, f.tom, store.NewConversation{Subject: "Rash"})
	sc.tomMsg = tm.MessageID
	open(f.nurse, tm.MessageID)
	if _, err := f.s.Cancel(ctx, f.tom, origin, tm.MessageID); err != nil {
		t.Fatal(err)
	}
	return sc
}

func search(t *testing.T, s *store.Store, reviewer store.User, q store.AuditSearch) []store.AuditEntry {
	t.Helper()
	rows, _, err := s.SearchAudit(t.Context(), reviewer, q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return rows
}

// recent is the rows the scene wrote.
func (sc auditScene) recent(rows []store.AuditEntry) []store.AuditEntry {
	var out []store.AuditEntry
	for _, r := range rows {
		if r.ID > sc.since {
			out = append(out, r)
		}
	}
	return out
}

func actions(rows []store.AuditEntry) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Action)
	}
	return out
}

// TestAuditSearchFilters: each filter narrows the practice's log to what it names, newest first,
// a cancelled message's rows still known as its patient's, and the days taken in the practice's
// time zone.
func TestAuditSearchFilters(t *testing.T) {
	t.Parallel()
	sc := newAuditScene(t)
	s := sc.s
	maria, tom := sc.maria.UserID, sc.tom.UserID

	got := actions(sc.recent(search(t, s, sc.admin, store.AuditSearch{PatientID: maria})))
	if want := []string{"message_read", "reply_sent", "message_read", "message_read", "conversation_started"}; !slices.Equal(got, want) {
		t.Errorf("Maria's rows: %v, want %v", got, want)
	}
	got = actions(sc.recent(search(t, s, sc.admin, store.AuditSearch{PatientID: tom})))
	if want := []string{"message_cancelled", "message_read", "conversation_started"}; !slices.Equal(got, want) {
		t.Errorf("Tom's rows, his message cancelled: %v, want %v", got, want)
	}
	rows := sc.recent(search(t, s, sc.admin, store.AuditSearch{StaffID: sc.nurse.UserID}))
	if len(rows) != 3 {
		t.Errorf("the nurse's rows: %v", actions(rows))
	}
	for _, r := range rows {
		if r.ActorName != "Jordan Patel, RN" && r.ActorName == "" {
			t.Errorf("row without its actor: %+v", r)
		}
		if r.Wording() != "Opened a message's details" {
			t.Errorf("wording %q", r.Wording())
		}
	}
	if rows := sc.recent(search(t, s, sc.admin, store.AuditSearch{PatientID: maria, Action: "message_read"})); len(rows) != 3 || rows[0].PatientName != "Maria Lopez" {
		t.Errorf("Maria's reads: %+v", rows)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].At.After(rows[i-1].At) {
			t.Errorf("not newest first: %v after %v", rows[i].At, rows[i-1].At)
		}
	}

	// Days in the practice's zone: today there is everything, tomorrow and yesterday nothing.
	zone := time.UTC
	if sc.riverside.TimeZone != "" {
		zone, _ = time.LoadLocation(sc.riverside.TimeZone)
	}
	today := time.Now().In(zone)
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	all := search(t, s, sc.admin, store.AuditSearch{PatientID: maria})
	if rows := search(t, s, sc.admin, store.AuditSearch{PatientID: maria, From: day(0), To: day(0)}); len(rows) != len(all) {
		t.Errorf("today: %d rows", len(rows))
	}
	if rows := search(t, s, sc.admin, store.AuditSearch{PatientID: maria, From: day(1)}); len(rows) != 0 {
		t.Errorf("from tomorrow: %d rows", len(rows))
	}
	if rows := search(t, s, sc.admin, store.AuditSearch{PatientID: maria, To: day(-1)}); len(rows) != 0 {
		t.Errorf("to yesterday: %d rows", len(rows))
	}

	for _, c := range []struct {
		name  string
		q     store.AuditSearch
		field string
	}{
		{"unknown action", store.AuditSearch{Action: "drop_table"}, "action"},
		{"bad date", store.AuditSearch{From: "2026-13-01"}, "from"},
		{"from after to", store.AuditSearch{From: "2026-12-03", To: "2026-12-01"}, "to"},
		{"another practice's patient", store.AuditSearch{PatientID: sc.grace.UserID}, "patient"},
		{"a staff member as patient", store.AuditSearch{PatientID: sc.nurse.UserID}, "patient"},
		{"another practice's staff", store.AuditSearch{StaffID: sc.hNurse.UserID}, "staff"},
	} {
		_, _, err := s.SearchAudit(t.Context(), sc.admin, c.q)
		var invalid *store.ValidationError
		if !errors.As(err, &invalid) || invalid.Fields[c.field] == "" {
			t.Errorf("%s: %v, want a problem with %s", c.name, err, c.field)
		}
	}
}

// TestAuditSearchPages: pages follow each other newest first, without a row twice or left out.
func TestAuditSearchPages(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	admin := demoUser(t, f.s, "admin@riverside.example")
	m := start(t, f.s, f.maria, store.NewConversation{Subject: "Pages"})
	for range store.AuditPageSize + 5 {
		if _, err := f.s.MessageDetails(t.Context(), f.nurse, origin, m.MessageID); err != nil {
			t.Fatal(err)
		}
	}
	q := store.AuditSearch{PatientID: f.maria.UserID}
	total := count(t, f.s, `SELECT count(*) FROM audit_log WHERE patient_id = $1`, f.maria.UserID)
	first, more, err := f.s.SearchAudit(t.Context(), admin, q)
	if err != nil || !more || len(first) != store.AuditPageSize {
		t.Fatalf("first page: %d rows, more %v, %v", len(first), more, err)
	}
	q.Before = first[len(first)-1].ID
	second, more, err := f.s.SearchAudit(t.Context(), admin, q)
	if err != nil || more || len(second) != total-store.AuditPageSize {
		t.Fatalf("second page: %d rows, more %v, %v", len(second), more, err)
	}
	seen := map[int64]bool{}
	for _, r := range append(first, second...) {
		if seen[r.ID] {
			t.Errorf("row %d twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(seen) != total {
		t.Errorf("%d rows on the pages of %d", len(seen), total)
	}
}

// TestAuditReviewPracticeIsolation: an administrator sees nothing of another practice's log,
// not even the name of its patient in a refused look by their own staff; other staff and
// patients may not review at all.
func TestAuditReviewPracticeIsolation(t *testing.T) {
	t.Parallel()
	sc := newAuditScene(t)
	ctx := t.Context()
	g := start(t, sc.s, sc.grace, store.NewConversation{Subject: "Hillcrest"})
	// Riverside's nurse asks for Grace's message: refused, and audited.
	if err := sc.s.RecordDenied(ctx, sc.nurse, origin, "message", g.MessageID); err != nil {
		t.Fatal(err)
	}
	riverside := search(t, sc.s, sc.admin, store.AuditSearch{})
	hillcrest := search(t, sc.s, sc.hAdmin, store.AuditSearch{})
	if len(riverside) == 0 || len(hillcrest) == 0 {
		t.Fatalf("rows: riverside %d, hillcrest %d", len(riverside), len(hillcrest))
	}
	for _, r := range riverside {
		if r.PatientName == "Grace Kim" || r.ActorName == "Grace Kim" {
			t.Errorf("Riverside's admin sees Hillcrest's patient: %+v", r)
		}
	}
	if !slices.ContainsFunc(riverside, func(r store.AuditEntry) bool { return r.Action == "access_denied" && r.PatientID == 0 }) {
		t.Errorf("the refused look is not in Riverside's log, without a patient: %v", actions(riverside))
	}
	for _, r := range hillcrest {
		if r.ActorName == "Maria Lopez" || r.PatientName == "Maria Lopez" || r.ActorName == "Jordan Patel, RN" || r.Action == "access_denied" {
			t.Errorf("Hillcrest's admin sees Riverside's: %+v", r)
		}
	}
	if rows := search(t, sc.s, sc.hAdmin, store.AuditSearch{Action: "message_read"}); len(rows) != 0 {
		t.Errorf("Hillcrest's admin sees %d reads (none were made there)", len(rows))
	}
	if _, _, err := sc.s.PatientOpeners(ctx, sc.hAdmin, sc.maria.UserID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another practice's patient: %v, want not found", err)
	}
	nurse := demoUser(t, sc.s, "nurse@riverside.example")
	patient := demoUser(t, sc.s, "maria.lopez@riverside.example")
	for _, u := range []store.User{nurse, patient} {
		if _, _, err := sc.s.SearchAudit(ctx, u, store.AuditSearch{}); !errors.Is(err, store.ErrNotAllowed) {
			t.Errorf("%s searches: %v", u.Email, err)
		}
		if _, _, err := sc.s.PatientOpeners(ctx, u, sc.maria.UserID); !errors.Is(err, store.ErrNotAllowed) {
			t.Errorf("%s who opened: %v", u.Email, err)
		}
		if _, err := sc.s.ExportAudit(ctx, u, origin, store.AuditSearch{}); !errors.Is(err, store.ErrNotAllowed) {
			t.Errorf("%s exports: %v", u.Email, err)
		}
	}
}

// TestPatientOpeners: everyone who opened a patient's messages, the patient too, with their
// first and last time and how often.
func TestPatientOpeners(t *testing.T) {
	t.Parallel()
	sc := newAuditScene(t)
	patient, openers, err := sc.s.PatientOpeners(t.Context(), sc.admin, sc.maria.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if patient.FullName != "Maria Lopez" || len(openers) != 2 {
		t.Fatalf("%s: %+v", patient.FullName, openers)
	}
	byName := map[string]store.PatientOpener{}
	for _, o := range openers {
		byName[o.FullName] = o
		if o.First.After(o.Last) {
			t.Errorf("%s: first %v after last %v", o.FullName, o.First, o.Last)
		}
	}
	if n := byName["Jordan Patel, RN"]; n.Opens != 2 || n.Messages != 1 || n.Role != store.RoleStaff || !n.First.Before(n.Last) {
		t.Errorf("the nurse: %+v", n)
	}
	if m := byName["Maria Lopez"]; m.Opens != 1 || m.Role != store.RolePatient {
		t.Errorf("Maria herself: %+v", m)
	}
	if openers[0].FullName != "Maria Lopez" {
		t.Errorf("latest first: %+v", openers)
	}
	// Tom's cancelled message keeps who opened it.
	_, openers, err = sc.s.PatientOpeners(t.Context(), sc.admin, sc.tom.UserID)
	if err != nil || len(openers) != 1 || openers[0].FullName != "Jordan Patel, RN" {
		t.Errorf("Tom: %+v, %v", openers, err)
	}
}

// TestAuditExportIsAudited: an export writes its own row, with its filters, before it reads,
// streams every matching row, and the chain still holds after it.
func TestAuditExportIsAudited(t *testing.T) {
	t.Parallel()
	sc := newAuditScene(t)
	ctx := t.Context()
	q := store.AuditSearch{PatientID: sc.maria.UserID, From: "2020-01-01"}
	export, err := sc.s.ExportAudit(ctx, sc.admin, origin, q)
	if err != nil {
		t.Fatal(err)
	}
	var got []store.AuditEntry
	if err := export(context.Background(), func(e store.AuditEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if got = sc.recent(got); len(got) != 6 || got[0].Action != store.ActionAuditExported || got[0].Wording() != "Exported the audit log" {
		t.Fatalf("exported %v", actions(got))
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(got[0].Detail), &detail); err != nil || detail["from"] != "2020-01-01" ||
		detail["patient_id"] != float64(sc.maria.UserID) {
		t.Errorf("the export's row says %q (%v)", got[0].Detail, err)
	}
	if got[0].ActorName != "Alex Morgan" {
		t.Errorf("export by %q", got[0].ActorName)
	}
	// A refused export (a bad filter) writes nothing.
	before := count(t, sc.s, `SELECT count(*) FROM audit_log`)
	if _, err := sc.s.ExportAudit(ctx, sc.admin, origin, store.AuditSearch{Action: "nope"}); err == nil {
		t.Error("a bad filter exported")
	}
	if after := count(t, sc.s, `SELECT count(*) FROM audit_log`); after != before {
		t.Errorf("a refused export wrote %d rows", after-before)
	}
	checked, broken, err := sc.s.VerifyAudit(ctx)
	if err != nil || broken != nil || checked == 0 {
		t.Fatalf("chain after the export: %d checked, broken %+v, %v", checked, broken, err)
	}
	// The export's filters are in the hash: an edit of them breaks the chain.
	tx, err := sc.s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`,
		`UPDATE audit_log SET detail = '{}' WHERE action = 'audit_exported'`,
		`ALTER TABLE audit_log ENABLE TRIGGER USER`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	var recomputed, stored []byte
	if err := tx.QueryRowxContext(ctx, `SELECT sha256(prev_hash || audit_canonical(a)), entry_hash FROM audit_log a WHERE action = 'audit_exported'`).
		Scan(&recomputed, &stored); err != nil {
		t.Fatal(err)
	}
	if string(recomputed) == string(stored) {
		t.Error("an edited export's filters still match its hash")
	}
}
