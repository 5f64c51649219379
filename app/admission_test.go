package app

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// TestAdmitQueuesTheRestAndSaysBusyKeepingTheForm holds the one slot of the real app, then
// checks what each kind of request does while it is held: the health check, the static files,
// the live stream and the sign-in skip the queue, however their address is spelt (Fiber's routes
// take any case and a trailing slash); a message sent waits, and once it has waited too long gets
// a 503 that sends nothing and keeps what was typed; given time, one goes through once the slot
// is let go. A request with another method than a route's waits like a page (routes.go).
func TestAdmitQueuesTheRestAndSaysBusyKeepingTheForm(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RequestSlots = 1
	e := newEnvWith(t, cfg)
	patient := e.signIn(t, maria)
	page := patient.get(t, "/inbox")
	asset := wantPage(t, page).First(htmltest.Tag("link")).Attr["href"]
	token := patient.token(t)
	// The test takes the one slot itself, as a long page would.
	if err := e.a.admission.slots.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		c            *client
		method, path string
		form         url.Values
		status       int
	}{
		{e.anon(), "GET", "/healthz", nil, fiber.StatusOK},
		{e.anon(), "GET", "/HEALTHZ", nil, fiber.StatusOK},
		{e.anon(), "GET", "/healthz/", nil, fiber.StatusOK},
		{e.anon(), "GET", asset, nil, fiber.StatusOK},
		{e.anon(), "GET", strings.Replace(asset, "/static/", "/Static/", 1), nil, fiber.StatusOK},
		// The stream's headers (HEAD opens no stream), and signed out, the way to sign in.
		{patient, "HEAD", "/events", nil, fiber.StatusOK},
		{patient, "HEAD", "/Events/", nil, fiber.StatusOK},
		{e.anon(), "GET", "/EVENTS", nil, fiber.StatusSeeOther},
		{e.anon(), "POST", "/signin", url.Values{"email": {tom}, "password": {"wrong"}}, fiber.StatusUnauthorized},
		{e.anon(), "POST", "/SignIn/", url.Values{"email": {tom}, "password": {"wrong"}}, fiber.StatusUnauthorized},
	} {
		if r := tc.c.send(t, tc.method, tc.path, tc.form); r.Status != tc.status {
			t.Errorf("%s %s while the slot is held: %d, want %d\n%s", tc.method, tc.path, r.Status, tc.status, r.Body)
		}
	}

	// From here on a request gives up after a short wait (so does a password check: it waits as
	// long, which is why the sign-ins above had the usual wait).
	e.a.admission.wait = 100 * time.Millisecond
	// Another method than the route's: it waits like a page, and gets the busy answer.
	for _, path := range []string{"/healthz", "/events"} {
		if r := patient.send(t, "POST", path, url.Values{csrfField: {token}}); r.Status != fiber.StatusServiceUnavailable {
			t.Errorf("POST %s while the slot is held: %d, want 503\n%s", path, r.Status, r.Body)
		}
	}

	form := url.Values{"subject": {"Knee pain"}, "body": {"It hurts when I climb stairs."}, "consent": {"yes"},
		"submit_key": {"0f2c8e4a-7d1b-4c55-9a36-2b8e6f1d4c70"}}
	before := e.counts(t)
	busy := patient.post(t, "/messages", form)
	if busy.Status != fiber.StatusServiceUnavailable || busy.Header.Get(fiber.HeaderRetryAfter) == "" {
		t.Fatalf("a message sent while every slot stayed busy: %d, Retry-After %q", busy.Status, busy.Header.Get(fiber.HeaderRetryAfter))
	}
	if after := e.counts(t); after != before {
		t.Fatalf("the busy server changed something: %+v -> %+v", before, after)
	}
	doc := busy.doc(t)
	if alert := doc.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" }); alert == nil ||
		!strings.Contains(alert.TextContent(), "nothing was sent") {
		t.Errorf("the busy page does not say nothing was sent:\n%s", busy.Body)
	}
	if kept := doc.ByID("kept-body"); kept == nil || kept.TextContent() != form.Get("body") {
		t.Errorf("the busy page does not keep what was typed:\n%s", busy.Body)
	}

	e.a.admission.wait = time.Minute
	queued := make(chan *response, 1)
	go func() { queued <- patient.post(t, "/messages", form) }()
	// It is in the queue once the queue has one waiter; until then, keep asking. Then it must
	// still be waiting a while later.
	deadline := time.Now().Add(10 * time.Second)
	for e.a.admission.waiters() != 1 {
		select {
		case r := <-queued:
			t.Fatalf("a message was answered %d while the slot was held", r.Status)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting for the slot, want the message's 1", e.a.admission.waiters())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-queued:
		t.Fatalf("a message was answered %d while the slot was held", r.Status)
	case <-time.After(50 * time.Millisecond):
	}
	e.a.admission.slots.Release(1)
	wantRedirect(t, <-queued, "/inbox?notice=sent")
	if after := e.counts(t); after.Messages != before.Messages+1 || after.Conversations != before.Conversations+1 {
		t.Errorf("the message waiting for the slot: %+v -> %+v, want one message sent", before, after)
	}
}

