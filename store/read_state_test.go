package store_test

import (
	"errors"
	"testing"

	"securemessages/store"
)

// readState is what a fresh list shows of message id to viewer v.
func readState(t *testing.T, f *fixture, v store.Viewer, convID, id int64) *store.Message {
	t.Helper()
	c, err := f.s.Conversation(t.Context(), v, convID)
	if err != nil {
		t.Fatal(err)
	}
	m := findMessage(c, id)
	if m == nil {
		t.Fatalf("message %d is not in conversation %d", id, convID)
	}
	return m
}

func newCount(t *testing.T, f *fixture, v store.Viewer) int {
	t.Helper()
	n, err := f.s.NewCount(t.Context(), v, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A patient's message is new to every staff member until one of them opens it; the patient's
// own look opens nothing. The first read of each person is recorded once, with the audit row,
// and only a read that changes what is shown writes an event.
func TestOpenMessageRecordsFirstReadOnce(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	f.s.KeepConversations(0) // NewCount asked as of no event would be kept
	staffBefore := newCount(t, f, f.nurse)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Knee still swollen"})
	if got := newCount(t, f, f.physician); got != staffBefore+1 {
		t.Errorf("staff new count %d, want %d", got, staffBefore+1)
	}
	if m := readState(t, f, f.nurse, sent.ConversationID, sent.MessageID); !store.Unread(f.nurse, m.Facts()) || len(m.Reads) != 0 {
		t.Fatalf("a patient's message just sent: opened %v, reads %v", m.Opened, m.Reads)
	}

	// The author's own look: a receipt of hers, nothing opened, no event.
	before := lastEvent(t, f.s)
	res, err := f.s.OpenMessage(ctx, f.maria, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Event.ID != 0 || lastEvent(t, f.s).ID != before.ID {
		t.Errorf("the author's own read wrote event %+v", res.Event)
	}
	if m := readState(t, f, f.nurse, sent.ConversationID, sent.MessageID); m.Opened || len(m.Reads) != 0 {
		t.Errorf("after the author's read: opened %v, reads %v", m.Opened, m.Reads)
	}

	// The nurse opens it: opened for all of staff, her read named, one event for the practice.
	res, err = f.s.OpenMessage(ctx, f.nurse, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Event.Kind != store.EventMessageRead || res.Event.MessageID != sent.MessageID || res.Event.PatientID != f.maria.UserID {
		t.Errorf("the nurse's read wrote event %+v", res.Event)
	}
	if a := lastAudit(t, f.s); a.Action != "message_read" || a.ActorID != f.nurse.UserID || a.ObjectID != sent.MessageID {
		t.Errorf("audit %+v", a)
	}
	for _, v := range []store.Viewer{f.nurse, f.physician, f.maria} {
		m := readState(t, f, v, sent.ConversationID, sent.MessageID)
		if !m.Opened || store.Unread(v, m.Facts()) || len(m.Reads) != 1 || m.Reads[0].ReaderID != f.nurse.UserID ||
			m.Reads[0].ReaderName != "Jordan Patel, RN" {
			t.Errorf("user %d sees opened %v, reads %+v", v.UserID, m.Opened, m.Reads)
		}
	}
	if got := newCount(t, f, f.physician); got != staffBefore {
		t.Errorf("staff new count %d after the nurse's read, want %d", got, staffBefore)
	}

	// Again: nothing new, no event, still one receipt; the audit log has every read.
	audits := count(t, f.s, `SELECT count(*) FROM audit_log WHERE action = 'message_read' AND object_id = $1`, sent.MessageID)
	res, err = f.s.OpenMessage(ctx, f.nurse, origin, sent.MessageID)
	if err != nil || res.Event.ID != 0 {
		t.Errorf("a second read: event %+v, %v", res.Event, err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM message_reads WHERE message_id = $1`, sent.MessageID); n != 2 {
		t.Errorf("%d receipts, want the author's and the nurse's", n)
	}
	if n := count(t, f.s, `SELECT count(*) FROM audit_log WHERE action = 'message_read' AND object_id = $1`, sent.MessageID); n != audits+1 {
		t.Errorf("%d audit rows of reads, want %d", n, audits+1)
	}

	// The physician's first read adds a name: an event, and the receipts in reading order.
	res, err = f.s.OpenMessage(ctx, f.physician, origin, sent.MessageID)
	if err != nil || res.Event.Kind != store.EventMessageRead {
		t.Errorf("the physician's first read: event %+v, %v", res.Event, err)
	}
	m := readState(t, f, f.maria, sent.ConversationID, sent.MessageID)
	if len(m.Reads) != 2 || m.Reads[0].ReaderID != f.nurse.UserID || m.Reads[1].ReaderID != f.physician.UserID {
		t.Errorf("receipts %+v, want the nurse's then the physician's", m.Reads)
	}
}

// The practice's reply is new to the patient alone; staff reading it change nothing of that.
func TestOpenedOnlyByTheAddressedSide(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	f.s.KeepConversations(0)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Flu shot"})
	answer := reply(t, f.s, f.nurse, sent.MessageID, "Any weekday morning.")
	patientBefore := newCount(t, f, f.maria)
	if _, err := f.s.OpenMessage(ctx, f.physician, origin, answer.MessageID); err != nil {
		t.Fatal(err)
	}
	if m := readState(t, f, f.maria, sent.ConversationID, answer.MessageID); m.Opened || !store.Unread(f.maria, m.Facts()) {
		t.Errorf("a colleague's read opened the reply for the patient")
	}
	if got := newCount(t, f, f.maria); got != patientBefore {
		t.Errorf("patient new count %d, want %d", got, patientBefore)
	}
	res, err := f.s.OpenMessage(ctx, f.maria, origin, answer.MessageID)
	if err != nil || res.Event.Kind != store.EventMessageRead {
		t.Fatalf("the patient's read: %+v, %v", res.Event, err)
	}
	m := readState(t, f, f.nurse, sent.ConversationID, answer.MessageID)
	if !m.Opened || len(m.Reads) != 1 || m.Reads[0].ReaderID != f.maria.UserID {
		t.Errorf("staff see the reply opened %v, reads %+v", m.Opened, m.Reads)
	}
	if got := newCount(t, f, f.maria); got != patientBefore-1 {
		t.Errorf("patient new count %d, want %d", got, patientBefore-1)
	}
}

// Only the addressed side marks a message unread, and only once it is opened; the receipts stay.
func TestMarkUnreadRules(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	f.s.KeepConversations(0)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Refill of inhaler"})
	if _, err := f.s.MarkUnread(ctx, f.nurse, origin, sent.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Errorf("unread before anyone opened it: %v", err)
	}
	if _, err := f.s.OpenMessage(ctx, f.nurse, origin, sent.MessageID); err != nil {
		t.Fatal(err)
	}
	before := dbState(t, f.s)
	for _, tc := range []struct {
		name string
		v    store.Viewer
		want error
	}{
		{"the author", f.maria, store.ErrNoLongerApplies},
		{"another patient", f.tom, store.ErrNotFound},
		{"staff of another practice", f.hNurse, store.ErrNotFound},
		{"a patient of another practice", f.grace, store.ErrNotFound},
	} {
		if _, err := f.s.MarkUnread(ctx, tc.v, origin, sent.MessageID); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := f.s.MarkUnread(ctx, f.nurse, origin, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no message: %v", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// Any staff member may, not only the one who opened it.
	e, err := f.s.MarkUnread(ctx, f.desk, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != store.EventMessageUnread || e.MessageID != sent.MessageID || e.PatientID != f.maria.UserID {
		t.Errorf("event %+v", e)
	}
	if a := lastAudit(t, f.s); a.Action != "message_unread" || a.ActorID != f.desk.UserID {
		t.Errorf("audit %+v", a)
	}
	m := readState(t, f, f.physician, sent.ConversationID, sent.MessageID)
	if !store.Unread(f.physician, m.Facts()) || len(m.Reads) != 1 {
		t.Errorf("after Mark as Unread: opened %v, reads %+v", m.Opened, m.Reads)
	}
	if _, err := f.s.MarkUnread(ctx, f.desk, origin, sent.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Errorf("a second Mark as Unread: %v", err)
	}
}

// Someone else's message is refused to a foreign viewer and leaves no receipt.
func TestOpenMessageRefusesForeignViewers(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Private"})
	before := dbState(t, f.s)
	for _, v := range []store.Viewer{f.tom, f.grace, f.hNurse} {
		if _, err := f.s.OpenMessage(t.Context(), v, origin, sent.MessageID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("user %d: %v", v.UserID, err)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// The staff queue's Unread filter lists what nobody on staff has opened, and lets it go once
// someone does.
func TestNotOpenedFilter(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Unseen question"})
	filter := store.InboxFilter{Assignment: store.NotOpened}
	if !contains(inboxOf(t, f.s, f.nurse, filter), sent.ConversationID) {
		t.Fatal("a message nobody opened is not under Unread")
	}
	if _, err := f.s.OpenMessage(t.Context(), f.physician, origin, sent.MessageID); err != nil {
		t.Fatal(err)
	}
	if contains(inboxOf(t, f.s, f.nurse, filter), sent.ConversationID) {
		t.Error("a message the physician opened is still under Unread")
	}
	for _, c := range inboxOf(t, f.s, f.nurse, filter) {
		any := false
		walk(c.Messages, func(m *store.Message, _ int) { any = any || store.Unread(f.nurse, m.Facts()) })
		if !any {
			t.Errorf("conversation %d is under Unread with nothing new in it", c.ID)
		}
	}
}

func contains(list []*store.Conversation, id int64) bool {
	for _, c := range list {
		if c.ID == id {
			return true
		}
	}
	return false
}
