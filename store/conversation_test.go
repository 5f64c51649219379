package store_test

import (
	"errors"
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
	list, err := f.s.Inbox(t.Context(), f.maria, store.InboxFilter{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
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
	ctx := t.Context()
	for _, v := range []store.Viewer{f.maria, f.nurse} {
		open, err := f.s.Inbox(ctx, v, store.InboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		all, err := f.s.Inbox(ctx, v, store.InboxFilter{IncludeArchived: true})
		if err != nil {
			t.Fatal(err)
		}
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

// TestMessageDetails: Show Details reveals the body and special instructions, and each read is
// audited (without text).
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
		if after.events != before.events || after.audit != before.audit+1 {
			t.Errorf("a read wrote %d events and %d audit rows, want 0 and 1",
				after.events-before.events, after.audit-before.audit)
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
