package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"securemessages/store"
	"securemessages/store/storetest"
)

// The races below run store calls from separate goroutines, each in its own transaction on its
// own connection, released together from a barrier, many times over, each time on a fresh
// conversation. Whatever the interleaving, the outcome must be one that running the same calls
// one after the other, in some order, would give: the same results, and the same rows left in
// the database. A model of the thread says what each order gives. Any other error (a deadlock,
// a serialization failure, a foreign key violation) fails the test.

const raceIterations = 100

// threadModel is what the rules say a conversation holds.
type threadModel struct {
	exists   bool
	archived bool
	messages map[string]*messageModel
}

type messageModel struct {
	exists, actedOn, first bool
}

// raceReply is one message of a race's thread after Maria's first: each answers the one before.
type raceReply struct {
	name string
	by   store.Viewer
	body string
}

// raceThread starts Maria's conversation and the replies under it, each answering the one
// before; it returns the conversation, the messages' ids by name ("first" and the replies'),
// and the model of that thread.
func raceThread(t *testing.T, f *fixture, subject string, replies ...raceReply) (int64, map[string]int64, *threadModel) {
	t.Helper()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: subject})
	ids := map[string]int64{"first": first.MessageID}
	names := make([]string, len(replies))
	parent := first.MessageID
	for i, r := range replies {
		parent = reply(t, f.s, r.by, parent, r.body).MessageID
		ids[r.name], names[i] = parent, r.name
	}
	return first.ConversationID, ids, newThreadModel("first", names...)
}

func newThreadModel(first string, more ...string) *threadModel {
	m := &threadModel{exists: true, messages: map[string]*messageModel{first: {exists: true, first: true, actedOn: len(more) > 0}}}
	for i, name := range more {
		m.messages[name] = &messageModel{exists: true, actedOn: i < len(more)-1}
	}
	return m
}

func (m *threadModel) clone() *threadModel {
	c := &threadModel{exists: m.exists, archived: m.archived, messages: map[string]*messageModel{}}
	for k, v := range m.messages {
		copied := *v
		c.messages[k] = &copied
	}
	return c
}

func (m *threadModel) count() int {
	n := 0
	for _, msg := range m.messages {
		if msg.exists {
			n++
		}
	}
	return n
}

// The rules, as the model applies them to one thread.

func (m *threadModel) cancel(name string) error {
	msg := m.messages[name]
	switch {
	case !m.exists || !msg.exists:
		return store.ErrNotFound
	case msg.actedOn:
		return store.ErrNoLongerApplies
	}
	msg.exists = false
	if msg.first {
		m.exists = false
	}
	return nil
}

func (m *threadModel) send(parent, name string) error {
	p := m.messages[parent]
	switch {
	case !m.exists || !p.exists:
		return store.ErrNotFound
	case m.archived:
		return store.ErrNoLongerApplies
	}
	p.actedOn = true
	m.messages[name] = &messageModel{exists: true}
	return nil
}

func (m *threadModel) setArchived(archive bool) error {
	switch {
	case !m.exists:
		return store.ErrNotFound
	case m.archived == archive:
		return store.ErrNoLongerApplies
	}
	m.archived = archive
	for _, msg := range m.messages {
		msg.actedOn = true
	}
	return nil
}

// raceOp is one call of a race: what it does to the store, and what the model says it does.
type raceOp struct {
	name     string
	isSend   bool // its result names a new message, called name
	isCancel bool // refused with ErrNoLongerApplies, it still writes an audit row
	run      func(ctx context.Context) (int64, error)
	model    func(m *threadModel) error
}

// raceCase sets up one fresh conversation and the calls that race on it.
type raceCase struct {
	name       string
	exactlyOne bool // the design's promise: exactly one of the calls succeeds
	setup      func(t *testing.T, f *fixture) (conv int64, ids map[string]int64, model *threadModel, ops []raceOp)
	alwaysWins string // an op that must succeed whatever the order, if any
}

