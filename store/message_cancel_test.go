package store_test

import (
	"errors"
	"testing"

	"securemessages/store"
)

// TestCancelFirstMessageRemovesConversation: an un-acted first message is deleted for both sides,
// and the conversation goes with it.
func TestCancelFirstMessageRemovesConversation(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Sent by mistake"})

	before := rowCounts(t, f.s)
	res, err := f.s.Cancel(ctx, f.maria, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if res.ConversationID != sent.ConversationID || !res.ConversationGone {
		t.Errorf("Cancelled %+v", res)
	}
	checkChange(t, f.s, before, res.Event, store.Event{Kind: store.EventMessageCancelled, PracticeID: f.riverside.ID,
		PatientID: f.maria.UserID, ConversationID: sent.ConversationID, MessageID: sent.MessageID}, f.maria, "message_cancelled")

	for _, v := range []store.Viewer{f.maria, f.nurse} {
		if _, err := f.s.Conversation(ctx, v, sent.ConversationID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("user %d: Conversation = %v, want ErrNotFound", v.UserID, err)
		}
		if _, err := f.s.MessageDetails(ctx, v, origin, sent.MessageID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("user %d: MessageDetails = %v, want ErrNotFound", v.UserID, err)
		}
	}
	if n := count(t, f.s, `SELECT count(*) FROM conversations WHERE id = $1`, sent.ConversationID) +
		count(t, f.s, `SELECT count(*) FROM messages WHERE id = $1`, sent.MessageID); n != 0 {
		t.Errorf("%d rows left behind", n)
	}
	// Cancelling again finds nothing.
	if _, err := f.s.Cancel(ctx, f.maria, origin, sent.MessageID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second cancel: %v", err)
	}
}

// TestCancelLaterMessageKeepsThread: cancelling a follow-up or a staff reply removes only it.
func TestCancelLaterMessageKeepsThread(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Thread stays"})
	followUp := reply(t, f.s, f.maria, first.MessageID, "Forgot to say")
	staffReply := reply(t, f.s, f.nurse, first.MessageID, "Reply sent too soon")

	for _, tc := range []struct {
		v  store.Viewer
		id int64
	}{{f.maria, followUp.MessageID}, {f.nurse, staffReply.MessageID}} {
		before := rowCounts(t, f.s)
		res, err := f.s.Cancel(ctx, tc.v, origin, tc.id)
		if err != nil {
			t.Fatalf("cancel %d: %v", tc.id, err)
		}
		if res.ConversationGone || res.ConversationID != first.ConversationID {
			t.Errorf("Cancelled %+v", res)
		}
		checkChange(t, f.s, before, res.Event, store.Event{Kind: store.EventMessageCancelled, PracticeID: f.riverside.ID,
			PatientID: f.maria.UserID, ConversationID: first.ConversationID, MessageID: tc.id}, tc.v, "message_cancelled")
	}
	c, err := f.s.Conversation(ctx, f.maria, first.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	walk(c.Messages, func(m *store.Message, _ int) { ids = append(ids, m.ID) })
	if len(ids) != 1 || ids[0] != first.MessageID {
		t.Errorf("messages left %v, want only %d", ids, first.MessageID)
	}
}

// TestCancelRefused: a cancel that does not apply changes nothing but its audit row, which says
// it came too late.
func TestCancelRefused(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Refusals"})
	staffReply := reply(t, f.s, f.nurse, first.MessageID, "Answered")
	staffOnly := start(t, f.s, f.nurse, store.NewConversation{Subject: "From the practice", PatientID: f.maria.UserID})
	noResponse := start(t, f.s, f.grace, store.NewConversation{Subject: "FYI", NoResponseNeeded: true})

	cases := []struct {
		name string
		v    store.Viewer
		id   int64
	}{
		{"own message after a reply", f.maria, first.MessageID},
		{"the practice's message, as the patient", f.maria, staffReply.MessageID},
		{"the practice's un-acted message, as the patient", f.maria, staffOnly.MessageID},
		{"a colleague's message", f.physician, staffReply.MessageID},
		{"a colleague's un-acted message", f.desk, staffOnly.MessageID},
		{"the patient's message, as staff", f.nurse, first.MessageID},
		{"own message sent with no response needed", f.grace, noResponse.MessageID},
	}
	for _, tc := range cases {
		before := dbState(t, f.s)
		auditBefore := count(t, f.s, `SELECT count(*) FROM audit_log`)
		_, err := f.s.Cancel(ctx, tc.v, origin, tc.id)
		if !errors.Is(err, store.ErrNoLongerApplies) {
			t.Errorf("%s: err = %v, want ErrNoLongerApplies", tc.name, err)
			continue
		}
		after := dbState(t, f.s)
		delete(before, "audit_log")
		delete(after, "audit_log")
		assertUnchanged(t, before, after)
		if n := count(t, f.s, `SELECT count(*) FROM audit_log`); n != auditBefore+1 {
			t.Errorf("%s: %d audit rows written, want 1", tc.name, n-auditBefore)
		}
		a := lastAudit(t, f.s)
		if a.ActorID != tc.v.UserID || a.Action != "message_cancelled" || a.ObjectID != tc.id || a.Outcome != "too_late" {
			t.Errorf("%s: audit %+v", tc.name, a)
		}
	}
	// The reply survives every attempt.
	if _, err := f.s.MessageDetails(ctx, f.maria, origin, staffReply.MessageID); err != nil {
		t.Errorf("reply gone: %v", err)
	}
}

// TestCancelNoResponseNeeded: a message sent with "no response needed" is archived as it is sent;
// that archive ends Cancel like any other, so its author may re-open the thread but not cancel the
// message, and a cancel leaves it and its conversation in place.
func TestCancelNoResponseNeeded(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	sent := start(t, f.s, f.grace, store.NewConversation{Subject: "FYI", NoResponseNeeded: true})
	m, err := f.s.Message(ctx, f.grace, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if a := store.Allowed(f.grace, m.Facts()); a.Cancel || !a.Reopen || a.Archive || a.FollowUp {
		t.Errorf("Allowed = %+v", a)
	}
	if _, err := f.s.Cancel(ctx, f.grace, origin, sent.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Fatalf("Cancel: %v, want ErrNoLongerApplies", err)
	}
	c, err := f.s.Conversation(ctx, f.grace, sent.ConversationID)
	if err != nil {
		t.Fatalf("Conversation: %v", err)
	}
	if !c.Archived() || len(c.Messages) != 1 || c.Messages[0].ID != sent.MessageID {
		t.Errorf("conversation after a refused cancel: archived %v, %d messages", c.Archived(), len(c.Messages))
	}
}
