package store_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/store"
	"securemessages/store/storetest"
)

// TestEventsAfterScoped: a replaying page gets only its viewer's events: a patient their own
// conversations', staff their practice's.
func TestEventsAfterScoped(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	for _, tc := range []struct {
		v     store.Viewer
		where string
		arg   int64
	}{
		{f.maria, `patient_id = $1`, f.maria.UserID},
		{f.tom, `patient_id = $1`, f.tom.UserID},
		{f.grace, `patient_id = $1`, f.grace.UserID},
		{f.physician, `practice_id = $1`, f.riverside.ID},
		{f.hDesk, `practice_id = $1`, f.hillcrest.ID},
	} {
		var want []int64
		if err := f.s.DB().SelectContext(ctx, &want, `SELECT id FROM events WHERE `+tc.where+` ORDER BY id`, tc.arg); err != nil {
			t.Fatal(err)
		}
		events, err := f.s.EventsAfter(ctx, tc.v, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range events {
			got = append(got, e.ID)
			if e.PracticeID != tc.v.PracticeID || (tc.v.Role == store.RolePatient && e.PatientID != tc.v.UserID) {
				t.Errorf("user %d got event %+v", tc.v.UserID, e)
			}
			if e.Kind == "" || e.ConversationID == 0 {
				t.Errorf("event %+v incomplete", e)
			}
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("user %d: events %v, want %v", tc.v.UserID, got, want)
		}

		// After an id, and at most limit, oldest first.
		if len(want) >= 3 {
			events, err := f.s.EventsAfter(ctx, tc.v, want[0], 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].ID != want[1] {
				t.Errorf("user %d: after %d limit 1 = %+v, want id %d", tc.v.UserID, want[0], events, want[1])
			}
			events, err = f.s.EventsAfter(ctx, tc.v, want[len(want)-1], 10)
			if err != nil || len(events) != 0 {
				t.Errorf("user %d: after the newest = %+v, %v", tc.v.UserID, events, err)
			}
		}
	}
}

// TestEventHorizonIsThePracticesOwn: event ids come from one sequence for every practice, so
// another practice's newer event can commit while an older one of this practice is still open. A
// page whose live stream started after the other practice's id would never be sent the older one;
// the horizon a page starts from, read alone or with the session, stops before it.
func TestEventHorizonIsThePracticesOwn(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	before, _, err := f.s.EventHorizon(ctx, f.riverside.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A change at Riverside, its event written and not yet committed.
	tx, err := f.s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var open int64
	if err := tx.GetContext(ctx, &open, `
		INSERT INTO events (kind, practice_id, patient_id, conversation_id) VALUES ('message_sent', $1, $2, 0)
		RETURNING id`, f.riverside.ID, f.maria.UserID); err != nil {
		t.Fatal(err)
	}
	// Meanwhile Hillcrest commits a newer one.
	if other := start(t, f.s, f.grace, store.NewConversation{Subject: "Vaccination schedule"}); other.Event.ID <= open {
		t.Fatalf("Hillcrest's event %d is not newer than Riverside's open %d", other.Event.ID, open)
	}

	newest, _, err := f.s.EventHorizon(ctx, f.riverside.ID)
	if err != nil || newest != before {
		t.Errorf("Riverside's horizon with its event %d open: %d, %v; want %d", open, newest, err, before)
	}
	u, err := f.s.UserByEmail(ctx, "physician@riverside.example")
	if err != nil {
		t.Fatal(err)
	}
	token := newSession(t, f.s, u)
	sess, err := f.s.SessionByToken(ctx, token, store.SessionLimits{Idle: time.Hour, Absolute: time.Hour})
	if err != nil || sess.NewestEvent != before {
		t.Errorf("a Riverside session's newest event with %d open: %d, %v; want %d", open, sess.NewestEvent, err, before)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	events, err := f.s.EventsAfter(ctx, f.physician, sess.NewestEvent, 100)
	if err != nil || !slices.ContainsFunc(events, func(e store.Event) bool { return e.ID == open }) {
		t.Errorf("a page that started after %d is not sent Riverside's event %d: %+v, %v", sess.NewestEvent, open, events, err)
	}
}

// TestEventsCommitInIDOrder: a page that replays "after N" must never miss an event, so within a
// practice events must become visible in the order of their ids. Many senders write at once while
// a reader replays the way a page does; every event must reach it.
func TestEventsCommitInIDOrder(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	f.s.DB().SetMaxIdleConns(16)
	newest, _, err := f.s.EventHorizon(ctx, f.hNurse.PracticeID)
	if err != nil {
		t.Fatal(err)
	}

	const writers, perWriter = 8, 15
	stop := make(chan struct{})
	seen := map[int64]bool{}
	var pollErr error
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		last := newest
		poll := func() bool {
			events, err := f.s.EventsAfter(ctx, f.hNurse, last, 1000)
			if err != nil {
				pollErr = err
				return false
			}
			for _, e := range events {
				seen[e.ID] = true
				last = e.ID
			}
			return true
		}
		for {
			select {
			case <-stop:
				poll()
				return
			default:
				if !poll() {
					return
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			patient := []store.Viewer{f.grace, f.david}[w%2]
			for range perWriter {
				// Errorf, not Fatalf: this is not the test's goroutine.
				sent, err := f.s.StartConversation(ctx, patient, origin, store.NewConversation{Subject: "Ordering",
					Body: "Ordering", SubmitKey: uuid.NewString()})
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				if w%3 == 0 {
					if _, err := f.s.SendReply(ctx, f.hNurse, origin, store.NewReply{ParentID: sent.MessageID,
						Body: "Ordering reply", SubmitKey: uuid.NewString()}); err != nil {
						t.Errorf("reply: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if pollErr != nil {
		t.Fatal(pollErr)
	}

	var all []int64
	if err := f.s.DB().SelectContext(ctx, &all, `SELECT id FROM events WHERE practice_id = $1 AND id > $2 ORDER BY id`,
		f.hillcrest.ID, newest); err != nil {
		t.Fatal(err)
	}
	var missed []int64
	for _, id := range all {
		if !seen[id] {
			missed = append(missed, id)
		}
	}
	if len(all) < writers*perWriter || len(missed) > 0 {
		t.Errorf("%d events written, the replaying reader missed %v", len(all), missed)
	}
}

func TestEventHorizonAndPrune(t *testing.T) {
	t.Parallel()
	empty := storetest.New(t)
	if newest, oldest, err := empty.EventHorizon(t.Context(), 1); err != nil || newest != 0 || oldest != 0 {
		t.Errorf("empty horizon %d %d %v", newest, oldest, err)
	}

	f := newDemo(t)
	ctx := t.Context()
	var ids []int64
	if err := f.s.DB().SelectContext(ctx, &ids, `SELECT id FROM events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	var riverside int64
	if err := f.s.DB().GetContext(ctx, &riverside, `SELECT max(id) FROM events WHERE practice_id = $1`, f.riverside.ID); err != nil {
		t.Fatal(err)
	}
	if riverside == ids[len(ids)-1] {
		t.Fatal("the demo's newest event is Riverside's: the horizon would not show it is the practice's own")
	}
	newest, oldest, err := f.s.EventHorizon(ctx, f.riverside.ID)
	if err != nil || newest != riverside || oldest != ids[0] {
		t.Fatalf("horizon %d %d %v, want %d %d", newest, oldest, err, riverside, ids[0])
	}
	// Age the older half past a 1-hour retention window.
	half := ids[len(ids)/2]
	if _, err := f.s.DB().ExecContext(ctx, `UPDATE events SET created_at = now() - interval '2 hours' WHERE id < $1`, half); err != nil {
		t.Fatal(err)
	}
	n, err := f.s.PruneEvents(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != len(ids)/2 {
		t.Errorf("pruned %d, want %d", n, len(ids)/2)
	}
	// Riverside's events may all be gone now: its horizon is then 0, from which a page replays
	// whatever it is sent later.
	if err := f.s.DB().GetContext(ctx, &riverside, `SELECT coalesce(max(id), 0) FROM events WHERE practice_id = $1`, f.riverside.ID); err != nil {
		t.Fatal(err)
	}
	newest2, oldest2, err := f.s.EventHorizon(ctx, f.riverside.ID)
	if err != nil || newest2 != riverside || oldest2 != half {
		t.Errorf("horizon after prune %d %d %v, want %d %d", newest2, oldest2, err, riverside, half)
	}
	// Nothing else went with them.
	if n, err := f.s.PruneEvents(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
}
