package app

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// maria's demo inbox, by message.
type demoInbox struct {
	lab, checkup, refill, rash          *store.Message // first messages of her four threads
	refillDr, refillMe, refillRN, nurse *store.Message // the refill thread's replies, top to bottom
	rashRN                              *store.Message // the nurse's reply in the archived thread
}

func (e *env) mariasInbox(t *testing.T) demoInbox {
	t.Helper()
	return demoInbox{
		lab:      e.msg(t, maria, subjLab, maria),
		checkup:  e.msg(t, maria, subjCheckup, ""),
		refill:   e.msg(t, maria, subjRefill, maria),
		rash:     e.msg(t, maria, subjRash, maria),
		refillDr: e.msg(t, maria, subjReRefil, physician),
		refillMe: e.msg(t, maria, subjReRefil, maria),
		refillRN: e.msg(t, maria, subjReRefil, "nurse@riverside.example"),
		nurse:    e.msg(t, maria, subjReRefil, "nurse@riverside.example").Replies[0],
		rashRN:   e.msg(t, maria, "Re: "+subjRash, ""),
	}
}

// labels are the action labels the templates draw for a set of allowed actions, in their order.
func labels(a store.Actions) []string {
	var out []string
	for _, l := range []struct {
		on    bool
		label string
	}{
		{a.ShowDetails, "Show Details"}, {a.FollowUp, "Send Follow-Up"}, {a.Reply, "Reply"},
		{a.Archive, "Archive"}, {a.Reopen, "Re-Open"}, {a.Cancel, "Cancel"},
	} {
		if l.on {
			out = append(out, l.label)
		}
	}
	return out
}

func TestInboxShow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	both(t, func(t *testing.T, htmx bool) {
		r := patient.variant(htmx).get(t, "/inbox")
		wantStatus(t, r, http.StatusOK)
		inbox := inboxOf(t, r, htmx)

		// Open threads only, newest activity first.
		want := []int64{m.lab.ConversationID, m.checkup.ConversationID, m.refill.ConversationID}
		if got := e.conversationIDs(t, inbox); !slices.Equal(got, want) {
			t.Errorf("conversations %v, want %v (lab, check-up, refill)", got, want)
		}
		if strings.Contains(r.Body, subjRash) {
			t.Error("the archived thread is listed without Show All Conversations")
		}
		// Subject and date only: no message text until Show Details.
		if strings.Contains(r.Body, "lisinopril") || strings.Contains(r.Body, "cholesterol") {
			t.Error("message text shown in the list")
		}
		// Nothing of another patient's.
		if strings.Contains(r.Body, "Trouble sleeping") {
			t.Error("another patient's conversation is listed")
		}

		// Replies nest under what they answer, several levels deep.
		chain := []*store.Message{m.refill, m.refillDr, m.refillMe, m.refillRN, m.nurse}
		for i := 1; i < len(chain); i++ {
			parent, child := e.messageLI(inbox, chain[i-1].ID), e.messageLI(inbox, chain[i].ID)
			if parent == nil || child == nil {
				t.Fatalf("message %d or %d not shown", chain[i-1].ID, chain[i].ID)
			}
			if !parent.Contains(child) || child.Contains(parent) {
				t.Errorf("message %d is not nested under %d", chain[i].ID, chain[i-1].ID)
			}
		}
		if e.messageLI(inbox, m.refillDr.ID).Contains(e.messageLI(inbox, m.checkup.ID)) {
			t.Error("threads are nested in each other")
		}

		// Flags: red "Me" for her own, blue initials for the care team.
		for _, f := range []struct {
			msg   *store.Message
			text  string
			class string
			label string
		}{
			{m.lab, "Me", "me", "Sent by you"},
			{m.refillMe, "Me", "me", "Sent by you"},
			{m.refillDr, "AC", "them", "From Dr. Amelia Chen"},
			{m.refillRN, "JP", "them", "From Jordan Patel, RN"},
			{m.checkup, "SR", "them", "From Sam Rivera"},
		} {
			flag := e.messageLI(inbox, f.msg.ID).First(func(n *htmltest.Node) bool { return n.HasClass("flag") })
			if flag == nil || !flag.HasClass(f.class) || !strings.HasPrefix(flag.TextContent(), f.text+" ") ||
				!strings.Contains(flag.TextContent(), f.label) {
				t.Errorf("message %d flag: want %q (class %s, %q)", f.msg.ID, f.text, f.class, f.label)
			}
		}

		// The actions each message offers, exactly.
		for _, a := range []struct {
			name string
			msg  *store.Message
			want []string
		}{
			{"her un-acted message", m.lab, []string{"Show Details", "Send Follow-Up", "Archive", "Cancel"}},
			{"front desk's message", m.checkup, []string{"Show Details", "Reply", "Archive"}},
			{"her answered message", m.refill, []string{"Show Details", "Send Follow-Up", "Archive"}},
			{"physician's reply", m.refillDr, []string{"Show Details", "Reply", "Archive"}},
			{"her answered reply", m.refillMe, []string{"Show Details", "Send Follow-Up", "Archive"}},
			{"nurse's follow-up", m.nurse, []string{"Show Details", "Reply", "Archive"}},
		} {
			if got := actions(t, e.messageLI(inbox, a.msg.ID)); !slices.Equal(got, a.want) {
				t.Errorf("%s: actions %q, want %q", a.name, got, a.want)
			}
		}

		toggle := inbox.First(htmltest.TagText("a", "Show All Conversations"))
		if toggle == nil || toggle.Attr["href"] != "/inbox?all=1" || toggle.Attr["hx-get"] != "/inbox?all=1" {
			t.Errorf("no Show All Conversations link to /inbox?all=1")
		}
		compose := inbox.First(htmltest.TagText("a", "Compose Message"))
		if compose == nil || compose.Attr["href"] != "/messages/new" || !compose.HasClass("btn-go") {
			t.Errorf("no green Compose Message button")
		}
		if !htmx && !strings.Contains(r.Body, "For non-urgent requests only.") {
			t.Error("the non-urgent notice is missing")
		}
		if i := strings.Index(r.Body, "\n "); i >= 0 {
			t.Errorf("the templates' indentation is sent: %q", r.Body[max(0, i-40):min(len(r.Body), i+40)])
		}
	})
}

func TestInboxShowAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	both(t, func(t *testing.T, htmx bool) {
		r := patient.variant(htmx).get(t, "/inbox?all=1")
		wantStatus(t, r, http.StatusOK)
		inbox := inboxOf(t, r, htmx)
		want := []int64{m.lab.ConversationID, m.checkup.ConversationID, m.refill.ConversationID, m.rash.ConversationID}
		if got := e.conversationIDs(t, inbox); !slices.Equal(got, want) {
			t.Errorf("conversations %v, want %v (lab, check-up, refill, rash)", got, want)
		}
		for _, id := range want {
			li := inbox.ByID("conversation-" + e.cid(id))
			if archived := li.HasClass("archived"); archived != (id == m.rash.ConversationID) {
				t.Errorf("conversation %d drawn archived=%t", id, archived)
			}
		}
		// An archived thread can only be read and re-opened.
		for _, msg := range []*store.Message{m.rash, m.rashRN} {
			if got, want := actions(t, e.messageLI(inbox, msg.ID)), []string{"Show Details", "Re-Open"}; !slices.Equal(got, want) {
				t.Errorf("archived message %d: actions %q, want %q", msg.ID, got, want)
			}
		}
		toggle := inbox.First(htmltest.TagText("a", "Show Open Conversations"))
		if toggle == nil || toggle.Attr["href"] != "/inbox" {
			t.Errorf("no Show Open Conversations link back to /inbox")
		}
		if inbox.First(htmltest.TagText("a", "Show All Conversations")) != nil {
			t.Error("Show All Conversations offered while showing all")
		}
		// Links and forms keep the view.
		details := e.messageLI(inbox, m.lab.ID).First(htmltest.TagText("a", "Show Details"))
		if details.Attr["href"] != "/messages/"+e.mid(m.lab.ID)+"?all=1" {
			t.Errorf("Show Details links to %q, losing ?all=1", details.Attr["href"])
		}
		reopen := e.actionForm(t, inbox, m.rash.ID, "Re-Open")
		if want := "/conversations/" + e.cid(m.rash.ConversationID) + "/reopen?all=1"; reopen.Attr["action"] != want || reopen.Attr["hx-post"] != want {
			t.Errorf("the Re-Open form posts to %q (htmx %q), want %q, which keeps ?all=1", reopen.Attr["action"], reopen.Attr["hx-post"], want)
		}
	})
}

// Every message the inbox draws offers exactly the actions store.Allowed gives it, for a patient
// and for staff: the templates decide nothing themselves.
func TestInboxActionsAreAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, email := range []string{maria, physician} {
		c := e.signIn(t, email)
		v := e.user(t, email).Viewer()
		list, err := e.st.Inbox(t.Context(), v, store.InboxFilter{IncludeArchived: true})
		if err != nil {
			t.Fatal(err)
		}
		inbox := inboxOf(t, c.get(t, "/inbox?all=1"), false)
		seen := 0
		for _, conv := range list {
			for msg := range everyMessage(conv.Messages) {
				seen++
				li := e.messageLI(inbox, msg.ID)
				if li == nil {
					t.Errorf("%s: message %d not shown", email, msg.ID)
					continue
				}
				if got, want := actions(t, li), labels(store.Allowed(v, msg.Facts())); !slices.Equal(got, want) {
					t.Errorf("%s: message %d actions %q, Allowed says %q", email, msg.ID, got, want)
				}
			}
		}
		if shown := len(inbox.All(func(n *htmltest.Node) bool { return strings.HasPrefix(n.Attr["id"], "message-") })); shown != seen || seen == 0 {
			t.Errorf("%s: %d messages shown, the store has %d", email, shown, seen)
		}
	}
}