func TestRaces(t *testing.T) {
	t.Parallel()
	cases := []raceCase{
		{
			name: "patient cancels the first message while staff reply to it", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: cancel vs reply")
				return conv, ids, m, []raceOp{
					cancelOp(f, f.maria, "first", ids["first"]),
					sendOp(f, f.nurse, "first", ids["first"], "reply"),
				}
			},
		},
		{
			name: "patient cancels a later message while staff reply to it", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: cancel vs reply, deep",
					raceReply{"answer", f.physician, "Answer"}, raceReply{"target", f.maria, "Patient's reply"})
				return conv, ids, m, []raceOp{
					cancelOp(f, f.maria, "target", ids["target"]),
					sendOp(f, f.nurse, "target", ids["target"], "reply"),
				}
			},
		},
		{
			name: "staff cancel their reply while the patient replies to it", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: staff cancel vs patient reply", raceReply{"answer", f.physician, "Answer"})
				return conv, ids, m, []raceOp{
					cancelOp(f, f.physician, "answer", ids["answer"]),
					sendOp(f, f.maria, "answer", ids["answer"], "reply"),
				}
			},
		},
		{
			name: "staff archive while the patient cancels the first message", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: archive vs cancel")
				return conv, ids, m, []raceOp{
					archiveOp(f, f.nurse, conv, true),
					cancelOp(f, f.maria, "first", ids["first"]),
				}
			},
		},
		{
			// Both may succeed (follow-up first, then archive), but never a follow-up in a thread
			// that was already archived, and never an un-acted message once archived.
			name: "staff archive while the patient follows up", alwaysWins: "archive",
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: archive vs follow-up")
				return conv, ids, m, []raceOp{
					archiveOp(f, f.nurse, conv, true),
					sendOp(f, f.maria, "first", ids["first"], "followup"),
				}
			},
		},
		{
			name: "staff archive while the patient follows up and cancels the same message",
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: archive vs follow-up vs cancel")
				return conv, ids, m, []raceOp{
					archiveOp(f, f.nurse, conv, true),
					sendOp(f, f.maria, "first", ids["first"], "followup"),
					cancelOp(f, f.maria, "first", ids["first"]),
				}
			},
		},
		{
			name: "patient and staff archive at once", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: archive vs archive", raceReply{"answer", f.nurse, "Answer"})
				return conv, ids, m, []raceOp{
					archiveOp(f, f.maria, conv, true),
					archiveOp(f, f.nurse, conv, true),
				}
			},
		},
		{
			name: "patient re-opens while staff reply in the archived thread",
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: reopen vs reply")
				if _, err := f.s.Archive(t.Context(), f.maria, origin, conv); err != nil {
					t.Fatal(err)
				}
				m.archived, m.messages["first"].actedOn = true, true
				return conv, ids, m, []raceOp{
					archiveOp(f, f.maria, conv, false),
					sendOp(f, f.nurse, "first", ids["first"], "reply"),
				}
			},
		},
		{
			name: "the same cancel twice (a double click)", exactlyOne: true,
			setup: func(t *testing.T, f *fixture) (int64, map[string]int64, *threadModel, []raceOp) {
				conv, ids, m := raceThread(t, f, "Race: cancel vs cancel",
					raceReply{"answer", f.nurse, "Answer"}, raceReply{"target", f.maria, "Oops"})
				return conv, ids, m, []raceOp{
					cancelOp(f, f.maria, "target", ids["target"]),
					cancelOp(f, f.maria, "target", ids["target"]),
				}
			},
		},
	}
	for _, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			runRace(t, rc)
		})
	}
}

func cancelOp(f *fixture, v store.Viewer, name string, id int64) raceOp {
	return raceOp{name: "cancel " + name, isCancel: true,
		run: func(ctx context.Context) (int64, error) {
			_, err := f.s.Cancel(ctx, v, origin, id)
			return 0, err
		},
		model: func(m *threadModel) error { return m.cancel(name) },
	}
}

