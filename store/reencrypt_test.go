package store_test

import (
	"errors"
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

// plainMessages reads every message's subject, body and instructions through a staff member of
// each demo practice.
func plainMessages(t *testing.T, s *store.Store, staff ...store.Viewer) (map[int64]string, error) {
	t.Helper()
	out := map[int64]string{}
	for _, v := range staff {
		var ids []int64
		if err := s.DB().SelectContext(t.Context(), &ids,
			`SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.practice_id = $1`, v.PracticeID); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m, err := s.MessageDetails(t.Context(), v, origin, id)
			if err != nil {
				return nil, err
			}
			out[id] = m.Subject + "|" + m.Details.Body + "|" + m.Details.Instructions.ResponseMethod
		}
	}
	return out, nil
}

// TestReencrypt: after a new key is put first in the ring, Reencrypt moves every message onto it,
// the text reads the same, the old key can be dropped, and a second run finds nothing to do.
func TestReencrypt(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	before, err := plainMessages(t, f.s, f.nurse, f.hNurse)
	if err != nil {
		t.Fatal(err)
	}
	total := count(t, f.s, `SELECT count(*) FROM messages`)

	newKey := randomKey(t)
	rotated := store.New(f.s.DB(), mustRing(t, "2:"+newKey+","+storetest.KeySpec))
	// Sent during the rotation, sealed with the new key already: nothing to move.
	start(t, rotated, f.grace, store.NewConversation{Subject: "Sent after the rotation"})

	moved, err := rotated.Reencrypt(ctx, 3) // small batches, so several run
	if err != nil {
		t.Fatal(err)
	}
	if moved != total {
		t.Errorf("moved %d messages, want %d", moved, total)
	}
	if n := count(t, f.s, `
		SELECT count(*) FROM messages
		WHERE substring(subject FROM 2 FOR 4) <> '\x00000002'::bytea OR substring(body FROM 2 FOR 4) <> '\x00000002'::bytea
		   OR substring(instructions FROM 2 FOR 4) <> '\x00000002'::bytea`); n != 0 {
		t.Errorf("%d messages still sealed with another key", n)
	}
	if again, err := rotated.Reencrypt(ctx, 100); err != nil || again != 0 {
		t.Errorf("second run moved %d, %v", again, err)
	}

	// The new key alone now opens everything, and the text is what it was.
	newOnly := store.New(f.s.DB(), mustRing(t, "2:"+newKey))
	after, err := plainMessages(t, newOnly, f.nurse, f.hNurse)
	if err != nil {
		t.Fatalf("with only the new key: %v", err)
	}
	for id, text := range before {
		if after[id] != text {
			t.Errorf("message %d read %q before, %q after", id, text, after[id])
		}
	}
	// And the old key alone opens nothing.
	if _, err := plainMessages(t, f.s, f.nurse); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("with only the old key: %v, want ErrDecrypt", err)
	}
}
