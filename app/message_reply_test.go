package app

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// replyFormFor opens the Reply or Send Follow-Up form under a message, as the page gives it.
func replyFormFor(t *testing.T, c *client, id int64) url.Values {
	t.Helper()
	return slotForm(t, c, id, "reply").FormValues()
}

// newestBy is the newest message by author in a conversation, as the store has it.
func (e *env) newestBy(t *testing.T, viewerEmail string, convID int64) *store.Message {
	t.Helper()
	conv, err := e.st.Conversation(t.Context(), e.user(t, viewerEmail).Viewer(), convID)
	if err != nil {
		t.Fatal(err)
	}
	var newest *store.Message
	for m := range everyMessage(conv.Messages) {
		if newest == nil || m.ID > newest.ID {
			newest = m
		}
	}
	return newest
}

func TestReplySend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		parent     func(m demoInbox) *store.Message
		own        string // the subject typed, "" for none
		subject    string // the subject the message carries
		dflt       string // the one it carries without its own, the form's placeholder
		cancelGone bool   // the parent loses Cancel once answered
	}{
		{"reply to the physician", func(m demoInbox) *store.Message { return m.refillDr }, "", subjReRefil, subjReRefil, false},
		{"follow-up to her own", func(m demoInbox) *store.Message { return m.lab }, "", "Re: " + subjLab, "Re: " + subjLab, true},
		{"reply with a subject of its own", func(m demoInbox) *store.Message { return m.refillDr },
			"My home readings", "My home readings", subjReRefil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			both(t, func(t *testing.T, htmx bool) {
				e := newEnv(t)
				m := e.mariasInbox(t)
				parent := tc.parent(m)
				patient := e.signIn(t, maria).variant(htmx)
				before := e.counts(t)
				shown := slotForm(t, patient, parent.ID, "reply")
				if subject := shown.Input("subject"); subject == nil || subject.Attr["value"] != "" || subject.Attr["placeholder"] != tc.dflt {
					t.Errorf("the form's subject %v: want it empty, with the placeholder %q", subject, tc.dflt)
				}
				form := shown.FormValues()
				form.Set("subject", tc.own)
				form.Set("body", "Thank you, that works for me.")
				form.Set("consent", "yes")
				inbox := after(t, patient, patient.sendForm(t, "/messages/"+e.mid(parent.ID)+"/replies", form), "/inbox?notice=sent")

				if got := notice(t, inbox); got != "Your message was sent." {
					t.Errorf("notice %q", got)
				}
				sent := e.newestBy(t, maria, parent.ConversationID)
				if sent.ParentID != parent.ID || sent.Subject != tc.subject {
					t.Fatalf("newest message %+v: want a reply to %d titled %q", sent, parent.ID, tc.subject)
				}
				li := e.messageLI(inbox, sent.ID)
				if li == nil || !e.messageLI(inbox, parent.ID).Contains(li) {
					t.Fatalf("the reply is not shown nested under message %d", parent.ID)
				}
				if flag := li.First(func(n *htmltest.Node) bool { return n.HasClass("flag") }); !flag.HasClass("me") {
					t.Error("the reply is not flagged Me")
				}
				if row := li.First(func(n *htmltest.Node) bool { return n.HasClass("subject") }); row == nil || row.TextContent() != tc.subject {
					t.Errorf("the reply's row shows %v, want the subject %q", row, tc.subject)
				}
				// It is the newest activity: its thread goes to the top.
				if ids := e.conversationIDs(t, inbox); len(ids) == 0 || ids[0] != parent.ConversationID {
					t.Errorf("conversations %v: the answered thread %d is not first", ids, parent.ConversationID)
				}
				if got := actions(t, li); !slices.Contains(got, "Cancel") {
					t.Errorf("a new reply nobody acted on cannot be cancelled: %q", got)
				}
				if tc.cancelGone && slices.Contains(actions(t, e.messageLI(inbox, parent.ID)), "Cancel") {
					t.Error("a message with a follow-up under it can still be cancelled")
				}
				got := e.counts(t)
				if got.Messages != before.Messages+1 || got.Events != before.Events+1 || got.Conversations != before.Conversations {
					t.Errorf("counts %+v -> %+v: want one more message and event", before, got)
				}
			})
		})
	}
}

