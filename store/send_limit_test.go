package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/store"
)

// A patient's sends, new conversations and replies together, stop at the limit: the next is
// refused with when it will be allowed, and writes nothing. Another patient and staff go on.
func TestSendLimit(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	limits := store.SendLimits{Messages: 3, Window: 10 * time.Minute}
	f.s.LimitSends(limits)
	ctx := context.Background()

	first := start(t, f.s, f.maria, store.NewConversation{Subject: "One"})
	reply(t, f.s, f.maria, first.MessageID, "Two")
	start(t, f.s, f.maria, store.NewConversation{Subject: "Three"})
	var sentAt time.Time
	if err := f.s.DB().GetContext(ctx, &sentAt, `SELECT created_at FROM messages WHERE id = $1`, first.MessageID); err != nil {
		t.Fatal(err)
	}

	before := dbState(t, f.s)
	_, err := f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "Four", Body: "Four",
		BillingConsent: true, SubmitKey: uuid.NewString()})
	var limited *store.SendLimited
	if !errors.As(err, &limited) {
		t.Fatalf("the fourth send: %v, want SendLimited", err)
	}
	if limited.Limit != limits || !limited.Retry.Equal(sentAt.Add(limits.Window)) {
		t.Errorf("limited %+v, want the limit %+v and a retry at %s", limited, limits, sentAt.Add(limits.Window))
	}
	_, err = f.s.SendReply(ctx, f.maria, origin, store.NewReply{ParentID: first.MessageID, Body: "Four",
		BillingConsent: true, SubmitKey: uuid.NewString()})
	if !errors.As(err, &limited) {
		t.Fatalf("a reply over the limit: %v, want SendLimited", err)
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// The same form sent again is still the one message it made, not a refusal.
	again, err := f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "One", Body: "Body of One",
		BillingConsent: true, SubmitKey: firstKey(t, f, first.MessageID)})
	if err != nil || !again.Duplicate || again.MessageID != first.MessageID {
		t.Errorf("the first form again: %+v, %v; want its message %d", again, err, first.MessageID)
	}

	// Tom, at the same practice, is not held up by Maria; nor is staff, whoever they write to.
	for range limits.Messages {
		start(t, f.s, f.tom, store.NewConversation{Subject: "Tom"})
	}
	if _, err := f.s.StartConversation(ctx, f.tom, origin, store.NewConversation{Subject: "Tom four", Body: "b",
		BillingConsent: true, SubmitKey: uuid.NewString()}); !errors.As(err, &limited) {
		t.Errorf("Tom's fourth: %v, want SendLimited at his own limit", err)
	}
	for range 2 * limits.Messages {
		start(t, f.s, f.physician, store.NewConversation{Subject: "From the physician", PatientID: f.maria.UserID})
		reply(t, f.s, f.physician, first.MessageID, "A staff reply")
	}
}

func firstKey(t *testing.T, f *fixture, id int64) string {
	t.Helper()
	var key string
	if err := f.s.DB().Get(&key, `SELECT submit_key FROM messages WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return key
}

// Fifty sends of one patient at once: exactly the limit get through, whatever the interleaving.
func TestSendLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	f.s.LimitSends(store.SendLimits{Messages: 10, Window: 10 * time.Minute})
	before := count(t, f.s, `SELECT count(*) FROM messages WHERE author_id = $1`, f.maria.UserID)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			_, errs[i] = f.s.StartConversation(context.Background(), f.maria, origin, store.NewConversation{
				Subject: "Burst", Body: "Burst", BillingConsent: true, SubmitKey: uuid.NewString()})
		})
	}
	close(gate)
	wg.Wait()
	sent, limited := 0, 0
	for _, err := range errs {
		var l *store.SendLimited
		switch {
		case err == nil:
			sent++
		case errors.As(err, &l):
			limited++
		default:
			t.Errorf("send: %v", err)
		}
	}
	if sent != 10 || limited != n-10 {
		t.Errorf("%d sent and %d limited, want 10 and %d", sent, limited, n-10)
	}
	if got := count(t, f.s, `SELECT count(*) FROM messages WHERE author_id = $1`, f.maria.UserID); got != before+10 {
		t.Errorf("%d messages stored, want %d", got-before, 10)
	}
}
