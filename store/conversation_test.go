package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"securemessages/store"
)

// TestInboxTree: the demo's deep thread comes back as a tree (each reply under the message it
// answers), with authors, roles and the acted-on flag, newest activity first.
func TestInboxTree(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	list := inboxOf(t, f.s, f.maria, store.InboxFilter{IncludeArchived: true})
	type line struct {
		depth    int
		initials string
		subject  string
		actedOn  bool
	}
	got := map[string][]line{}
	var order []string
	for _, c := range list {
		first := c.Messages[0].Subject
		order = append(order, first)
		if len(c.Messages) != 1 {
			t.Errorf("%q: %d top-level messages, want 1", first, len(c.Messages))
		}
		walk(c.Messages, func(m *store.Message, depth int) {
			got[first] = append(got[first], line{depth, m.AuthorInitials, m.Subject, m.ActedOn})
			if m.ConversationID != c.ID || m.ThreadArchived != c.Archived() {
				t.Errorf("message %d: conversation %d archived %v, in conversation %d archived %v",
					m.ID, m.ConversationID, m.ThreadArchived, c.ID, c.Archived())
			}
			if m.Details != nil {
				t.Errorf("message %d: the inbox loaded details", m.ID)
			}
		})
	}
	if !slices.IsSortedFunc(list, func(a, b *store.Conversation) int { return b.LastActivityAt.Compare(a.LastActivityAt) }) {
		t.Error("inbox is not newest activity first")
	}
	wantOrder := []string{"Question about my lab results", "Your annual check-up is due",
		"Refill for my blood pressure medication", "Rash on my forearm"}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("order %q, want %q", order, wantOrder)
	}
	const refill, re = "Refill for my blood pressure medication", "Re: Refill for my blood pressure medication"
	wantRefill := []line{
		{0, "ML", refill, true},
		{1, "AC", re, true},
		{2, "ML", re, true},
		{3, "JP", re, true},
		{4, "JP", re, false},
	}
	if !slices.Equal(got[refill], wantRefill) {
		t.Errorf("refill thread\n got %v\nwant %v", got[refill], wantRefill)
	}
	wantRash := []line{{0, "ML", "Rash on my forearm", true}, {1, "JP", "Re: Rash on my forearm", true}}
	if !slices.Equal(got["Rash on my forearm"], wantRash) {
		t.Errorf("rash thread\n got %v\nwant %v", got["Rash on my forearm"], wantRash)
	}
}

// TestInboxHidesArchived: by default only open threads; "Show All Conversations" adds archived.
func TestInboxHidesArchived(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	for _, v := range []store.Viewer{f.maria, f.nurse} {
		open := inboxOf(t, f.s, v, store.InboxFilter{})
		all := inboxOf(t, f.s, v, store.InboxFilter{IncludeArchived: true})
		var archived int
		for _, c := range all {
			if c.Archived() {
				archived++
			}
		}
		for _, c := range open {
			if c.Archived() {
				t.Errorf("user %d: archived conversation %d in the open list", v.UserID, c.ID)
			}
		}
		if archived == 0 || len(open) != len(all)-archived {
			t.Errorf("user %d: %d open, %d in all with %d archived", v.UserID, len(open), len(all), archived)
		}
	}
}

// TestQueueShowsWhatThePatientAsked: each conversation of the staff's list carries what its
// first message asked for (response method, billing consent, staff member), from the first row
// of the conversation alone; the conversation's own columns come the same way. A patient's list
// leaves what was asked out.
func TestQueueShowsWhatThePatientAsked(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	const rash = "Rash on my forearm"
	staffSide := conversationBySubject(t, f.s, f.nurse, rash)
	want := store.Instructions{ResponseMethod: "phone", BillingConsent: true, FeeCents: 2500}
	if staffSide.Instructions != want || staffSide.RequestedStaffName != "Jordan Patel, RN" {
		t.Errorf("staff's list: instructions %+v, requested %q; want %+v, %q",
			staffSide.Instructions, staffSide.RequestedStaffName, want, "Jordan Patel, RN")
	}
	if staffSide.PatientID != f.maria.UserID || staffSide.PatientName != "Maria Lopez" || staffSide.PatientInitials != "ML" ||
		!staffSide.Archived() || staffSide.LastActivityAt.IsZero() {
		t.Errorf("staff's list: conversation %+v", staffSide)
	}
	if len(staffSide.Messages) != 1 || len(staffSide.Messages[0].Replies) == 0 {
		t.Fatalf("staff's list: %d first messages, want 1 with replies", len(staffSide.Messages))
	}
	patientSide := conversationBySubject(t, f.s, f.maria, rash)
	if patientSide.Instructions != (store.Instructions{}) || patientSide.RequestedStaffName != "" {
		t.Errorf("patient's list: instructions %+v, requested %q; it does not show them",
			patientSide.Instructions, patientSide.RequestedStaffName)
	}
	if patientSide.PatientID != f.maria.UserID || patientSide.LastActivityAt != staffSide.LastActivityAt ||
		patientSide.Archived() != staffSide.Archived() {
		t.Errorf("patient's list: conversation %+v, staff's %+v", patientSide, staffSide)
	}
}

