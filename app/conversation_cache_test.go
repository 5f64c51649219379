package app

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"securemessages/realtime"
	"securemessages/store"
)

// csrfInput finds a page's masked CSRF token, which differs on every page.
var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// withoutToken is a page with its CSRF token replaced by a constant, so two renders compare.
func withoutToken(body string) string {
	if m := csrfInput.FindStringSubmatch(body); m != nil {
		return strings.ReplaceAll(body, m[1], "TOKEN")
	}
	return body
}

// TestConversationCacheMatchesFreshRender: after every kind of change, each viewer's lists, in
// every view, read the same from the server that keeps conversations as from one that keeps
// none (THREAD_CACHE_ENTRIES=0) over the same database. The keeping server has shown every list
// before each change, so a key that missed anything the change touched (the revision, the viewer,
// the list's query) would show the conversation as it was, or as another viewer sees it.
func TestConversationCacheMatchesFreshRender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.ThreadCache = 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := New(cfg, e.st, realtime.NewHub(nil, log), log)
	if err != nil {
		t.Fatal(err)
	}
	fresh := &env{app: f, st: e.st}

	viewers := map[string][]string{
		maria:                          {"/inbox", "/inbox?all=1"},
		tom:                            {"/inbox"},
		physician:                      {"/inbox", "/inbox?all=1", "/inbox?assigned=mine", "/inbox?assigned=unassigned"},
		"nurse@riverside.example":      {"/inbox", "/inbox?all=1"},
		"front.desk@riverside.example": {"/inbox?assigned=unassigned"},
	}
	clients := map[string]*client{}
	for email := range viewers {
		clients[email] = e.signIn(t, email)
	}
	compare := func(step string) {
		t.Helper()
		for email, paths := range viewers {
			kept := clients[email]
			other := *kept
			other.e = fresh
			for _, path := range paths {
				for _, htmx := range []bool{false, true} {
					a, b := kept.variant(htmx).get(t, path), other.variant(htmx).get(t, path)
					if a.Status != 200 || b.Status != 200 {
						t.Fatalf("%s: %s %s (htmx %v): %d and %d", step, email, path, htmx, a.Status, b.Status)
					}
					if withoutToken(a.Body) != withoutToken(b.Body) {
						t.Errorf("%s: %s %s (htmx %v) differs from a fresh render:\n%s\n-- fresh --\n%s",
							step, email, path, htmx, a.Body, b.Body)
					}
				}
			}
		}
	}

	ctx := context.Background()
	origin := store.Origin{RequestID: "test"}
	doctor := e.user(t, physician).Viewer()
	compare("the demo")
	sent := e.start(t, maria, "Itchy eyes since Sunday", "Worse in the morning.")
	compare("maria wrote")
	answer := e.reply(t, physician, sent.MessageID, "Try the drops and tell us on Friday.")
	compare("the physician answered")
	followUp := e.reply(t, maria, answer.MessageID, "Thank you, I will.")
	compare("maria followed up")
	if _, err := e.st.Cancel(ctx, e.user(t, maria).Viewer(), origin, followUp.MessageID); err != nil {
		t.Fatal(err)
	}
	compare("maria cancelled her follow-up")
	if _, err := e.st.Archive(ctx, doctor, origin, sent.ConversationID); err != nil {
		t.Fatal(err)
	}
	compare("the physician archived it")
	if _, err := e.st.Reopen(ctx, doctor, origin, sent.ConversationID); err != nil {
		t.Fatal(err)
	}
	compare("the physician re-opened it")
	if _, err := e.st.DB().ExecContext(ctx, `UPDATE users SET full_name = 'Dr. Amelia Chen-Okafor', initials = 'AO' WHERE email = $1`, physician); err != nil {
		t.Fatal(err)
	}
	compare("the physician's name changed")
}

// TestConversationCacheCutsOnlyAtTheToken: a kept conversation is cut where the page's CSRF
// token goes and nowhere else, even when a subject or a name holds the very letters the token
// was stood in for; kept and written out again with another page's token, it reads as rendered.
func TestConversationCacheCutsOnlyAtTheToken(t *testing.T) {
	t.Parallel()
	_, _, convs := testViews(t, 16)
	staff := store.Viewer{UserID: 3, PracticeID: 1, Role: store.RoleStaff}
	tricky := standIns[0] + " " + standIns[1]
	for _, token := range []string{"first-page-token", "second-page-token"} {
		iv := &InboxView{CSRFToken: token, Page: 1, Staff: true}
		nodes := sampleThread(staff, iv)
		nodes[0].Subject = tricky
		cv := &ConversationView{ID: testIDs.Conversation(1), Inbox: iv, PatientName: tricky, Messages: nodes,
			StateAction: stateAction(testIDs.Conversation(1), nodes[0].Actions, iv.Q())}
		if cv.StateAction == "" {
			t.Fatal("the sample conversation has no Archive form: there is no token to cut at")
		}
		key := conversationKey{id: 1, revision: 1, viewer: staff}
		cv.key = &key
		if kept, ok := convs.get(key); ok {
			cv.kept = kept
		}
		got, err := convs.HTML(cv)
		if err != nil {
			t.Fatal(err)
		}
		want, err := convs.render(cv, token)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("page with token %q: kept %v\n%s\nwant\n%s", token, cv.kept != nil, got, want)
		}
		if n := strings.Count(string(got), token); n != 1 {
			t.Errorf("page with token %q: the token is written %d times", token, n)
		}
	}
	if kept, _ := convs.get(conversationKey{id: 1, revision: 1, viewer: staff}); len(kept) != 2 {
		t.Errorf("kept in %d parts, want 2 (cut at the one token)", len(kept))
	}
}
