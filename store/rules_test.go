package store_test

import (
	"testing"

	"securemessages/store"
)

// TestAllowed is the design's rule table, row by row, for a patient and a staff viewer.
//
//	Show Details  always
//	Follow-Up     your own side's message, thread open
//	Reply         the other side's message, thread open
//	Archive       thread open
//	Re-Open       thread archived
//	Cancel        a message you wrote yourself that nobody has acted on, thread open
//
// A thread can be archived while its message is not acted on only when the message was sent with
// "no response needed" (archived as it was sent): the design names archive among the actions that
// end Cancel, and an archive as the message is sent is no exception, so its author may not cancel
// it.
func TestAllowed(t *testing.T) {
	t.Parallel()
	const patientID, staffID, colleagueID = 101, 201, 202
	patient := store.Viewer{UserID: patientID, PracticeID: 1, Role: store.RolePatient}
	staff := store.Viewer{UserID: staffID, PracticeID: 1, Role: store.RoleStaff}

	type author struct {
		id   int64
		role store.Role
	}
	byPatient := author{patientID, store.RolePatient}
	byStaff := author{staffID, store.RoleStaff}
	byColleague := author{colleagueID, store.RoleStaff}

	const open, archived = false, true
	const fresh, actedOn = false, true
	type A = store.Actions

	cases := []struct {
		name     string
		viewer   store.Viewer
		author   author
		archived bool
		actedOn  bool
		want     A
	}{
		// A patient and their own message.
		{"patient/own/open/fresh", patient, byPatient, open, fresh,
			A{ShowDetails: true, FollowUp: true, Archive: true, Cancel: true}},
		{"patient/own/open/acted on", patient, byPatient, open, actedOn,
			A{ShowDetails: true, FollowUp: true, Archive: true}},
		{"patient/own/archived/fresh (no response needed)", patient, byPatient, archived, fresh,
			A{ShowDetails: true, Reopen: true}},
		{"patient/own/archived/acted on", patient, byPatient, archived, actedOn,
			A{ShowDetails: true, Reopen: true}},
		// A patient and the practice's message.
		{"patient/staff's/open/fresh", patient, byStaff, open, fresh,
			A{ShowDetails: true, Reply: true, Archive: true}},
		{"patient/staff's/open/acted on", patient, byStaff, open, actedOn,
			A{ShowDetails: true, Reply: true, Archive: true}},
		{"patient/staff's/archived/fresh", patient, byStaff, archived, fresh,
			A{ShowDetails: true, Reopen: true}},
		{"patient/staff's/archived/acted on", patient, byStaff, archived, actedOn,
			A{ShowDetails: true, Reopen: true}},

		// A staff member and their own message.
		{"staff/own/open/fresh", staff, byStaff, open, fresh,
			A{ShowDetails: true, FollowUp: true, Archive: true, Cancel: true}},
		{"staff/own/open/acted on", staff, byStaff, open, actedOn,
			A{ShowDetails: true, FollowUp: true, Archive: true}},
		{"staff/own/archived/fresh (no response needed)", staff, byStaff, archived, fresh,
			A{ShowDetails: true, Reopen: true}},
		{"staff/own/archived/acted on", staff, byStaff, archived, actedOn,
			A{ShowDetails: true, Reopen: true}},
		// A colleague's message is on the practice's side: follow it up, never cancel it.
		{"staff/colleague's/open/fresh", staff, byColleague, open, fresh,
			A{ShowDetails: true, FollowUp: true, Archive: true}},
		{"staff/colleague's/open/acted on", staff, byColleague, open, actedOn,
			A{ShowDetails: true, FollowUp: true, Archive: true}},
		{"staff/colleague's/archived/fresh", staff, byColleague, archived, fresh,
			A{ShowDetails: true, Reopen: true}},
		{"staff/colleague's/archived/acted on", staff, byColleague, archived, actedOn,
			A{ShowDetails: true, Reopen: true}},
		// A staff member and the patient's message.
		{"staff/patient's/open/fresh", staff, byPatient, open, fresh,
			A{ShowDetails: true, Reply: true, Archive: true}},
		{"staff/patient's/open/acted on", staff, byPatient, open, actedOn,
			A{ShowDetails: true, Reply: true, Archive: true}},
		{"staff/patient's/archived/fresh", staff, byPatient, archived, fresh,
			A{ShowDetails: true, Reopen: true}},
		{"staff/patient's/archived/acted on", staff, byPatient, archived, actedOn,
			A{ShowDetails: true, Reopen: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			facts := store.MessageFacts{AuthorID: tc.author.id, AuthorRole: tc.author.role,
				ActedOn: tc.actedOn, ThreadArchived: tc.archived}
			if got := store.Allowed(tc.viewer, facts); got != tc.want {
				t.Errorf("Allowed(%+v, %+v)\n got %+v\nwant %+v", tc.viewer, facts, got, tc.want)
			}
		})
	}
}

