package app

import (
	"net/http"
	"slices"
	"testing"

	"securemessages/views/htmltest"
)

// actionForm is the form behind an action button (Archive, Re-Open) of a message, as the button
// submits it.
func (e *env) actionForm(t *testing.T, inbox *htmltest.Node, id int64, button string) *htmltest.Node {
	t.Helper()
	li := e.messageLI(inbox, id)
	if li == nil {
		t.Fatalf("message %d not shown", id)
	}
	b := li.First(htmltest.TagText("button", button))
	if b == nil {
		t.Fatalf("message %d has no %s button", id, button)
	}
	return b.Submits()
}

// wantStaleForm sends form again once its action no longer applies: 409 with the inbox and
// the notice want, and the database as it was; what names the repeat in a failure.
func (e *env) wantStaleForm(t *testing.T, c *client, form *htmltest.Node, htmx bool, want, what string) {
	t.Helper()
	before := e.counts(t)
	r := c.sendForm(t, form.Attr["action"], form.FormValues())
	wantStatus(t, r, http.StatusConflict)
	if got := notice(t, inboxOf(t, r, htmx)); got != want {
		t.Errorf("notice %q", got)
	}
	if got := e.counts(t); got != before {
		t.Errorf("%s changed the database: %+v -> %+v", what, before, got)
	}
}

func TestConversationArchive(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		before := e.counts(t)
		form := e.actionForm(t, inboxOf(t, patient.variant(false).get(t, "/inbox"), false), m.refillDr.ID, "Archive")
		if form.Attr["action"] != "/conversations/"+e.cid(m.refill.ConversationID)+"/archive" {
			t.Fatalf("Archive posts to %q", form.Attr["action"])
		}
		inbox := after(t, patient, patient.sendForm(t, form.Attr["action"], form.FormValues()), "/inbox?notice=archived")
		if got := notice(t, inbox); got != "The conversation was archived." {
			t.Errorf("notice %q", got)
		}
		if slices.Contains(e.conversationIDs(t, inbox), m.refill.ConversationID) {
			t.Error("the archived conversation is still among the open ones")
		}
		all := inboxOf(t, patient.variant(false).get(t, "/inbox?all=1"), false)
		if li := all.ByID("conversation-" + e.cid(m.refill.ConversationID)); li == nil || !li.HasClass("archived") {
			t.Error("Show All Conversations does not show it archived")
		}
		if got := e.counts(t); got.Archived != before.Archived+1 || got.Events != before.Events+1 {
			t.Errorf("counts %+v -> %+v: want one more archived conversation and event", before, got)
		}

		// Again, from the same (now stale) form: it no longer applies.
		e.wantStaleForm(t, patient, form, htmx, "That conversation is already archived.", "archiving twice")
	})
}

func TestConversationReopen(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		before := e.counts(t)
		form := e.actionForm(t, inboxOf(t, patient.variant(false).get(t, "/inbox?all=1"), false), m.rash.ID, "Re-Open")
		inbox := after(t, patient, patient.sendForm(t, form.Attr["action"], form.FormValues()), "/inbox?all=1&notice=reopened")
		if got := notice(t, inbox); got != "The conversation was re-opened." {
			t.Errorf("notice %q", got)
		}
		li := inbox.ByID("conversation-" + e.cid(m.rash.ConversationID))
		if li == nil || li.HasClass("archived") {
			t.Fatal("the re-opened conversation is missing or still drawn archived")
		}
		if got := actions(t, e.messageLI(inbox, m.rashRN.ID)); !slices.Equal(got, []string{"Show Details", "Reply", "Archive"}) {
			t.Errorf("re-opened: the nurse's reply offers %q", got)
		}
		open := inboxOf(t, patient.variant(false).get(t, "/inbox"), false)
		if !slices.Contains(e.conversationIDs(t, open), m.rash.ConversationID) {
			t.Error("the re-opened conversation is not among the open ones")
		}
		if got := e.counts(t); got.Archived != before.Archived-1 || got.Events != before.Events+1 {
			t.Errorf("counts %+v -> %+v: want one fewer archived conversation, one more event", before, got)
		}

		e.wantStaleForm(t, patient, form, htmx, "That conversation is already open.", "re-opening twice")
	})
}