// TestMessageDetails: Show Details reveals the body and special instructions, and each read is
// audited (without text). The first read by the side the message is addressed to (here the
// nurse, of the patient's message) also opens it, which live pages hear of: one event.
func TestMessageDetails(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	rash := conversationBySubject(t, f.s, f.maria, "Rash on my forearm")
	id := rash.Messages[0].ID

	for _, v := range []store.Viewer{f.maria, f.nurse} {
		// Message alone loads the subject line, not the text, and is not audited as a read.
		before := rowCounts(t, f.s)
		plain, err := f.s.Message(ctx, v, id)
		if err != nil {
			t.Fatal(err)
		}
		if plain.Details != nil || plain.Subject != "Rash on my forearm" || plain.ID != id {
			t.Errorf("Message = %+v", plain)
		}
		if after := rowCounts(t, f.s); after != before {
			t.Errorf("Message wrote %+v -> %+v", before, after)
		}

		m, err := f.s.MessageDetails(ctx, v, origin, id)
		if err != nil {
			t.Fatal(err)
		}
		d := m.Details
		if d == nil {
			t.Fatal("no details")
		}
		if d.Body != "A red, itchy rash appeared on my left forearm three days ago. No fever. Should I come in?" {
			t.Errorf("body %q", d.Body)
		}
		want := store.Instructions{ResponseMethod: "phone", BillingConsent: true, FeeCents: 2500}
		if d.Instructions != want {
			t.Errorf("instructions %+v, want %+v", d.Instructions, want)
		}
		if d.Instructions.ResponseMethodLabel() != "Phone call" || d.RequestedStaffName != "Jordan Patel, RN" {
			t.Errorf("method %q, staff %q", d.Instructions.ResponseMethodLabel(), d.RequestedStaffName)
		}
		if m.Subject != "Rash on my forearm" || m.AuthorName != "Maria Lopez" || !m.ThreadArchived || !m.ActedOn {
			t.Errorf("message %+v", m)
		}
		after := rowCounts(t, f.s)
		events := 0
		if store.Addressed(v, m.Facts()) {
			events = 1
		}
		if after.events != before.events+events || after.audit != before.audit+1 {
			t.Errorf("a read wrote %d events and %d audit rows, want %d and 1",
				after.events-before.events, after.audit-before.audit, events)
		}
		a := lastAudit(t, f.s)
		if a.ActorID != v.UserID || a.Action != "message_read" || a.ObjectType != "message" || a.ObjectID != id ||
			a.Outcome != "success" || a.RequestID != origin.RequestID || a.ClientIP != origin.ClientIP {
			t.Errorf("audit row %+v", a)
		}
	}
}

