package app

import (
	"net/http"
	"strings"
	"testing"

	"securemessages/views/htmltest"
)

// cancelForm is the confirmation form under a message, as the page gives it.
func cancelFormFor(t *testing.T, c *client, id int64) *htmltest.Node {
	t.Helper()
	r := c.variant(false).get(t, "/messages/"+c.e.mid(id)+"/cancel")
	wantStatus(t, r, http.StatusOK)
	form := r.doc(t).ByID("slot-" + c.e.mid(id)).First(htmltest.Tag("form"))
	if form == nil {
		t.Fatalf("no confirmation form under message %d", id)
	}
	return form
}

func TestMessageCancel(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		before := e.counts(t)
		form := cancelFormFor(t, patient, m.lab.ID)
		inbox := after(t, patient, patient.sendForm(t, form.Attr["action"], form.FormValues()), "/inbox?notice=cancelled")

		if got := notice(t, inbox); got != "Your message was cancelled and deleted." {
			t.Errorf("notice %q", got)
		}
		if e.messageLI(inbox, m.lab.ID) != nil || strings.Contains(inbox.TextContent(), subjLab) {
			t.Error("the cancelled message is still listed")
		}
		// The first message cancelled, the conversation goes with it, for both sides.
		got := e.counts(t)
		if got.Messages != before.Messages-1 || got.Conversations != before.Conversations-1 || got.Events != before.Events+1 {
			t.Errorf("counts %+v -> %+v: want one message and its conversation gone, one event", before, got)
		}
		for _, email := range []string{maria, physician} {
			if _, err := e.st.Conversation(t.Context(), e.user(t, email).Viewer(), m.lab.ConversationID); err == nil {
				t.Errorf("%s still sees the cancelled conversation", email)
			}
		}
	})
}

// Cancelling a later message leaves the conversation and what it answered.
func TestMessageCancelFollowUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	sent := e.reply(t, maria, m.checkup.ID, "Any Tuesday morning works for me.")
	patient := e.signIn(t, maria)
	form := cancelFormFor(t, patient, sent.MessageID)
	inbox := after(t, patient, patient.sendForm(t, form.Attr["action"], form.FormValues()), "/inbox?notice=cancelled")
	if e.messageLI(inbox, sent.MessageID) != nil {
		t.Error("the cancelled follow-up is still listed")
	}
	if e.messageLI(inbox, m.checkup.ID) == nil {
		t.Error("the message it answered went with it")
	}
}

func TestMessageCancelRefused(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		form := cancelFormFor(t, patient, m.lab.ID)
		// The physician answers while the question is on Maria's screen.
		answer := e.reply(t, physician, m.lab.ID, "Your LDL is a little high; let us talk at your visit.")
		before := e.counts(t)

		r := patient.sendForm(t, form.Attr["action"], form.FormValues())
		wantStatus(t, r, http.StatusConflict)
		inbox := inboxOf(t, r, htmx)
		if got := notice(t, inbox); got != cancelRefused {
			t.Errorf("notice %q, want %q", got, cancelRefused)
		}
		if got := e.counts(t); got.Messages != before.Messages || got.Conversations != before.Conversations || got.Events != before.Events {
			t.Errorf("a refused cancel changed the database: %+v -> %+v", before, got)
		}
		// Both messages are still there, the reply nested under the question, and no Cancel now.
		q, a := e.messageLI(inbox, m.lab.ID), e.messageLI(inbox, answer.MessageID)
		if q == nil || a == nil || !q.Contains(a) {
			t.Fatal("the question and its answer are not both shown, nested")
		}
		for _, label := range actions(t, q) {
			if label == "Cancel" {
				t.Error("Cancel is still offered on an answered message")
			}
		}
	})
}
