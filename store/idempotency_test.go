package store_test

import (
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// wantSentOnce checks the answers to one form posted many times at once: every call answers
// with the same message, in conversation conv, and exactly one says it sent the message (what)
// and returns its event; the duplicates return none.
func wantSentOnce(t *testing.T, sents []store.Sent, errs []error, conv int64, what string) {
	t.Helper()
	var originals int
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if sents[i].MessageID != sents[0].MessageID || sents[i].ConversationID != conv {
			t.Errorf("call %d answered %+v, call 0 %+v", i, sents[i], sents[0])
		}
		if !sents[i].Duplicate {
			originals++
			if sents[i].Event.ID == 0 {
				t.Errorf("call %d wrote the %s but returned no event", i, what)
			}
		} else if sents[i].Event != (store.Event{}) {
			t.Errorf("duplicate call %d returned event %+v", i, sents[i].Event)
		}
	}
	if originals != 1 {
		t.Errorf("%d calls say they sent the %s, want 1", originals, what)
	}
}

// TestStartConversationIdempotent: one form posted ten times at once makes one conversation and
// one message, and every post answers with that message.
func TestStartConversationIdempotent(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	n := store.NewConversation{Subject: "Posted ten times", Body: "One click, ten requests.", BillingConsent: true,
		SubmitKey: uuid.NewString()}
	before := rowCounts(t, f.s)
	convsBefore := count(t, f.s, `SELECT count(*) FROM conversations`)

	sents, errs := concurrently(10, func(int) (store.Sent, error) {
		return f.s.StartConversation(t.Context(), f.maria, origin, n)
	})
	wantSentOnce(t, sents, errs, sents[0].ConversationID, "message")
	if got := count(t, f.s, `SELECT count(*) FROM conversations`) - convsBefore; got != 1 {
		t.Errorf("%d conversations created, want 1", got)
	}
	if got := count(t, f.s, `SELECT count(*) FROM messages WHERE submit_key = $1`, n.SubmitKey); got != 1 {
		t.Errorf("%d messages with the key, want 1", got)
	}
	if after := rowCounts(t, f.s); after.events-before.events != 1 || after.audit-before.audit != 1 {
		t.Errorf("%d events and %d audit rows, want 1 and 1", after.events-before.events, after.audit-before.audit)
	}

	// Posted again later, still the same message.
	again, err := f.s.StartConversation(t.Context(), f.maria, origin, n)
	if err != nil || !again.Duplicate || again.MessageID != sents[0].MessageID {
		t.Errorf("later repost: %+v, %v", again, err)
	}
	// The key is the author's: another patient using it sends their own message.
	other, err := f.s.StartConversation(t.Context(), f.tom, origin, n)
	if err != nil || other.Duplicate || other.MessageID == sents[0].MessageID {
		t.Errorf("same key, other author: %+v, %v", other, err)
	}
}

// TestSendReplyIdempotent: the same for a reply.
func TestSendReplyIdempotent(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Reply posted ten times"})
	n := store.NewReply{ParentID: first.MessageID, Body: "Answer", SubmitKey: uuid.NewString()}
	before := rowCounts(t, f.s)

	sents, errs := concurrently(10, func(int) (store.Sent, error) {
		return f.s.SendReply(t.Context(), f.nurse, origin, n)
	})
	wantSentOnce(t, sents, errs, first.ConversationID, "reply")
	if got := count(t, f.s, `SELECT count(*) FROM messages WHERE parent_id = $1`, first.MessageID); got != 1 {
		t.Errorf("%d replies, want 1", got)
	}
	if after := rowCounts(t, f.s); after.events-before.events != 1 || after.audit-before.audit != 1 {
		t.Errorf("%d events and %d audit rows, want 1 and 1", after.events-before.events, after.audit-before.audit)
	}
	// A repost after the thread was archived still answers with the reply it sent.
	if _, err := f.s.Archive(t.Context(), f.maria, origin, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	again, err := f.s.SendReply(t.Context(), f.nurse, origin, n)
	if err != nil || !again.Duplicate || again.MessageID != sents[0].MessageID {
		t.Errorf("repost after archive: %+v, %v", again, err)
	}
}
