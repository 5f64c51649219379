package store_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/store"
	"securemessages/store/storetest"
)

// TestReencryptResumes: key rotation done the way an operator does it, and interrupted. With the
// ring "2:new,1:old", old messages still open and new ones are sealed with key 2. Reencrypt runs
// in small batches and is stopped (its context cancelled) while a batch is in progress: the
// batches before it are committed, the one in progress is rolled back whole, and no message is
// left with its columns under different keys. Run again, it moves the rest and nothing twice; then
// a ring holding only key 2 opens every message, reading exactly what was written.
func TestReencryptResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := storetest.NewDemo(t) // sealed with storetest.Keys, key id 1
	db := old.DB()
	viewers := map[string]store.Viewer{}
	for _, email := range []string{"maria.lopez@riverside.example", "grace.kim@hillcrest.example",
		"nurse@riverside.example", "nurse@hillcrest.example"} {
		u, err := old.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		viewers[email] = u.Viewer()
	}
	// Enough messages under the old key for several batches.
	for i := range 30 {
		v := viewers[[]string{"maria.lopez@riverside.example", "grace.kim@hillcrest.example"}[i%2]]
		if _, err := old.StartConversation(ctx, v, store.Origin{}, store.NewConversation{
			Subject: fmt.Sprintf("Before rotation %d", i), Body: fmt.Sprintf("Written under key 1, number %d", i),
			ResponseMethod: "phone", BillingConsent: true, SubmitKey: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
	}
	staff := []store.Viewer{viewers["nurse@riverside.example"], viewers["nurse@hillcrest.example"]}
	read := func(s *store.Store) (map[int64]string, error) {
		out := map[int64]string{}
		var ids []int64
		if err := db.SelectContext(ctx, &ids, `SELECT id FROM messages ORDER BY id`); err != nil {
			return nil, err
		}
		for _, id := range ids {
			var m *store.Message
			var err error
			for _, v := range staff {
				if m, err = s.MessageDetails(ctx, v, store.Origin{}, id); err == nil {
					break
				}
			}
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", id, err)
			}
			out[id] = fmt.Sprintf("%s|%s|%+v", m.Subject, m.Details.Body, m.Details.Instructions)
		}
		return out, nil
	}
	written, err := read(old)
	if err != nil {
		t.Fatal(err)
	}
	keyCount := func(id uint32) int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM messages WHERE get_byte(body, 4) = $1
			AND get_byte(subject, 4) = $1 AND get_byte(instructions, 4) = $1`, id); err != nil {
			t.Fatal(err)
		}
		return n
	}
	mixed := func() int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM messages
			WHERE substring(subject FROM 2 FOR 4) <> substring(body FROM 2 FOR 4)
			   OR substring(body FROM 2 FOR 4) <> substring(instructions FROM 2 FOR 4)`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	total := len(written)

	// The new key goes first in the ring; the old one stays, so old messages still open.
	newKey := make([]byte, 32)
	rand.Read(newKey)
	newSpec := "2:" + base64.StdEncoding.EncodeToString(newKey)
	rotatedRing, err := store.ParseKeyring(newSpec + "," + storetest.KeySpec)
	if err != nil {
		t.Fatal(err)
	}
	rotated := store.New(db, rotatedRing)
	if got, err := read(rotated); err != nil || len(got) != total {
		t.Fatalf("the rotated ring reads %d of %d messages: %v", len(got), total, err)
	}
	if n := keyCount(1); n != total {
		t.Fatalf("%d of %d messages under key 1 before re-encryption", n, total)
	}

	// Pause the third batch in the middle: a trigger sleeps on one of its rows.
	const batch = 5
	var ids []int64
	if err := db.SelectContext(ctx, &ids, `SELECT id FROM messages ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	pauseAt := ids[2*batch+2]
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`
		CREATE FUNCTION test_pause_reencrypt() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = %d THEN PERFORM pg_sleep(60); END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_pause_reencrypt BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION test_pause_reencrypt();`, pauseAt)); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		moved int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		moved, err := rotated.Reencrypt(runCtx, batch)
		done <- result{moved, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sleeping int
		if err := db.GetContext(ctx, &sleeping, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event = 'PgSleep'`); err != nil {
			t.Fatal(err)
		}
		if sleeping > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("Reencrypt finished (%d, %v) before reaching the paused batch", r.moved, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the paused batch was never reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the operator presses Ctrl-C, or the release phase times out
	var first result
	select {
	case first = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Reencrypt did not stop when its context was cancelled")
	}
	if !errors.Is(first.err, context.Canceled) && first.err == nil {
		t.Errorf("the interrupted run reported no error")
	}
	if first.moved != 2*batch {
		t.Errorf("the interrupted run moved %d messages, want the %d of its two finished batches", first.moved, 2*batch)
	}
	if n := keyCount(2); n != first.moved {
		t.Errorf("%d messages under key 2 after the interruption, want %d (the batch in progress rolled back)", n, first.moved)
	}
	if n := mixed(); n != 0 {
		t.Errorf("%d messages with columns under different keys after the interruption", n)
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER test_pause_reencrypt ON messages; DROP FUNCTION test_pause_reencrypt()`); err != nil {
		t.Fatal(err)
	}

	// A new message, meanwhile, is sealed with the new primary key.
	sent, err := rotated.StartConversation(ctx, viewers["grace.kim@hillcrest.example"], store.Origin{},
		store.NewConversation{Subject: "During rotation", Body: "Under key 2 from the start", SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	var keyID int
	if err := db.GetContext(ctx, &keyID, `SELECT get_byte(body, 4) FROM messages WHERE id = $1`, sent.MessageID); err != nil || keyID != 2 {
		t.Errorf("a message sent after the rotation is under key %d (%v), want 2", keyID, err)
	}

	// Run again: it picks up where it stopped.
	moved, err := rotated.Reencrypt(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if moved != total-first.moved {
		t.Errorf("the second run moved %d, want the remaining %d", moved, total-first.moved)
	}
	if n := keyCount(2); n != total+1 {
		t.Errorf("%d of %d messages under key 2", n, total+1)
	}
	if n := mixed(); n != 0 {
		t.Errorf("%d messages with columns under different keys", n)
	}
	if again, err := rotated.Reencrypt(ctx, batch); err != nil || again != 0 {
		t.Errorf("a third run moved %d (%v), want nothing", again, err)
	}

	// The old key can go: the new one alone opens everything, and it reads as written.
	newOnly, err := store.ParseKeyring(newSpec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(store.New(db, newOnly))
	if err != nil {
		t.Fatalf("with only the new key: %v", err)
	}
	for id, text := range written {
		if got[id] != text {
			t.Errorf("message %d reads %q, was %q", id, got[id], text)
		}
	}
}
