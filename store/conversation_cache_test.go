package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

// describe writes out everything a list holds of a conversation, so that a kept one can be
// compared with one read afresh.
func describe(c *store.Conversation) string {
	var b strings.Builder
	archived := ""
	if c.ArchivedAt != nil {
		archived = c.ArchivedAt.UTC().String()
	}
	fmt.Fprintf(&b, "conversation %d rev %d patient %d %q %q archived %q last %s instructions %+v requested %q\n",
		c.ID, c.Revision, c.PatientID, c.PatientName, c.PatientInitials, archived, c.LastActivityAt.UTC(),
		c.Instructions, c.RequestedStaffName)
	walk(c.Messages, func(m *store.Message, depth int) {
		fmt.Fprintf(&b, "%*s%d by %d %s %q %q: %q acted %v archived %v at %s opened %v reads %v\n", depth*2, "", m.ID, m.AuthorID,
			m.AuthorRole, m.AuthorName, m.AuthorInitials, m.Subject, m.ActedOn, m.ThreadArchived, m.CreatedAt.UTC(),
			m.Opened, m.Reads)
	})
	return b.String()
}

// TestListsKeepWhatDidNotChange: a list shown again hands back the conversations it already
// held, without reading them, and reads afresh exactly those that changed in any way the list
// shows: a message sent (whether or not it changes who has the last word) or cancelled, the thread archived or re-opened, a name changed. After
// every change, what it shows is what a store with no cache reads.
func TestListsKeepWhatDidNotChange(t *testing.T) {
	t.Parallel()
	f := newDemo(t) // lists keep conversations
	ctx := t.Context()
	fresh := store.New(f.s.DB(), storetest.Keys) // keeps none
	all := store.InboxFilter{IncludeArchived: true}
	nurse, err := f.s.UserByEmail(ctx, "nurse@riverside.example")
	if err != nil {
		t.Fatal(err)
	}
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Dizzy since the new dose",
		RequestedStaffID: f.nurse.UserID, ResponseMethod: "phone"})
	id := sent.ConversationID

	// list lists for v, compares it with a fresh read, and returns it by conversation.
	list := func(v store.Viewer) map[int64]*store.Conversation {
		t.Helper()
		kept, err := f.s.Inbox(ctx, v, all)
		if err != nil {
			t.Fatal(err)
		}
		read, err := fresh.Inbox(ctx, v, all)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != len(read) {
			t.Fatalf("user %d: %d conversations, read afresh %d", v.UserID, len(kept), len(read))
		}
		byID := map[int64]*store.Conversation{}
		for i := range kept {
			if got, want := describe(kept[i]), describe(read[i]); got != want {
				t.Errorf("user %d, conversation %d of the list:\n got %s\nwant %s", v.UserID, i, got, want)
			}
			byID[kept[i].ID] = kept[i]
		}
		return byID
	}
	// after makes a change and checks that exactly the conversations named were read again, for
	// the patient and for the staff.
	before := map[store.Viewer]map[int64]*store.Conversation{f.maria: list(f.maria), f.nurse: list(f.nurse)}
	after := func(what string, change func(), changed ...int64) {
		t.Helper()
		change()
		for v, old := range before {
			now := list(v)
			for cid, c := range now {
				reread := old[cid] != c
				if want := slices.Contains(changed, cid) || old[cid] == nil; reread != want {
					t.Errorf("%s: user %d's conversation %d read again: %v, want %v", what, v.UserID, cid, reread, want)
				}
				if reread && old[cid] != nil && c.Revision == old[cid].Revision {
					t.Errorf("%s: conversation %d read again at the same revision %d", what, cid, c.Revision)
				}
			}
			before[v] = now
		}
	}

	after("nothing", func() {})
	var answer store.Sent
	after("a reply", func() { answer = reply(t, f.s, f.nurse, sent.MessageID, "Please sit down when it happens.") }, id)
	var followUp store.Sent
	after("a follow-up", func() { followUp = reply(t, f.s, f.maria, answer.MessageID, "It happened again.") }, id)
	// The patient has the last word already: the conversation changes all the same.
	after("a second follow-up", func() { reply(t, f.s, f.maria, sent.MessageID, "And this morning.") }, id)
	after("a cancel", func() {
		if _, err := f.s.Cancel(ctx, f.maria, origin, followUp.MessageID); err != nil {
			t.Fatal(err)
		}
	}, id)
	after("an archive", func() {
		if _, err := f.s.Archive(ctx, f.maria, origin, id); err != nil {
			t.Fatal(err)
		}
	}, id)
	after("a re-open", func() {
		if _, err := f.s.Reopen(ctx, f.maria, origin, id); err != nil {
			t.Fatal(err)
		}
	}, id)

	// Names: the nurse wrote in and was asked for in this conversation only of Maria's.
	nurseIn := func() (ids []int64) {
		for cid, c := range before[f.nurse] {
			shows := c.RequestedStaffName == nurse.FullName
			walk(c.Messages, func(m *store.Message, _ int) { shows = shows || m.AuthorID == nurse.ID })
			if shows {
				ids = append(ids, cid)
			}
		}
		return ids
	}()
	after("the nurse's name", func() {
		f.s.DB().MustExecContext(ctx, `UPDATE users SET full_name = 'Jordan Price-Ellis', initials = 'JE' WHERE id = $1`, nurse.ID)
	}, nurseIn...)
	var marias []int64
	for cid := range before[f.maria] {
		marias = append(marias, cid)
	}
	after("the patient's name", func() {
		f.s.DB().MustExecContext(ctx, `UPDATE users SET full_name = 'Maria Lopez-Ruiz' WHERE id = $1`, f.maria.UserID)
	}, marias...)
	after("a name written again unchanged", func() {
		f.s.DB().MustExecContext(ctx, `UPDATE users SET full_name = full_name WHERE id = $1`, f.maria.UserID)
	})
}

