package app

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"securemessages/static"
	"securemessages/store"
	"securemessages/views"
)

// testViews loads the views as app.New does, with a thread cache of entries threads.
func testViews(tb testing.TB, entries int) (*views.Set, *threadCache, *conversationHTML) {
	tb.Helper()
	assets, err := static.Load()
	if err != nil {
		tb.Fatal(err)
	}
	threads, convs := newThreadCache(entries), newConversationHTML(entries)
	set, err := views.New(templateFuncs(assets, threads))
	if err != nil {
		tb.Fatal(err)
	}
	if err := threads.setViews(set); err != nil {
		tb.Fatal(err)
	}
	if err := convs.setViews(set); err != nil {
		tb.Fatal(err)
	}
	return set, threads, convs
}

func testThreadCache(t *testing.T, entries int) *threadCache {
	t.Helper()
	_, threads, _ := testViews(t, entries)
	return threads
}

// sampleThread is a first message with a follow-up and a reply under it, as the viewer sees it.
func sampleThread(v store.Viewer, iv *InboxView) []*MessageNode {
	now := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	root := &store.Message{ID: 11, ConversationID: 1, AuthorID: 7, AuthorRole: store.RolePatient, AuthorName: "Maria Lopez",
		AuthorInitials: "ML", Subject: "Refill <please> & thanks", CreatedAt: now.Add(-48 * time.Hour), ActedOn: true}
	root.Replies = []*store.Message{
		{ID: 12, ConversationID: 1, ParentID: 11, AuthorID: 3, AuthorRole: store.RoleStaff, AuthorName: "Dr. Amelia Chen",
			AuthorInitials: "AC", Subject: "Re: Refill", CreatedAt: now.Add(-time.Hour)},
		{ID: 13, ConversationID: 1, ParentID: 11, AuthorID: 7, AuthorRole: store.RolePatient, AuthorName: "Maria Lopez",
			AuthorInitials: "ML", Subject: "Also: \"my\" dose", CreatedAt: now.Add(-time.Minute)},
	}
	iv.ids = testIDs
	return []*MessageNode{buildNode(v, root, testIDs.Conversation(1), iv, iv.Q(), now, nil)}
}

// The cache answers exactly what a fresh render gives, for the same nodes in another list (another
// CSRF token, another view): partials/thread reads nothing but the nodes.
func TestThreadCacheMatchesFreshRender(t *testing.T) {
	t.Parallel()
	cached, fresh := testThreadCache(t, 16), testThreadCache(t, 0)
	patient := store.Viewer{UserID: 7, PracticeID: 1, Role: store.RolePatient}
	staff := store.Viewer{UserID: 3, PracticeID: 1, Role: store.RoleStaff}
	lists := []*InboxView{
		{CSRFToken: "first-token", Page: 1},
		{CSRFToken: "second-token", Page: 1, Staff: true, Assignment: store.AssignedToMe, Awaiting: 4},
		{CSRFToken: "third-token", Page: 3, ShowAll: true, Compose: &ComposeForm{Subject: "draft"}, LiveAfter: testIDs.Event(99)},
	}
	for _, v := range []store.Viewer{patient, staff} {
		first := sampleThread(v, lists[0])
		warm, err := cached.HTML(first)
		if err != nil {
			t.Fatal(err)
		}
		for _, iv := range lists {
			nodes := sampleThread(v, iv)
			got, err := cached.HTML(nodes)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.HTML(nodes)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("viewer %d, list %+v: the cache gave\n%s\nrendering gives\n%s", v.UserID, *iv, got, want)
			}
			if iv.Q() == lists[0].Q() && got != warm {
				t.Errorf("viewer %d: the same thread in the same view rendered differently", v.UserID)
			}
		}
	}
	// One entry per distinct thread: each viewer's, in each of the three views (their links differ).
	if n := cached.lru.Len(); n != 6 {
		t.Errorf("the cache holds %d threads, want 6", n)
	}
}