// TestConversationTimes: a conversation reports when it was archived.
func TestConversationTimes(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	sent := start(t, f.s, f.grace, store.NewConversation{Subject: "Vaccination schedule"})
	c, err := f.s.Conversation(ctx, f.grace, sent.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Archived() || c.ArchivedAt != nil {
		t.Fatal("new conversation is archived")
	}
	if since := time.Since(c.LastActivityAt); since < -time.Minute || since > time.Minute {
		t.Errorf("last activity %v ago", since)
	}
	if _, err := f.s.Archive(ctx, f.grace, origin, c.ID); err != nil {
		t.Fatal(err)
	}
	c, err = f.s.Conversation(ctx, f.grace, sent.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Archived() || c.ArchivedAt.Before(c.LastActivityAt) {
		t.Errorf("archived at %v, last activity %v", c.ArchivedAt, c.LastActivityAt)
	}
	if _, err := f.s.Conversation(ctx, f.david, sent.ConversationID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another patient: %v", err)
	}
}

// TestInboxAssignment: the staff queue's filters, on who the patient asked to answer.
func TestInboxAssignment(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	start(t, f.s, f.tom, store.NewConversation{Subject: "For the nurse", RequestedStaffID: f.nurse.UserID})
	start(t, f.s, f.tom, store.NewConversation{Subject: "For anyone"})

	cases := []struct {
		name       string
		v          store.Viewer
		assignment string
		where      string
		args       []any
	}{
		{"nurse, all", f.nurse, "", `c.practice_id = $1`, []any{f.riverside.ID}},
		{"nurse, mine", f.nurse, store.AssignedToMe, `c.practice_id = $1 AND r.requested_staff_id = $2`, []any{f.riverside.ID, f.nurse.UserID}},
		{"physician, mine", f.physician, store.AssignedToMe, `c.practice_id = $1 AND r.requested_staff_id = $2`, []any{f.riverside.ID, f.physician.UserID}},
		{"desk, mine (nobody asked for the desk)", f.desk, store.AssignedToMe, `c.practice_id = $1 AND r.requested_staff_id = $2`, []any{f.riverside.ID, f.desk.UserID}},
		{"nurse, unassigned", f.nurse, store.Unassigned, `c.practice_id = $1 AND r.requested_staff_id IS NULL`, []any{f.riverside.ID}},
		{"Hillcrest nurse, unassigned", f.hNurse, store.Unassigned, `c.practice_id = $1 AND r.requested_staff_id IS NULL`, []any{f.hillcrest.ID}},
	}
	for _, tc := range cases {
		var want []int64
		if err := f.s.DB().SelectContext(ctx, &want, `
			SELECT c.id FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
			WHERE `+tc.where+` ORDER BY c.id`, tc.args...); err != nil {
			t.Fatal(err)
		}
		list := inboxOf(t, f.s, tc.v, store.InboxFilter{IncludeArchived: true, Assignment: tc.assignment})
		got := slices.Sorted(slices.Values(conversationIDs(list)))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", tc.name, got, want)
		}
		if (tc.name == "nurse, mine" || tc.name == "nurse, unassigned") && len(want) < 2 {
			t.Errorf("%s: the case tests too little (%v)", tc.name, want)
		}
	}
}

// TestConversationShowsFirstMessageInstructions: the queue shows the first message's special
// instructions at a glance, never a later message's.
func TestConversationShowsFirstMessageInstructions(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Call me", ResponseMethod: "phone",
		RequestedStaffID: f.physician.UserID})
	reply(t, f.s, f.nurse, first.MessageID, "Will do")
	fromStaff := start(t, f.s, f.desk, store.NewConversation{Subject: "From the desk", PatientID: f.maria.UserID})
	reply(t, f.s, f.maria, fromStaff.MessageID, "Thanks") // carries consent and fee

	for _, v := range []store.Viewer{f.maria, f.nurse} {
		c, err := f.s.Conversation(ctx, v, first.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Instructions{ResponseMethod: "phone", BillingConsent: true, FeeCents: 2500}
		if c.Instructions != want || c.RequestedStaffName != "Dr. Amelia Chen" {
			t.Errorf("user %d: %+v, %q", v.UserID, c.Instructions, c.RequestedStaffName)
		}
		c, err = f.s.Conversation(ctx, v, fromStaff.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Instructions != (store.Instructions{}) || c.RequestedStaffName != "" {
			t.Errorf("user %d: staff-started conversation shows %+v, %q", v.UserID, c.Instructions, c.RequestedStaffName)
		}
	}
}

// TestAwaitingPractice: a conversation waits for the practice while it is open and the patient
// has the last word; AwaitingCount (SQL) agrees with AwaitingPractice (Go) on every conversation.
func TestAwaitingPractice(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	asked := start(t, f.s, f.david, store.NewConversation{Subject: "Asked"})
	answered := start(t, f.s, f.david, store.NewConversation{Subject: "Answered"})
	reply(t, f.s, f.hNurse, answered.MessageID, "Answer")
	again := start(t, f.s, f.david, store.NewConversation{Subject: "Asked again"})
	againAnswer := reply(t, f.s, f.hNurse, again.MessageID, "Answer")
	reply(t, f.s, f.david, againAnswer.MessageID, "One more question")
	closed := start(t, f.s, f.david, store.NewConversation{Subject: "Closed", NoResponseNeeded: true})
	followedUp := start(t, f.s, f.hDesk, store.NewConversation{Subject: "From the desk", PatientID: f.david.UserID})
	reply(t, f.s, f.hDesk, followedUp.MessageID, "Reminder")
	// The practice's answer is cancelled: the patient has the last word again.
	withdrawn := start(t, f.s, f.david, store.NewConversation{Subject: "Answer withdrawn"})
	withdrawnAnswer := reply(t, f.s, f.hNurse, withdrawn.MessageID, "Answer")
	if _, err := f.s.Cancel(ctx, f.hNurse, store.Origin{}, withdrawnAnswer.MessageID); err != nil {
		t.Fatal(err)
	}
	// Asked, then archived: nothing is owed.
	shelved := start(t, f.s, f.david, store.NewConversation{Subject: "Shelved"})
	if _, err := f.s.Archive(ctx, f.david, store.Origin{}, shelved.ConversationID); err != nil {
		t.Fatal(err)
	}

	want := map[int64]bool{asked.ConversationID: true, answered.ConversationID: false, again.ConversationID: true,
		closed.ConversationID: false, followedUp.ConversationID: false, withdrawn.ConversationID: true,
		shelved.ConversationID: false}
	for id, awaiting := range want {
		c, err := f.s.Conversation(ctx, f.hNurse, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.AwaitingPractice() != awaiting {
			t.Errorf("%q: AwaitingPractice = %v, want %v", c.Messages[0].Subject, !awaiting, awaiting)
		}
	}

	for _, v := range []store.Viewer{f.hNurse, f.david, f.grace, f.physician, f.maria} {
		list := inboxOf(t, f.s, v, store.InboxFilter{IncludeArchived: true})
		var fromGo int
		for _, c := range list {
			if c.AwaitingPractice() {
				fromGo++
			}
		}
		asOf, _, err := f.s.EventHorizon(ctx, v.PracticeID)
		if err != nil {
			t.Fatal(err)
		}
		n, err := f.s.AwaitingCount(ctx, v, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if n != fromGo {
			t.Errorf("user %d: AwaitingCount = %d, AwaitingPractice counts %d", v.UserID, n, fromGo)
		}
		if v == f.david && n < 2 {
			t.Errorf("David: %d awaiting, want at least 2", n)
		}
	}
}

// TestInboxPages: a long inbox comes in pages of PageSize conversations, newest first, every
// conversation on exactly one page, each with its whole tree however many messages it has; the
// open conversations alone, and all of them.
func TestInboxPages(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	for i := range 2*store.PageSize + 7 {
		sent := start(t, f.s, f.grace, store.NewConversation{Subject: fmt.Sprintf("Question %d", i)})
		if i%20 == 0 {
			r := reply(t, f.s, f.hNurse, sent.MessageID, "Answer")
			reply(t, f.s, f.grace, r.MessageID, "Thanks")
		}
		if i%9 == 4 {
			if _, err := f.s.Archive(ctx, f.grace, origin, sent.ConversationID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		v   store.Viewer
		all bool
	}{{f.grace, true}, {f.hNurse, true}, {f.grace, false}, {f.hNurse, false}} {
		v := tc.v
		var patient int64 // 0: the whole practice
		if v.Role == store.RolePatient {
			patient = v.UserID
		}
		var want []int64
		if err := f.s.DB().SelectContext(ctx, &want, `
			SELECT id FROM conversations WHERE practice_id = $1 AND ($2 = 0 OR patient_id = $2)
			  AND ($3 OR archived_at IS NULL)
			ORDER BY last_activity_at DESC, id DESC`, v.PracticeID, patient, tc.all); err != nil {
			t.Fatal(err)
		}
		if len(want) <= 2*store.PageSize {
			t.Fatalf("%d conversations make fewer than three pages", len(want))
		}
		var got []int64
		pages := (len(want) + store.PageSize - 1) / store.PageSize
		for n := 1; n <= pages+1; n++ {
			page, err := f.s.InboxPage(ctx, v, store.InboxFilter{IncludeArchived: tc.all, Page: n})
			if err != nil {
				t.Fatal(err)
			}
			wantLen := min(store.PageSize, max(0, len(want)-(n-1)*store.PageSize))
			if page.Page != n || len(page.Conversations) != wantLen || page.More != (n < pages) {
				t.Errorf("user %d page %d: page %d, %d conversations, more %v; want %d, %v",
					v.UserID, n, page.Page, len(page.Conversations), page.More, wantLen, n < pages)
			}
			for _, c := range page.Conversations {
				got = append(got, c.ID)
				var msgs int
				walk(c.Messages, func(*store.Message, int) { msgs++ })
				if n := count(t, f.s, `SELECT count(*) FROM messages WHERE conversation_id = $1`, c.ID); msgs != n {
					t.Errorf("conversation %d: %d messages on the page, %d in the table", c.ID, msgs, n)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("user %d: pages hold %d conversations %v,\nwant %d %v", v.UserID, len(got), got, len(want), want)
		}
		// Page 0 and negative pages are the first page.
		first, err := f.s.InboxPage(ctx, v, store.InboxFilter{IncludeArchived: tc.all})
		if err != nil {
			t.Fatal(err)
		}
		neg, err := f.s.InboxPage(ctx, v, store.InboxFilter{IncludeArchived: tc.all, Page: -3})
		if err != nil {
			t.Fatal(err)
		}
		if first.Page != 1 || neg.Page != 1 || !slices.Equal(conversationIDs(first.Conversations), want[:store.PageSize]) ||
			!slices.Equal(conversationIDs(neg.Conversations), want[:store.PageSize]) {
			t.Errorf("user %d: page 0 or -3 is not the first page", v.UserID)
		}
	}
}