// Signed out, a page sends you to sign in, and a change is refused without doing anything. Every
// route in the table is tried: the inbox's exactly as below, any other (sign-in steps, account
// pages) at least never served.
func TestSignedOutIsSentToSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	before := e.counts(t)
	for _, route := range e.app.GetRoutes(true) {
		if (route.Method != http.MethodGet && route.Method != http.MethodPost) || publicRoutes[route.Method+" "+route.Path] {
			continue
		}
		path := strings.ReplaceAll(route.Path, ":id", e.mid(m.lab.ID))
		inbox := route.Path == "/inbox" || strings.HasPrefix(route.Path, "/messages") || strings.HasPrefix(route.Path, "/conversations")
		t.Run(route.Method+" "+route.Path, func(t *testing.T) {
			both(t, func(t *testing.T, htmx bool) {
				var r *response
				if route.Method == http.MethodGet {
					r = e.anon().variant(htmx).get(t, path)
				} else {
					r = e.anon().variant(htmx).send(t, "POST", path, anyForm())
				}
				switch {
				case inbox && route.Method == http.MethodGet && htmx:
					// htmx would swap a sign-in page into the inbox: it is told to go there instead.
					wantStatus(t, r, http.StatusUnauthorized)
					if r.Header.Get("HX-Redirect") != "/signin" {
						t.Errorf("HX-Redirect %q, want /signin", r.Header.Get("HX-Redirect"))
					}
				case inbox && route.Method == http.MethodGet:
					wantRedirect(t, r, "/signin")
				case inbox:
					wantNotice(t, r, htmx, http.StatusUnauthorized, "Please sign in again")
				default:
					sent := (r.Status == http.StatusSeeOther && r.Header.Get("Location") == "/signin") ||
						r.Header.Get("HX-Redirect") == "/signin" || r.Status == http.StatusUnauthorized
					if !sent {
						t.Errorf("signed out: status %d, Location %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
					}
				}
			})
		})
	}
	t.Cleanup(func() {
		if after := e.counts(t); after != before {
			t.Errorf("signed-out requests changed the database: %+v -> %+v", before, after)
		}
	})
}

// publicRoutes need no session.
var publicRoutes = map[string]bool{"GET /healthz": true, "GET /static/+": true, "GET /": true, "GET /signin": true, "POST /signin": true,
	"GET /unsubscribe/:token": true, "POST /unsubscribe/:token": true,
	"GET /password/forgot": true, "POST /password/forgot": true, "GET /password/reset/:token": true, "POST /password/reset/:token": true,
	"GET /invitations/:token": true, "POST /invitations/:token": true}

// anyForm is a form that every POST route would accept from Maria: a whole compose form, a
// reply body, consent, her credentials.
func anyForm() url.Values {
	return url.Values{
		"subject": {"A new question"}, "body": {"Some words"}, "consent": {"yes"},
		"submit_key": {"4b1c1bde-3f5b-4a43-9b4f-0f6a3e0a2c11"},
		"email":      {maria}, "password": {store.DemoPassword},
	}
}

// internalID finds what would give away an internal id: a number where a page names a message,
// conversation, person or event (links, DOM ids, the form's choices, the live stream's after=).
var internalID = regexp.MustCompile(`/(messages|conversations)/\d+\b[^-_A-Za-z]|` +
	`\b(message|slot|conversation|state|body|consent)-\d+\b[^-_A-Za-z]|after=\d+\b[^-_A-Za-z]|<option value="\d+"`)

// publicID is a public id where a page names something.
var publicID = regexp.MustCompile(`(/messages/|/conversations/|(message|slot|conversation|state)-|<option value=")[-_A-Za-z0-9]{22}\b`)

// No page or fragment a patient or staff member is shown holds an internal id; each shows the
// public ones instead. An internal id would let anyone who sees two of them count the
// practice's, and every other practice's, messages in between.
func TestPagesHoldNoInternalIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	for _, who := range []struct {
		email string
		paths []string
	}{
		{maria, []string{"/inbox", "/inbox?all=1", "/messages/new", "/messages/" + e.mid(m.lab.ID),
			"/messages/" + e.mid(m.refillDr.ID) + "/reply", "/messages/" + e.mid(m.lab.ID) + "/cancel",
			"/messages/" + e.mid(m.lab.ID) + "/slot", "/inbox?live=1&after=" + e.ids.Event(0)}},
		{physician, []string{"/inbox", "/inbox?all=1", "/messages/new", "/messages/" + e.mid(m.lab.ID)}},
	} {
		c := e.signIn(t, who.email)
		for _, path := range who.paths {
			for _, htmx := range []bool{false, true} {
				r := c.variant(htmx).get(t, path)
				wantStatus(t, r, http.StatusOK)
				if found := internalID.FindAllString(r.Body, 5); found != nil {
					t.Errorf("%s %s (htmx %t) shows internal ids %q", who.email, path, htmx, found)
				}
				if !publicID.MatchString(r.Body) {
					t.Errorf("%s %s (htmx %t) shows no public id at all: the test sees nothing", who.email, path, htmx)
				}
			}
		}
	}
}