// TestSigninWaitsForTheHashingPoolNotForPages: with the password-hashing pool held, a sign-in
// whose wait runs out answers 503 with the sign-in form, the address kept and nothing counted;
// sign-ins waiting for the pool hold no request slot, so with one slot a page is still served
// while two of them wait; once the pool is let go they sign in. Not parallel: it holds the
// process's one hashing pool, which every other test's sign-ins share.
func TestSigninWaitsForTheHashingPoolNotForPages(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequestSlots = 1
	e := newEnvWith(t, cfg)
	patient := e.signIn(t, maria)
	release, err := store.HoldHashing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { release() }()
	before := e.counts(t)

	e.a.admission.wait = 100 * time.Millisecond
	busy := e.anon().send(t, "POST", "/signin", url.Values{"email": {tom}, "password": {store.DemoPassword}})
	wantStatus(t, busy, fiber.StatusServiceUnavailable)
	if busy.Header.Get(fiber.HeaderRetryAfter) == "" {
		t.Error("no Retry-After on the busy sign-in")
	}
	form := wantPage(t, busy).First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == "/signin" })
	if form == nil || form.Input("email").Attr["value"] != tom || form.Input("password").Attr["value"] != "" ||
		!strings.Contains(busy.Body, "Many people are signing in right now, so you are not signed in yet. Please enter your password and try again in a moment.") {
		t.Errorf("the busy sign-in page does not keep the address, or echoes the password, or does not say why:\n%s", busy.Body)
	}
	if c := busy.cookie("sid"); c != nil && c.Value != "" {
		t.Error("a busy sign-in set a session cookie")
	}
	if after := e.counts(t); after != before || e.failures(t, tom) != 0 {
		t.Errorf("a busy sign-in changed something: %+v -> %+v, %d failures", before, after, e.failures(t, tom))
	}

	e.a.admission.wait = time.Minute
	waiting := make(chan *response, 2)
	for _, email := range []string{tom, grace} {
		go func() {
			waiting <- e.anon().send(t, "POST", "/signin", url.Values{"email": {email}, "password": {store.DemoPassword}})
		}()
	}
	// Both are in the pool's queue once the pool has two waiters; until then, keep asking.
	deadline := time.Now().Add(10 * time.Second)
	for store.HashingWaiters() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sign-ins waiting for the hashing pool, want 2", store.HashingWaiters())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if page := patient.get(t, "/inbox"); page.Status != fiber.StatusOK {
		t.Fatalf("a page while sign-ins wait for the hashing pool: %d", page.Status)
	}
	select {
	case r := <-waiting:
		t.Fatalf("a sign-in answered %d while the hashing pool was held", r.Status)
	default:
	}
	release()
	release = func() {}
	for range 2 {
		wantRedirect(t, <-waiting, "/inbox")
	}
}
