package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// newCount is what is new to the demo user email, as the store counts it.
func (e *env) newCount(t *testing.T, email string) int {
	t.Helper()
	n, err := e.st.NewCount(t.Context(), e.user(t, email).Viewer(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCount checks the heading's count and, on a page, the title's: "(n new)", or none for 0.
func wantCount(t *testing.T, r *response, htmx bool, n int) {
	t.Helper()
	want := ""
	if n > 0 {
		want = fmt.Sprintf(" (%d new)", n)
	}
	d := r.doc(t)
	count := d.ByID("new-count")
	if count == nil {
		t.Fatalf("no #new-count in the answer:\n%s", r.Body)
	}
	if got := count.TextContent(); got != strings.TrimSpace(want) || count.Attr["data-count"] != fmt.Sprint(n) {
		t.Errorf("heading count %q (data-count %q), want %q", got, count.Attr["data-count"], want)
	}
	if htmx {
		if _, oob := count.Attr["hx-swap-oob"]; !oob {
			t.Error("the fragment's count is not swapped out of band")
		}
		return
	}
	if title := d.First(htmltest.Tag("title")).TextContent(); !strings.HasSuffix(title, "Secure Messages"+want) {
		t.Errorf("title %q, want it to end %q", title, "Secure Messages"+want)
	}
}

// wantNew checks whether message id is drawn new: the row's class, and "New" said in its summary.
func (e *env) wantNew(t *testing.T, inbox *htmltest.Node, id int64, want bool) {
	t.Helper()
	li := e.messageLI(inbox, id)
	if li == nil {
		t.Fatalf("message %d not shown", id)
	}
	summary := li.First(htmltest.Tag("summary"))
	said := strings.Contains(summary.TextContent(), "New:")
	if li.HasClass("new") != want || said != want {
		t.Errorf("message %d: class new %v, says New %v; want %v", id, li.HasClass("new"), said, want)
	}
}

// receipt is the receipt line drawn under message id ("" for none).
func (e *env) receipt(inbox *htmltest.Node, id int64) string {
	li := e.messageLI(inbox, id)
	for _, k := range li.Kids {
		if k.Tag == "p" && k.HasClass("receipt") {
			return k.TextContent()
		}
	}
	return ""
}

// The care team's reply is new to the patient until she opens it, page or fragment; the counts
// follow, and her message shows that the care team read it once someone on staff opened it.
func TestReadMarks(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria)
		staff := e.signIn(t, "nurse@riverside.example")
		n := e.newCount(t, maria)
		if n == 0 {
			t.Fatal("the demo has nothing new for her: the test proves nothing")
		}
		page := patient.get(t, "/inbox?all=1")
		inbox := inboxOf(t, page, false)
		wantCount(t, page, false, n)
		e.wantNew(t, inbox, m.refillDr.ID, true)
		e.wantNew(t, inbox, m.lab.ID, false) // her own
		if got := e.receipt(inbox, m.lab.ID); got != "Sent" {
			t.Errorf("her unread message says %q, want Sent", got)
		}

		wantStatus(t, patient.variant(htmx).get(t, "/messages/"+e.mid(m.refillDr.ID)), http.StatusOK)
		r := patient.variant(htmx).get(t, "/inbox?all=1")
		wantCount(t, r, htmx, n-1)
		e.wantNew(t, inboxOf(t, r, htmx), m.refillDr.ID, false)

		// The nurse opens her message: named to staff, "the care team" (and who) to her.
		staffCount := e.newCount(t, "nurse@riverside.example")
		wantStatus(t, staff.variant(htmx).get(t, "/messages/"+e.mid(m.lab.ID)), http.StatusOK)
		r = staff.variant(htmx).get(t, "/inbox?all=1")
		wantCount(t, r, htmx, staffCount-1)
		if got := e.receipt(inboxOf(t, r, htmx), m.lab.ID); !strings.HasPrefix(got, "Read by Jordan Patel, RN · ") {
			t.Errorf("staff see %q on her message", got)
		}
		got := e.receipt(inboxOf(t, patient.variant(htmx).get(t, "/inbox?all=1"), htmx), m.lab.ID)
		if !strings.HasPrefix(got, "Read by the care team · ") || !strings.HasSuffix(got, "(Jordan Patel, RN)") {
			t.Errorf("she sees %q on her message", got)
		}
	})
}

// Mark as Unread, on a message the viewer's side has opened, puts it back among the new ones,
// with or without JavaScript; again, it no longer applies. It is offered on nothing else.
func TestMessageUnread(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		m := e.mariasInbox(t)
		patient := e.signIn(t, maria).variant(htmx)
		inbox := inboxOf(t, patient.variant(false).get(t, "/inbox?all=1"), false)
		for _, id := range []int64{m.refillDr.ID, m.lab.ID} {
			if slices.Contains(actions(t, e.messageLI(inbox, id)), "Mark as Unread") {
				t.Errorf("message %d offers Mark as Unread before it is opened, or to its author", id)
			}
		}
		wantStatus(t, patient.variant(false).get(t, "/messages/"+e.mid(m.refillDr.ID)), http.StatusOK)
		n := e.newCount(t, maria)
		inbox = inboxOf(t, patient.variant(false).get(t, "/inbox"), false)
		form := e.actionForm(t, inbox, m.refillDr.ID, "Mark as Unread")
		if form.Attr["action"] != "/messages/"+e.mid(m.refillDr.ID)+"/unread" || form.FormValues().Get(csrfField) == "" {
			t.Fatalf("Mark as Unread posts to %q", form.Attr["action"])
		}
		before := e.counts(t)
		r := patient.sendForm(t, form.Attr["action"], form.FormValues())
		inbox = after(t, patient, r, "/inbox?notice=unread")
		if got := notice(t, inbox); got != "The message was marked as unread." {
			t.Errorf("notice %q", got)
		}
		e.wantNew(t, inbox, m.refillDr.ID, true)
		if got := e.newCount(t, maria); got != n+1 {
			t.Errorf("new count %d, want %d", got, n+1)
		}
		if htmx {
			wantCount(t, r, true, n+1)
		}
		if got := e.counts(t); got.Events != before.Events+1 || got.Messages != before.Messages {
			t.Errorf("counts %+v -> %+v: want one more event", before, got)
		}
		e.wantStaleForm(t, patient, form, htmx, "That message cannot be marked as unread: it is new already, or it is your side's own.", "marking unread twice")
	})
}

// Another patient's message cannot be marked unread by guessing its id.
func TestMessageUnreadForeign(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	if _, err := e.st.MessageDetails(t.Context(), e.user(t, maria).Viewer(), store.Origin{}, m.refillDr.ID); err != nil {
		t.Fatal(err)
	}
	tom := e.signIn(t, tom)
	before := e.counts(t)
	r := tom.post(t, "/messages/"+e.mid(m.refillDr.ID)+"/unread", nil)
	wantStatus(t, r, http.StatusNotFound)
	if got := e.counts(t); got != before {
		t.Errorf("counts %+v -> %+v", before, got)
	}
}
