package app

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// cancelRefusedText is what a cancel that no longer applies says, word for word (the tests spell
// it out, so that the product's text cannot go missing unnoticed).
const cancelRefusedText = "That message can no longer be cancelled: the care team has already acted on it, or it was archived."

func TestMessageCancel(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		before := e.counts(t)
		form := slotForm(t, patient, m.lab.ID, "cancel")
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
	form := slotForm(t, patient, sent.MessageID, "cancel")
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
		form := slotForm(t, patient, m.lab.ID, "cancel")
		// The physician answers while the question is on Maria's screen.
		answer := e.reply(t, physician, m.lab.ID, "Your LDL is a little high; let us talk at your visit.")
		before := e.counts(t)

		r := patient.sendForm(t, form.Attr["action"], form.FormValues())
		wantStatus(t, r, http.StatusConflict)
		inbox := inboxOf(t, r, htmx)
		if got := notice(t, inbox); got != cancelRefusedText {
			t.Errorf("notice %q, want %q", got, cancelRefusedText)
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

// A staff member may cancel a reply of their own that nobody has acted on (the rule table's
// staff/own/fresh row): it goes for both sides, and what it answered stays. A colleague may not:
// the practice's side is shared for follow-ups, not for cancelling.
func TestMessageCancelStaffOwnReply(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		answer := e.reply(t, physician, m.lab.ID, "Your results are fine; nothing to do.")

		// The nurse, a colleague, is refused, and nothing changes.
		nurse := e.signIn(t, "nurse@riverside.example").variant(htmx)
		before := e.counts(t)
		r := nurse.get(t, "/messages/"+e.mid(answer.MessageID)+"/cancel")
		wantStatus(t, r, http.StatusConflict)
		if got := notice(t, inboxOf(t, r, htmx)); got != cancelRefusedText {
			t.Errorf("a colleague's Cancel: notice %q, want %q", got, cancelRefusedText)
		}
		r = nurse.post(t, "/messages/"+e.mid(answer.MessageID)+"/cancel", url.Values{})
		wantStatus(t, r, http.StatusConflict)
		if got := notice(t, inboxOf(t, r, htmx)); got != cancelRefusedText {
			t.Errorf("a colleague's cancel: notice %q, want %q", got, cancelRefusedText)
		}
		if got := e.counts(t); got != before {
			t.Errorf("a colleague's refused cancel changed the database: %+v -> %+v", before, got)
		}

		// The physician who wrote it cancels it.
		staff := e.signIn(t, physician).variant(htmx)
		if got := actions(t, e.messageLI(inboxOf(t, staff.get(t, "/inbox"), htmx), answer.MessageID)); !slices.Contains(got, "Cancel") {
			t.Errorf("the physician's own fresh reply offers %q, want Cancel among them", got)
		}
		form := slotForm(t, staff, answer.MessageID, "cancel")
		before = e.counts(t)
		inbox := after(t, staff, staff.sendForm(t, form.Attr["action"], form.FormValues()), "/inbox?notice=cancelled")
		if got := notice(t, inbox); got != "Your message was cancelled and deleted." {
			t.Errorf("notice %q", got)
		}
		if e.messageLI(inbox, answer.MessageID) != nil {
			t.Error("the cancelled reply is still listed")
		}
		if e.messageLI(inbox, m.lab.ID) == nil {
			t.Error("the patient's question went with the reply")
		}
		got := e.counts(t)
		if got.Messages != before.Messages-1 || got.Conversations != before.Conversations || got.Events != before.Events+1 {
			t.Errorf("counts %+v -> %+v: want one message gone, the conversation kept, one event", before, got)
		}
		// Gone for the patient too.
		page := e.signIn(t, maria).get(t, "/inbox")
		wantStatus(t, page, http.StatusOK)
		if inbox := inboxOf(t, page, false); e.messageLI(inbox, answer.MessageID) != nil || e.messageLI(inbox, m.lab.ID) == nil {
			t.Error("the patient's inbox does not show her question without the cancelled reply")
		}
	})
}

// A message sent with "no response needed" is archived as it is sent, and that archive ends Cancel
// like any other (the rule table's own/archived/fresh row): the archived list does not offer it,
// and asking for it or posting it anyway is refused with the product's words and changes nothing.
func TestMessageCancelNoResponseNeeded(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		patient := e.signIn(t, maria).variant(htmx)
		u := e.user(t, maria)
		sent, err := e.st.StartConversation(t.Context(), u.Viewer(), store.Origin{RequestID: "test"}, store.NewConversation{
			Subject: "Blood pressure log for May", Body: "For your records.", NoResponseNeeded: true,
			BillingConsent: true, SubmitKey: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		all := inboxOf(t, patient.get(t, "/inbox?all=1"), htmx)
		li := e.messageLI(all, sent.MessageID)
		if li == nil {
			t.Fatal("the no-response-needed message is not in the archived list")
		}
		if got, want := actions(t, li), []string{"Show Details", "Re-Open"}; !slices.Equal(got, want) {
			t.Errorf("actions %q, want %q", got, want)
		}

		before := e.counts(t)
		path := "/messages/" + e.mid(sent.MessageID) + "/cancel"
		r := patient.get(t, path)
		wantStatus(t, r, http.StatusConflict)
		if got := notice(t, inboxOf(t, r, htmx)); got != cancelRefusedText {
			t.Errorf("asking to cancel: notice %q, want %q", got, cancelRefusedText)
		}
		r = patient.post(t, path, url.Values{})
		wantStatus(t, r, http.StatusConflict)
		if got := notice(t, inboxOf(t, r, htmx)); got != cancelRefusedText {
			t.Errorf("cancelling: notice %q, want %q", got, cancelRefusedText)
		}
		if got := e.counts(t); got != before {
			t.Errorf("a refused cancel changed the database: %+v -> %+v", before, got)
		}
		all = inboxOf(t, patient.get(t, "/inbox?all=1"), htmx)
		if e.messageLI(all, sent.MessageID) == nil {
			t.Error("the message is gone from the archived list after a refused cancel")
		}
		for _, email := range []string{maria, physician} {
			if _, err := e.st.Conversation(t.Context(), e.user(t, email).Viewer(), sent.ConversationID); err != nil {
				t.Errorf("%s: the conversation after a refused cancel: %v", email, err)
			}
		}
	})
}
