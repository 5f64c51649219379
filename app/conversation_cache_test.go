package app

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"securemessages/realtime"
	"securemessages/static"
	"securemessages/store"
	"securemessages/views"
)

// testViews loads the views as app.New does, with a conversation cache of entries conversations.
func testViews(tb testing.TB, entries int) (*views.Set, *conversationHTML) {
	tb.Helper()
	assets, err := static.Load()
	if err != nil {
		tb.Fatal(err)
	}
	set, err := views.New(templateFuncs(assets))
	if err != nil {
		tb.Fatal(err)
	}
	convs := newConversationHTML(entries)
	if err := convs.setViews(set); err != nil {
		tb.Fatal(err)
	}
	return set, convs
}

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
// none (CACHE_ENTRIES=0) over the same database. The keeping server has shown every list
// before each change, so a key that missed anything the change touched (the revision, the viewer,
// the list's query) would show the conversation as it was, or as another viewer sees it.
func TestConversationCacheMatchesFreshRender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.CacheEntries = 0
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

// TestConversationCacheHoldsNoPageSecret: a kept conversation holds nothing of the page it was
// first shown on. The same list shown in two sessions of one viewer (two CSRF tokens) writes
// every conversation with the very same bytes, which are what the cache keeps, and no kept entry
// holds either page's token: the page writes it in the inbox's own form.
func TestConversationCacheHoldsNoPageSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var pages []string
	var tokens []string
	for _, c := range []*client{e.signIn(t, maria), e.signIn(t, maria)} {
		r := c.get(t, "/inbox?all=1")
		m := csrfInput.FindStringSubmatch(r.Body)
		if r.Status != 200 || m == nil {
			t.Fatalf("inbox: status %d, token %q", r.Status, m)
		}
		pages, tokens = append(pages, r.Body), append(tokens, m[1])
	}
	if tokens[0] == tokens[1] {
		t.Fatal("both pages carry one token: the test could not tell them apart")
	}
	kept := e.a.convs.lru.Values()
	if n := strings.Count(pages[0], `<li id="conversation-`); n < 2 || len(kept) != n {
		t.Fatalf("%d conversations kept, want the page's %d (two at least)", len(kept), n)
	}
	for _, h := range kept {
		if !strings.Contains(pages[0], string(h)) || !strings.Contains(pages[1], string(h)) {
			t.Errorf("a kept conversation is not what both pages wrote:\n%s", h)
		}
		for _, token := range tokens {
			if strings.Contains(string(h), token) {
				t.Errorf("a kept conversation holds a page's CSRF token:\n%s", h)
			}
		}
	}
	for i, page := range pages {
		form := `<form id="inbox-actions" method="post" hidden><input type="hidden" name="_csrf" value="` + tokens[i] + `">`
		if !strings.Contains(page, form) {
			t.Errorf("page %d has no inbox form with its own token", i+1)
		}
	}
}

// TestConversationCacheRendersOpenPanelsFresh: a list with a message's panel open (here the
// question before a cancel, whose form carries the page's token) shows the panel, and keeps
// nothing of it.
func TestConversationCacheRendersOpenPanelsFresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	r := patient.variant(false).get(t, "/messages/"+e.mid(m.lab.ID)+"/cancel")
	token := csrfInput.FindStringSubmatch(r.Body)
	if r.Status != 200 || !strings.Contains(r.Body, "Cancel Message") || token == nil {
		t.Fatalf("the cancel question: status %d, token %q\n%s", r.Status, token, r.Body)
	}
	if n := e.a.convs.lru.Len(); n != 0 {
		t.Errorf("a list with an open panel was kept (%d entries)", n)
	}
}