func sendOp(f *fixture, v store.Viewer, parent string, parentID int64, name string) raceOp {
	return raceOp{name: name, isSend: true,
		run: func(ctx context.Context) (int64, error) {
			sent, err := f.s.SendReply(ctx, v, origin, store.NewReply{ParentID: parentID, Body: "Racing " + name,
				BillingConsent: true, SubmitKey: uuid.NewString()})
			return sent.MessageID, err
		},
		model: func(m *threadModel) error { return m.send(parent, name) },
	}
}

func archiveOp(f *fixture, v store.Viewer, conv int64, archive bool) raceOp {
	name := "reopen"
	if archive {
		name = "archive"
	}
	return raceOp{name: name,
		run: func(ctx context.Context) (int64, error) {
			var err error
			if archive {
				_, err = f.s.Archive(ctx, v, origin, conv)
			} else {
				_, err = f.s.Reopen(ctx, v, origin, conv)
			}
			return 0, err
		},
		model: func(m *threadModel) error { return m.setArchived(archive) },
	}
}

func runRace(t *testing.T, rc raceCase) {
	f := newDemo(t)
	// Enough idle connections that every racer starts on a connection of its own without dialling.
	f.s.DB().SetMaxIdleConns(8)
	ctx := t.Context()
	outcomes := map[string]int{}
	for i := range raceIterations {
		conv, ids, model, ops := rc.setup(t, f)
		before := rowCounts(t, f.s)

		results, errs := concurrently(len(ops), func(j int) (int64, error) { return ops[j].run(ctx) })

		// Every error is one the rules give; anything else (deadlock, serialization failure,
		// constraint violation) is a failure.
		var wins []string
		var summary []string
		for j, err := range errs {
			switch {
			case err == nil:
				wins = append(wins, ops[j].name)
				summary = append(summary, ops[j].name+" ok")
			case errors.Is(err, store.ErrNotFound):
				summary = append(summary, ops[j].name+" not found")
			case errors.Is(err, store.ErrNoLongerApplies):
				summary = append(summary, ops[j].name+" no longer applies")
			default:
				t.Fatalf("iteration %d: %s: unexpected error: %v", i, ops[j].name, err)
			}
		}
		outcomes[strings.Join(summary, ", ")]++
		if rc.exactlyOne && len(wins) != 1 {
			t.Fatalf("iteration %d: %d winners (%s), want exactly one", i, len(wins), strings.Join(summary, ", "))
		}
		if rc.alwaysWins != "" && !slices.Contains(wins, rc.alwaysWins) {
			t.Fatalf("iteration %d: %s lost (%s)", i, rc.alwaysWins, strings.Join(summary, ", "))
		}
		for j, op := range ops {
			if op.isSend && errs[j] == nil {
				ids[op.name] = results[j]
			}
		}

		// The results must be those of the calls made one after the other in some order, and so
		// must the rows left.
		var finals []*threadModel
		for _, order := range permutations(len(ops)) {
			m := model.clone()
			want := make([]error, len(ops))
			for _, j := range order {
				want[j] = ops[j].model(m)
			}
			if sameOutcomes(want, errs) {
				finals = append(finals, m)
			}
		}
		if len(finals) == 0 {
			t.Fatalf("iteration %d: %s is not the result of any order of the calls", i, strings.Join(summary, ", "))
		}
		var mismatches []string
		for _, m := range finals {
			if problems := compareThread(t, f.s, conv, ids, m); len(problems) == 0 {
				mismatches = nil
				break
			} else {
				mismatches = append(mismatches, problems...)
			}
		}
		if len(mismatches) > 0 {
			t.Fatalf("iteration %d (%s): the database does not hold what the rules say:\n%s",
				i, strings.Join(summary, ", "), strings.Join(mismatches, "\n"))
		}

		// Each success wrote one event and one audit row; a cancel refused as too late, one audit row.
		var refusedCancels int
		for j, op := range ops {
			if op.isCancel && errors.Is(errs[j], store.ErrNoLongerApplies) {
				refusedCancels++
			}
		}
		after := rowCounts(t, f.s)
		if after.events-before.events != len(wins) || after.audit-before.audit != len(wins)+refusedCancels {
			t.Fatalf("iteration %d (%s): %d events and %d audit rows, want %d and %d", i, strings.Join(summary, ", "),
				after.events-before.events, after.audit-before.audit, len(wins), len(wins)+refusedCancels)
		}
	}
	// No conversation is ever left without messages, and no message without its parent.
	if n := count(t, f.s, `SELECT count(*) FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)`); n != 0 {
		t.Errorf("%d conversations without messages", n)
	}
	if n := count(t, f.s, `SELECT count(*) FROM messages m WHERE m.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.id = m.parent_id AND p.conversation_id = m.conversation_id)`); n != 0 {
		t.Errorf("%d messages without their parent", n)
	}
	for _, o := range slices.Sorted(maps.Keys(outcomes)) {
		t.Logf("%3d× %s", outcomes[o], o)
	}
}

