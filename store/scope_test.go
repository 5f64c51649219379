package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// mariasThreads are the demo's ids of Maria Lopez's (a Riverside patient's) conversations and
// messages, one of each state an attacker might aim at.
type mariasThreads struct {
	openConv, archivedConv int64
	message                int64 // a message of the open conversation, with replies
	staffMessage           int64 // a staff reply in the open conversation
	cancellable            int64 // her last message, which nobody has acted on yet
	cancellableConv        int64
}

func marias(t *testing.T, f *fixture) mariasThreads {
	t.Helper()
	refill := conversationBySubject(t, f.s, f.maria, "Refill for my blood pressure medication")
	rash := conversationBySubject(t, f.s, f.maria, "Rash on my forearm")
	lab := conversationBySubject(t, f.s, f.maria, "Question about my lab results")
	if refill.Archived() || !rash.Archived() || lab.Messages[0].ActedOn {
		t.Fatal("demo data changed: refill should be open, rash archived, lab results not acted on")
	}
	return mariasThreads{openConv: refill.ID, archivedConv: rash.ID, message: refill.Messages[0].ID,
		staffMessage: refill.Messages[0].Replies[0].ID, cancellable: lab.Messages[0].ID, cancellableConv: lab.ID}
}

// TestNoAccessAcrossPatientsOrPractices: another patient, or staff of another practice, naming
// Maria's ids gets ErrNotFound from every method, exactly as for an id that does not exist, and
// nothing is written (not even an audit row that would tell the ids apart).
func TestNoAccessAcrossPatientsOrPractices(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	m := marias(t, f)
	ctx := t.Context()

	type op struct {
		name string
		call func(v store.Viewer) error
	}
	ops := []op{
		{"Conversation(open)", func(v store.Viewer) error { _, err := f.s.Conversation(ctx, v, m.openConv); return err }},
		{"Conversation(archived)", func(v store.Viewer) error { _, err := f.s.Conversation(ctx, v, m.archivedConv); return err }},
		{"Message", func(v store.Viewer) error { _, err := f.s.Message(ctx, v, m.message); return err }},
		{"MessageDetails", func(v store.Viewer) error { _, err := f.s.MessageDetails(ctx, v, origin, m.message); return err }},
		{"Message(staff's)", func(v store.Viewer) error { _, err := f.s.MessageDetails(ctx, v, origin, m.staffMessage); return err }},
		{"SendReply(patient's message)", func(v store.Viewer) error {
			_, err := f.s.SendReply(ctx, v, origin, store.NewReply{ParentID: m.message, Body: "intruding",
				BillingConsent: true, SubmitKey: uuid.NewString()})
			return err
		}},
		{"SendReply(staff's message)", func(v store.Viewer) error {
			_, err := f.s.SendReply(ctx, v, origin, store.NewReply{ParentID: m.staffMessage, Body: "intruding",
				BillingConsent: true, SubmitKey: uuid.NewString()})
			return err
		}},
		{"Archive", func(v store.Viewer) error { _, err := f.s.Archive(ctx, v, origin, m.openConv); return err }},
		{"Reopen", func(v store.Viewer) error { _, err := f.s.Reopen(ctx, v, origin, m.archivedConv); return err }},
		{"Cancel", func(v store.Viewer) error { _, err := f.s.Cancel(ctx, v, origin, m.cancellable); return err }},
		{"Cancel(staff's message)", func(v store.Viewer) error { _, err := f.s.Cancel(ctx, v, origin, m.staffMessage); return err }},
	}
	attackers := []struct {
		name string
		v    store.Viewer
	}{
		{"patient of the same practice", f.tom},
		{"patient of another practice", f.grace},
		{"staff of another practice", f.hPhysician},
		{"Riverside patient id claiming Hillcrest", store.Viewer{UserID: f.maria.UserID, PracticeID: f.hillcrest.ID, Role: store.RolePatient}},
	}
	before := dbState(t, f.s)
	for _, a := range attackers {
		for _, o := range ops {
			if err := o.call(a.v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: %s = %v, want ErrNotFound", a.name, o.name, err)
			}
		}
		// Their inboxes do not list her conversations either.
		list := inboxOf(t, f.s, a.v, store.InboxFilter{IncludeArchived: true})
		for _, c := range list {
			if c.PatientID == f.maria.UserID {
				t.Errorf("%s: inbox lists Maria's conversation %d", a.name, c.ID)
			}
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// Maria herself can do each of these (so ErrNotFound above was about scope, not bad ids).
	if _, err := f.s.Conversation(ctx, f.maria, m.openConv); err != nil {
		t.Errorf("Maria's own conversation: %v", err)
	}
	if _, err := f.s.MessageDetails(ctx, f.maria, origin, m.message); err != nil {
		t.Errorf("Maria's own message: %v", err)
	}
	if _, err := f.s.Cancel(ctx, f.maria, origin, m.cancellable); err != nil {
		t.Errorf("Maria cancels her own message: %v", err)
	}
}

// TestMissingIDsAreNotFound: 0, negative and unused ids answer ErrNotFound and write nothing.
func TestMissingIDsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	before := dbState(t, f.s)
	for _, v := range []store.Viewer{f.maria, f.physician} {
		for _, id := range []int64{0, -1, -9223372036854775808, 1 << 40} {
			checks := map[string]error{}
			_, checks["Conversation"] = f.s.Conversation(ctx, v, id)
			_, checks["Message"] = f.s.Message(ctx, v, id)
			_, checks["MessageDetails"] = f.s.MessageDetails(ctx, v, origin, id)
			_, checks["SendReply"] = f.s.SendReply(ctx, v, origin, store.NewReply{ParentID: id, Body: "hello",
				BillingConsent: true, SubmitKey: uuid.NewString()})
			_, checks["Archive"] = f.s.Archive(ctx, v, origin, id)
			_, checks["Reopen"] = f.s.Reopen(ctx, v, origin, id)
			_, checks["Cancel"] = f.s.Cancel(ctx, v, origin, id)
			for name, err := range checks {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("user %d: %s(%d) = %v, want ErrNotFound", v.UserID, name, id, err)
				}
			}
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// TestStaffSeeTheirPracticeOnly: the practice's staff see every patient's conversations of their
// practice, and none of another practice.
func TestStaffSeeTheirPracticeOnly(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	m := marias(t, f)

	for _, staff := range []store.Viewer{f.physician, f.nurse, f.desk} {
		c, err := f.s.Conversation(ctx, staff, m.openConv)
		if err != nil {
			t.Fatalf("staff %d: Maria's conversation: %v", staff.UserID, err)
		}
		if c.PatientID != f.maria.UserID || c.PatientName != "Maria Lopez" || c.PatientInitials != "ML" {
			t.Errorf("staff %d: conversation of %d %q %q", staff.UserID, c.PatientID, c.PatientName, c.PatientInitials)
		}
		msg, err := f.s.MessageDetails(ctx, staff, origin, m.message)
		if err != nil {
			t.Fatalf("staff %d: Maria's message: %v", staff.UserID, err)
		}
		if msg.Details == nil || msg.Details.Body == "" {
			t.Errorf("staff %d: no details", staff.UserID)
		}
	}

	assertInboxMatches := func(v store.Viewer, where string, args ...any) {
		t.Helper()
		list := inboxOf(t, f.s, v, store.InboxFilter{IncludeArchived: true})
		var want []int64
		if err := f.s.DB().SelectContext(ctx, &want, `SELECT id FROM conversations WHERE `+where+` ORDER BY id`, args...); err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(slices.Values(conversationIDs(list)))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("user %d: inbox %v, want %v", v.UserID, got, want)
		}
	}
	assertInboxMatches(f.physician, `practice_id = $1`, f.riverside.ID)
	assertInboxMatches(f.hNurse, `practice_id = $1`, f.hillcrest.ID)
	for _, p := range []store.Viewer{f.maria, f.tom, f.grace, f.david} {
		assertInboxMatches(p, `patient_id = $1`, p.UserID)
	}
}

// TestPatientCannotWriteAsAnotherPatient: the PatientID of the compose form is for staff; a
// patient always writes as themself, whatever the form says.
func TestPatientCannotWriteAsAnotherPatient(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Forged patient", PatientID: f.tom.UserID})
	var owner int64
	if err := f.s.DB().GetContext(t.Context(), &owner, `SELECT patient_id FROM conversations WHERE id = $1`, sent.ConversationID); err != nil {
		t.Fatal(err)
	}
	if owner != f.maria.UserID {
		t.Errorf("conversation belongs to %d, want Maria %d", owner, f.maria.UserID)
	}
	if _, err := f.s.Conversation(t.Context(), f.tom, sent.ConversationID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tom sees it: %v", err)
	}
}

// TestStaffStartOnlyWithTheirPatients: staff may write first to a patient of their practice, not
// to another practice's patient, nor to a staff member or nobody. The refusal is the form's
// "patient" field (the same answer as for an id that does not exist), and nothing is written.
func TestStaffStartOnlyWithTheirPatients(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := context.Background()

	sent := start(t, f.s, f.nurse, store.NewConversation{Subject: "Your results are in", PatientID: f.tom.UserID})
	c, err := f.s.Conversation(ctx, f.tom, sent.ConversationID)
	if err != nil {
		t.Fatalf("Tom reads the practice's message: %v", err)
	}
	if c.Messages[0].AuthorID != f.nurse.UserID || c.Messages[0].AuthorRole != store.RoleStaff {
		t.Errorf("first message by %d (%s), want the nurse", c.Messages[0].AuthorID, c.Messages[0].AuthorRole)
	}

	before := dbState(t, f.s)
	for name, patientID := range map[string]int64{
		"another practice's patient": f.grace.UserID,
		"a colleague":                f.physician.UserID,
		"another practice's staff":   f.hNurse.UserID,
		"nobody":                     0,
		"no such user":               1 << 40,
	} {
		_, err := f.s.StartConversation(ctx, f.nurse, origin, store.NewConversation{PatientID: patientID,
			Subject: "Hello", Body: "Hello", SubmitKey: uuid.NewString()})
		var invalid *store.ValidationError
		if !errors.As(err, &invalid) || len(invalid.Fields) != 1 || invalid.Fields["patient"] == "" {
			t.Errorf("%s: err = %v, want a ValidationError on the patient field alone", name, err)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}