func TestReplySendRefused(t *testing.T) {
	t.Parallel()
	const typed = "Here is what I typed, and want to keep."
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, e *env, m demoInbox, form url.Values)
		status  int
		problem string
	}{
		{"empty", func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("body", "  ") }, http.StatusUnprocessableEntity,
			"Message is required."},
		{"over 4000", func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("body", strings.Repeat("b", 4001)) },
			http.StatusUnprocessableEntity, "Message must be at most 4000 characters (it is 4001)."},
		{"subject over 150", func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("subject", strings.Repeat("s", 151)) },
			http.StatusUnprocessableEntity, "Subject must be at most 150 characters (it is 151)."},
		{"no consent", func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Del("consent") }, http.StatusUnprocessableEntity,
			"Riverside Family Medicine charges $25.00 for message time: tick the box to agree before sending."},
		{"over the send limit", func(t *testing.T, e *env, m demoInbox, f url.Values) {
			e.st.LimitSends(store.SendLimits{Messages: 2, Window: 10 * time.Minute})
			e.start(t, maria, "First of two", "The limit counts this")
			e.start(t, maria, "Second of two", "and this")
		}, http.StatusTooManyRequests, "For anything urgent, call Riverside Family Medicine."},
		{"archived meanwhile", func(t *testing.T, e *env, m demoInbox, f url.Values) {
			if _, err := e.st.Archive(t.Context(), e.user(t, physician).Viewer(), store.Origin{}, m.refill.ConversationID); err != nil {
				t.Fatal(err)
			}
		}, http.StatusConflict, "This conversation can no longer be answered here: it was archived or the message was removed. Your text is kept below; Re-Open the conversation to send it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			both(t, func(t *testing.T, htmx bool) {
				e := newEnv(t)
				m := e.mariasInbox(t)
				patient := e.signIn(t, maria).variant(htmx)
				form := replyFormFor(t, patient, m.refillDr.ID)
				form.Set("body", typed)
				form.Set("consent", "yes")
				tc.prepare(t, e, m, form)
				before := e.counts(t)
				r := patient.sendForm(t, "/messages/"+e.mid(m.refillDr.ID)+"/replies", form)
				wantStatus(t, r, tc.status)
				slot := e.slotOf(t, r, htmx, m.refillDr.ID)
				if got := e.counts(t); got != before {
					t.Errorf("a refused reply changed the database: %+v -> %+v", before, got)
				}
				if alert := slot.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" }); alert == nil ||
					!strings.Contains(alert.TextContent(), tc.problem) {
					t.Errorf("the form does not say %q:\n%s", tc.problem, slot.TextContent())
				}
				kept := slot.First(htmltest.Tag("form")).FormValues()
				for _, field := range []string{"subject", "body", "consent", "submit_key"} {
					if kept.Get(field) != form.Get(field) {
						t.Errorf("%s not kept: sent %.40q, form has %.40q", field, form.Get(field), kept.Get(field))
					}
				}
			})
		})
	}
}

// TestFlagsNameTheAuthor: in a deep thread whose rows share one subject, every row's flag names
// its author on hover (title) and to assistive technology (its visually hidden text): the
// author's full name for the care team's, "Sent by you" for the viewer's own.
func TestFlagsNameTheAuthor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	inbox := inboxOf(t, e.signIn(t, maria).get(t, "/inbox"), false)
	conv, err := e.st.Conversation(t.Context(), e.user(t, maria).Viewer(), m.refill.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	me := e.user(t, maria).ID
	rows := 0
	for msg := range everyMessage(conv.Messages) {
		rows++
		want := "From " + msg.AuthorName
		if msg.AuthorID == me {
			want = "Sent by you"
		}
		flag := e.messageLI(inbox, msg.ID).First(func(n *htmltest.Node) bool { return n.HasClass("flag") })
		hidden := flag.First(func(n *htmltest.Node) bool { return n.HasClass("visually-hidden") })
		if flag.Attr["title"] != want || hidden == nil || hidden.TextContent() != want {
			t.Errorf("message %d by %s: flag title %q, hidden text %v; want both %q", msg.ID, msg.AuthorName, flag.Attr["title"], hidden, want)
		}
	}
	if rows < 5 {
		t.Errorf("the thread has %d messages, want the demo's five levels", rows)
	}
}