func sameOutcomes(want, got []error) bool {
	for i := range want {
		if (want[i] == nil) != (got[i] == nil) || (want[i] != nil && !errors.Is(got[i], want[i])) {
			return false
		}
	}
	return true
}

// compareThread lists the differences between the database and a model of the thread.
func compareThread(t *testing.T, s *store.Store, conv int64, ids map[string]int64, m *threadModel) []string {
	t.Helper()
	var problems []string
	var row struct {
		Exists   bool `db:"exists"`
		Archived bool `db:"archived"`
	}
	if err := s.DB().GetContext(t.Context(), &row, `
		SELECT count(*) > 0 AS exists, coalesce(bool_or(archived_at IS NOT NULL), false) AS archived
		FROM conversations WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	if row.Exists != m.exists || row.Archived != (m.exists && m.archived) {
		problems = append(problems, fmt.Sprintf("conversation exists %v archived %v, want %v %v", row.Exists, row.Archived, m.exists, m.archived))
	}
	if n := count(t, s, `SELECT count(*) FROM messages WHERE conversation_id = $1`, conv); n != m.count() {
		problems = append(problems, fmt.Sprintf("%d messages, want %d", n, m.count()))
	}
	for name, want := range m.messages {
		id, known := ids[name]
		if !known {
			continue // a send the model made but the store refused: counted above
		}
		var actedOn []bool
		if err := s.DB().SelectContext(t.Context(), &actedOn, `SELECT acted_on FROM messages WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(actedOn) == 1 != want.exists:
			problems = append(problems, fmt.Sprintf("message %s exists %v, want %v", name, len(actedOn) == 1, want.exists))
		case want.exists && actedOn[0] != want.actedOn:
			problems = append(problems, fmt.Sprintf("message %s acted on %v, want %v", name, actedOn[0], want.actedOn))
		}
	}
	return problems
}

// permutations lists every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

