package store_test

import (
	"errors"
	"slices"
	"testing"

	"securemessages/store"
)

// TestArchiveAndReopen walks a thread through archive and re-open as either side, checking the
// inbox, the rules, the outbox and the audit log at each step.
func TestArchiveAndReopen(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"patient", "staff"} {
		t.Run(side+" archives", func(t *testing.T) {
			t.Parallel()
			f := newDemo(t)
			ctx := t.Context()
			actor := f.maria
			if side == "staff" {
				actor = f.nurse
			}
			first := start(t, f.s, f.maria, store.NewConversation{Subject: "Archive me"})
			staffReply := reply(t, f.s, f.nurse, first.MessageID, "Answer")
			followUp := reply(t, f.s, f.nurse, staffReply.MessageID, "Nurse's follow-up, not yet seen")
			later := start(t, f.s, f.maria, store.NewConversation{Subject: "Later conversation"})

			inbox := func(v store.Viewer, all bool) []int64 {
				t.Helper()
				list := inboxOf(t, f.s, v, store.InboxFilter{IncludeArchived: all})
				return conversationIDs(list)
			}

			before := rowCounts(t, f.s)
			e, err := f.s.Archive(ctx, actor, origin, first.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			checkChange(t, f.s, before, e, store.Event{Kind: store.EventConversationArchived, PracticeID: f.riverside.ID,
				PatientID: f.maria.UserID, ConversationID: first.ConversationID}, actor, "conversation_archived")

			for _, v := range []store.Viewer{f.maria, f.physician} {
				if slices.Contains(inbox(v, false), first.ConversationID) {
					t.Errorf("user %d: archived thread in the open inbox", v.UserID)
				}
				if !slices.Contains(inbox(v, true), first.ConversationID) {
					t.Errorf("user %d: archived thread missing from Show All", v.UserID)
				}
			}
			c, err := f.s.Conversation(ctx, f.maria, first.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			walk(c.Messages, func(m *store.Message, _ int) {
				if !m.ActedOn || !m.ThreadArchived {
					t.Errorf("after archive, message %d acted on %v, archived %v", m.ID, m.ActedOn, m.ThreadArchived)
				}
			})
			// Every message now counts as acted on: the nurse's unseen follow-up cannot be cancelled.
			stateBefore := dbState(t, f.s)
			delete(stateBefore, "audit_log") // a refused cancel is audited
			if _, err := f.s.Cancel(ctx, f.nurse, origin, followUp.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
				t.Errorf("cancel in an archived thread: %v", err)
			}
			if _, err := f.s.Archive(ctx, actor, origin, first.ConversationID); !errors.Is(err, store.ErrNoLongerApplies) {
				t.Errorf("archive twice: %v", err)
			}
			if _, err := f.s.Archive(ctx, f.physician, origin, first.ConversationID); !errors.Is(err, store.ErrNoLongerApplies) {
				t.Errorf("archive twice, by another: %v", err)
			}
			stateAfter := dbState(t, f.s)
			delete(stateAfter, "audit_log")
			assertUnchanged(t, stateBefore, stateAfter)

			if inbox(f.maria, false)[0] != later.ConversationID {
				t.Fatal("setup: the later conversation should be on top")
			}
			before = rowCounts(t, f.s)
			e, err = f.s.Reopen(ctx, actor, origin, first.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			checkChange(t, f.s, before, e, store.Event{Kind: store.EventConversationReopened, PracticeID: f.riverside.ID,
				PatientID: f.maria.UserID, ConversationID: first.ConversationID}, actor, "conversation_reopened")
			for _, v := range []store.Viewer{f.maria, f.nurse} {
				if got := inbox(v, false); got[0] != first.ConversationID {
					t.Errorf("user %d: re-opened thread is not on top: %v", v.UserID, got)
				}
			}
			c, err = f.s.Conversation(ctx, f.maria, first.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Archived() {
				t.Error("still archived")
			}
			if _, err := f.s.Reopen(ctx, actor, origin, first.ConversationID); !errors.Is(err, store.ErrNoLongerApplies) {
				t.Errorf("re-open an open thread: %v", err)
			}
			// Re-opened, the thread takes replies again; the old messages stay acted on.
			reply(t, f.s, f.maria, staffReply.MessageID, "Thanks")
			if _, err := f.s.Cancel(ctx, f.maria, origin, first.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
				t.Errorf("cancel after re-open: %v", err)
			}
		})
	}
}

// checkChange verifies that one change wrote exactly one events row (the one returned) and one
// audit row, in one transaction.
func checkChange(t *testing.T, s *store.Store, before counts, got, want store.Event, actor store.Viewer, action string) {
	t.Helper()
	after := rowCounts(t, s)
	if after.events != before.events+1 || after.audit != before.audit+1 {
		t.Errorf("%s wrote %d events and %d audit rows, want 1 and 1", action, after.events-before.events, after.audit-before.audit)
	}
	e := lastEvent(t, s)
	want.ID = e.ID
	if got != want {
		t.Errorf("%s returned event %+v, want %+v", action, got, want)
	}
	if (store.Event{ID: e.ID, Kind: e.Kind, PracticeID: e.PracticeID, PatientID: e.PatientID,
		ConversationID: e.ConversationID, MessageID: e.MessageID}) != want {
		t.Errorf("%s stored event %+v, want %+v", action, e, want)
	}
	a := lastAudit(t, s)
	objectType, objectID := "conversation", want.ConversationID
	if want.MessageID != 0 {
		objectType, objectID = "message", want.MessageID
	}
	if a.ActorID != actor.UserID || a.Action != action || a.ObjectType != objectType || a.ObjectID != objectID ||
		a.Outcome != "success" || a.RequestID != origin.RequestID || a.ClientIP != origin.ClientIP {
		t.Errorf("audit %+v, want %s of %s %d by %d", a, action, objectType, objectID, actor.UserID)
	}
	if a.Xmin != e.Xmin {
		t.Errorf("event and audit written by transactions %s and %s", e.Xmin, a.Xmin)
	}
	if want.Kind != store.EventMessageCancelled {
		if x := xmin(t, s, "conversations", want.ConversationID); x != e.Xmin {
			t.Errorf("conversation changed by transaction %s, event by %s", x, e.Xmin)
		}
	}
}