// TestAwaitingCountKeptUntilTheNextEvent: the staff queue's count is kept by the practice's
// newest event. After each change that moves a conversation into the queue or out of it, the
// count asked for as of the change's event equals a count by a store that keeps nothing; and as
// of an event already counted, it is the kept count (a write that makes no event, which the
// server never does, shows that it was not counted again).
func TestAwaitingCountKeptUntilTheNextEvent(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	plain := store.New(f.s.DB(), storetest.Keys) // keeps nothing
	count := func(s *store.Store, asOf int64) int {
		t.Helper()
		n, err := s.AwaitingCount(ctx, f.hNurse, asOf)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(step string, asOf int64, want int) {
		t.Helper()
		kept, fresh := count(f.s, asOf), count(plain, asOf)
		if kept != fresh || fresh != want {
			t.Errorf("%s: %d kept, %d counted afresh; want %d", step, kept, fresh, want)
		}
	}
	asOf, _, err := f.s.EventHorizon(ctx, f.hNurse.PracticeID)
	if err != nil {
		t.Fatal(err)
	}
	before := count(plain, asOf)
	check("the demo", asOf, before)

	asked := start(t, f.s, f.david, store.NewConversation{Subject: "Asked"})
	check("David asked", asked.Event.ID, before+1)
	answer := reply(t, f.s, f.hNurse, asked.MessageID, "Answer")
	check("the nurse answered", answer.Event.ID, before)
	cancelled, err := f.s.Cancel(ctx, f.hNurse, store.Origin{}, answer.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	check("the nurse cancelled her answer", cancelled.Event.ID, before+1)
	archived, err := f.s.Archive(ctx, f.hNurse, store.Origin{}, asked.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	check("the nurse archived it", archived.ID, before)
	reopened, err := f.s.Reopen(ctx, f.hNurse, store.Origin{}, asked.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	check("the nurse re-opened it", reopened.ID, before+1)

	if _, err := f.s.DB().ExecContext(ctx, `UPDATE conversations SET archived_at = now() WHERE id = $1`, asked.ConversationID); err != nil {
		t.Fatal(err)
	}
	if kept, fresh := count(f.s, reopened.ID), count(plain, reopened.ID); kept != before+1 || fresh != before {
		t.Errorf("as of the re-open, after a write without an event: %d kept, %d counted; want the kept %d and %d",
			kept, fresh, before+1, before)
	}
}