// TestCancelWaitsForReplyHoldingLock is the race made deterministic: a transaction holds the
// conversation's lock, Cancel is shown to be waiting on it, and the holder then commits a reply.
// Cancel must judge the message after the reply, and refuse.
func TestCancelWaitsForReplyHoldingLock(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Held lock", Body: "Waiting"})

	tx, holder := holdConversationLock(t, f.s, first.ConversationID)
	done := make(chan error, 1)
	go func() {
		_, err := f.s.Cancel(ctx, f.maria, origin, first.MessageID)
		done <- err
	}()
	waitUntilBlockedBy(t, f.s, holder, done)

	// The "staff reply", written by hand in the holding transaction the way SendReply writes it.
	var replyID int64
	if err := tx.GetContext(ctx, &replyID, `SELECT nextval(pg_get_serial_sequence('messages', 'id'))`); err != nil {
		t.Fatal(err)
	}
	seal := func(column, text string) []byte {
		return storetest.Keys.Seal([]byte(text), store.MessageAD(column, replyID, first.ConversationID))
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO messages (id, conversation_id, parent_id, author_id, subject, body, instructions, submit_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		replyID, first.ConversationID, first.MessageID, f.nurse.UserID,
		seal("subject", "Re: Held lock"), seal("body", "Committed while Cancel waited"), seal("instructions", "{}"),
		uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET acted_on = true WHERE id = $1`, first.MessageID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	if err := waitResult(t, done); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Fatalf("Cancel = %v, want ErrNoLongerApplies", err)
	}
	c, err := f.s.Conversation(ctx, f.maria, first.ConversationID)
	if err != nil {
		t.Fatalf("conversation after the refused cancel: %v", err)
	}
	r := findMessage(c, replyID)
	if r == nil || r.ParentID != first.MessageID || r.Subject != "Re: Held lock" {
		t.Errorf("reply %+v", r)
	}
	if a := lastAudit(t, f.s); a.Action != "message_cancelled" || a.Outcome != "too_late" || a.ObjectID != first.MessageID {
		t.Errorf("audit %+v", a)
	}
}

// TestReplyWaitsForCancelHoldingLock is the mirror: the holder deletes the message (as a cancel
// does) while SendReply waits; the reply must find the message gone and write nothing.
func TestReplyWaitsForCancelHoldingLock(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Held lock, mirror"})
	answer := reply(t, f.s, f.nurse, first.MessageID, "Answer")
	target := reply(t, f.s, f.maria, answer.MessageID, "To be cancelled")
	before := rowCounts(t, f.s)

	tx, holder := holdConversationLock(t, f.s, first.ConversationID)
	done := make(chan error, 1)
	go func() {
		_, err := f.s.SendReply(ctx, f.physician, origin, store.NewReply{ParentID: target.MessageID, Body: "Too late",
			SubmitKey: uuid.NewString()})
		done <- err
	}()
	waitUntilBlockedBy(t, f.s, holder, done)
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = $1`, target.MessageID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	if err := waitResult(t, done); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SendReply = %v, want ErrNotFound", err)
	}
	if n := count(t, f.s, `SELECT count(*) FROM messages WHERE conversation_id = $1`, first.ConversationID); n != 2 {
		t.Errorf("%d messages, want the 2 left", n)
	}
	if after := rowCounts(t, f.s); after != before {
		t.Errorf("the refused reply wrote rows: %+v -> %+v", before, after)
	}
}

// holdConversationLock opens a transaction that holds a conversation's row lock, as a competing
// store call would, and returns it with its backend's process id.
func holdConversationLock(t *testing.T, s *store.Store, conv int64) (*sqlx.Tx, int) {
	t.Helper()
	tx, err := s.DB().BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	var pid int
	if err := tx.GetContext(t.Context(), &pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	var locked int64
	if err := tx.GetContext(t.Context(), &locked, `SELECT id FROM conversations WHERE id = $1 FOR UPDATE`, conv); err != nil {
		t.Fatal(err)
	}
	return tx, pid
}

// waitUntilBlockedBy polls pg_stat_activity until some session waits on a lock that the holder
// holds. The call under test must not have returned meanwhile.
func waitUntilBlockedBy(t *testing.T, s *store.Store, holder int, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("the call returned (%v) instead of waiting for the lock", err)
		default:
		}
		var waiting int
		if err := s.DB().GetContext(t.Context(), &waiting, `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))`,
			holder); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never waited for the conversation lock")
		}
		time.Sleep(2 * time.Millisecond) // a polling interval, not a guess at how long the call takes
	}
}

func waitResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting call did not finish after the lock was released")
		return nil
	}
}