// TestActionsAny: Show Details alone changes nothing; every other action does.
func TestActionsAny(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		a    store.Actions
		want bool
	}{
		{"nothing", store.Actions{}, false},
		{"show details only", store.Actions{ShowDetails: true}, false},
		{"follow-up", store.Actions{FollowUp: true}, true},
		{"reply", store.Actions{Reply: true}, true},
		{"archive", store.Actions{Archive: true}, true},
		{"re-open", store.Actions{Reopen: true}, true},
		{"cancel", store.Actions{Cancel: true}, true},
	}
	for _, tc := range cases {
		if got := tc.a.Any(); got != tc.want {
			t.Errorf("%s: Any() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMessageFacts: a loaded message hands Allowed exactly the facts it was loaded with.
func TestMessageFacts(t *testing.T) {
	t.Parallel()
	m := &store.Message{AuthorID: 7, AuthorRole: store.RoleStaff, ActedOn: true, ThreadArchived: true}
	want := store.MessageFacts{AuthorID: 7, AuthorRole: store.RoleStaff, ActedOn: true, ThreadArchived: true}
	if got := m.Facts(); got != want {
		t.Errorf("Facts() = %+v, want %+v", got, want)
	}
}

// Mark as Unread and what is new belong to the side a message is addressed to: a patient's
// message is the staff's (every one of them), the practice's is the patient's.
func TestReadStateRules(t *testing.T) {
	t.Parallel()
	patient := store.Viewer{UserID: 101, PracticeID: 1, Role: store.RolePatient}
	staff := store.Viewer{UserID: 201, PracticeID: 1, Role: store.RoleStaff}
	byPatient := store.MessageFacts{AuthorID: 101, AuthorRole: store.RolePatient}
	byColleague := store.MessageFacts{AuthorID: 202, AuthorRole: store.RoleStaff}
	opened := func(m store.MessageFacts, archived bool) store.MessageFacts {
		m.Opened, m.ThreadArchived = true, archived
		return m
	}
	for _, tc := range []struct {
		name                          string
		v                             store.Viewer
		m                             store.MessageFacts
		addressed, unread, markUnread bool
	}{
		{"staff/patient's/new", staff, byPatient, true, true, false},
		{"staff/patient's/opened", staff, opened(byPatient, false), true, false, true},
		{"staff/patient's/opened/archived", staff, opened(byPatient, true), true, false, true},
		{"staff/colleague's/new", staff, byColleague, false, false, false},
		{"staff/colleague's/opened", staff, opened(byColleague, false), false, false, false},
		{"patient/own/opened by staff", patient, opened(byPatient, false), false, false, false},
		{"patient/practice's/new", patient, byColleague, true, true, false},
		{"patient/practice's/opened", patient, opened(byColleague, false), true, false, true},
	} {
		if got := store.Addressed(tc.v, tc.m); got != tc.addressed {
			t.Errorf("%s: Addressed %v, want %v", tc.name, got, tc.addressed)
		}
		if got := store.Unread(tc.v, tc.m); got != tc.unread {
			t.Errorf("%s: Unread %v, want %v", tc.name, got, tc.unread)
		}
		if got := store.Allowed(tc.v, tc.m).MarkUnread; got != tc.markUnread {
			t.Errorf("%s: MarkUnread %v, want %v", tc.name, got, tc.markUnread)
		}
	}
}