// A thread with a panel open renders the panel and is not kept.
func TestThreadCacheRendersOpenSlotsFresh(t *testing.T) {
	t.Parallel()
	threads := testThreadCache(t, 16)
	iv := &InboxView{CSRFToken: "token", Page: 1}
	nodes := sampleThread(store.Viewer{UserID: 7, PracticeID: 1, Role: store.RolePatient}, iv)
	nodes[0].Replies[1].Slot = &Slot{Kind: SlotCancel}
	html, err := threads.HTML(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "Cancel Message") || !strings.Contains(string(html), `value="token"`) {
		t.Errorf("the open cancel question is missing:\n%s", html)
	}
	if n := threads.lru.Len(); n != 0 {
		t.Errorf("a thread with an open panel was kept (%d entries)", n)
	}
}

// Every field of a message node (and of what it holds) takes part in the key, so no change to
// what a thread shows can find an older thread's HTML. A field added later is covered by this
// test as soon as it exists; one tagged out of the key fails it.
func TestThreadKeyCoversEveryField(t *testing.T) {
	t.Parallel()
	iv := &InboxView{CSRFToken: "token", Page: 1}
	base := sampleThread(store.Viewer{UserID: 7, PracticeID: 1, Role: store.RolePatient}, iv)
	baseKey := threadKey(base)
	skip := map[string]bool{"Slot": true, "Inbox": true} // never cached; not read by partials/thread
	var paths []string
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			p := path + "." + f.Name
			if typ == reflect.TypeFor[MessageNode]() && skip[f.Name] {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p)
				continue
			}
			paths = append(paths, p)
		}
	}
	walk(reflect.TypeFor[MessageNode](), "")
	for _, p := range paths {
		nodes := sampleThread(store.Viewer{UserID: 7, PracticeID: 1, Role: store.RolePatient}, iv)
		// Change the field on the last reply, deep in the tree.
		if !mutate(reflect.ValueOf(nodes[0].Replies[1]).Elem(), p[1:]) {
			t.Errorf("%s: a field of kind the test cannot change; teach mutate its kind", p)
			continue
		}
		if threadKey(nodes) == baseKey {
			t.Errorf("changing %s keeps the thread's cache key: a changed thread would show its old HTML", p)
		}
	}
}

// Threads that hold the same values in another arrangement get other keys: a character moved from
// one field to the next, a reply moved a level up.
func TestThreadKeyTellsArrangementsApart(t *testing.T) {
	t.Parallel()
	node := func(id int64, label, who string, replies ...*MessageNode) *MessageNode {
		return &MessageNode{ID: testIDs.Message(id), Flag: Flag{Label: label, Who: who}, Replies: replies}
	}
	pairs := []struct {
		name string
		a, b []*MessageNode
	}{
		{"a character moved between fields",
			[]*MessageNode{node(1, "ab", "c")}, []*MessageNode{node(1, "a", "bc")}},
		{"a reply moved a level up",
			[]*MessageNode{node(1, "s", "w", node(2, "s", "w", node(3, "s", "w")))},
			[]*MessageNode{node(1, "s", "w", node(2, "s", "w"), node(3, "s", "w"))}},
		{"a reply made a thread of its own",
			[]*MessageNode{node(1, "s", "w", node(2, "s", "w"))},
			[]*MessageNode{node(1, "s", "w"), node(2, "s", "w")}},
	}
	for _, p := range pairs {
		if threadKey(p.a) == threadKey(p.b) {
			t.Errorf("%s: both threads have one key", p.name)
		}
	}
}

// mutate changes the field at the dotted path of v; false for a kind it does not know.
func mutate(v reflect.Value, path string) bool {
	name, rest, _ := strings.Cut(path, ".")
	f := v.FieldByName(name)
	if rest != "" {
		return mutate(f, rest)
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Int, reflect.Int64:
		f.SetInt(f.Int() + 1)
	case reflect.Slice:
		f.Set(reflect.Append(f, reflect.New(f.Type().Elem().Elem())))
	default:
		return false
	}
	return true
}
