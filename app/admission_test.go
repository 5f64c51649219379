package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/semaphore"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// TestAdmitQueuesTheRestAndSaysBusyKeepingTheForm holds the one slot of a server with the real
// views, then checks what each kind of request does while it is held: the health check and the
// static files skip the queue; a message sent waits, and once it has waited too long gets a 503
// that sends nothing and keeps what was typed; given time, one goes through once the slot is
// let go.
func TestAdmitQueuesTheRestAndSaysBusyKeepingTheForm(t *testing.T) {
	t.Parallel()
	set, _ := testViews(t, 0)
	a := &App{views: set, log: slog.New(slog.DiscardHandler),
		admission: admission{slots: semaphore.NewWeighted(1), wait: 100 * time.Millisecond}}
	f := fiber.New(fiber.Config{ErrorHandler: a.handleError, DisableStartupMessage: true})
	f.Use(a.admit)
	holding, release := make(chan struct{}), make(chan struct{})
	f.Get("/inbox", func(c *fiber.Ctx) error {
		close(holding)
		<-release
		return c.SendString("inbox")
	})
	var sent atomic.Int32
	f.Post("/messages", func(c *fiber.Ctx) error {
		sent.Add(1)
		return c.SendString("sent")
	})
	f.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	f.Get("/static/+", func(c *fiber.Ctx) error { return c.SendString("asset") })

	held := make(chan error, 1)
	go func() {
		_, err := f.Test(httptest.NewRequest(fiber.MethodGet, "/inbox", nil), -1)
		held <- err
	}()
	<-holding

	for _, path := range []string{"/healthz", "/static/app.css"} {
		res, err := f.Test(httptest.NewRequest(fiber.MethodGet, path, nil), -1)
		if err != nil || res.StatusCode != fiber.StatusOK {
			t.Fatalf("GET %s while the slot is held: %v %v", path, res.StatusCode, err)
		}
	}

	form := url.Values{"_csrf": {"token"}, "subject": {"Knee pain"}, "body": {"It hurts when I climb stairs."}}
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(fiber.MethodPost, "/messages", strings.NewReader(form.Encode()))
		req.Header.Set(fiber.HeaderContentType, fiber.MIMEApplicationForm)
		res, err := f.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		rec.Code = res.StatusCode
		for k, v := range res.Header {
			rec.Header()[k] = v
		}
		io.Copy(rec.Body, res.Body)
		return rec
	}
	busy := post()
	if busy.Code != fiber.StatusServiceUnavailable || busy.Header().Get(fiber.HeaderRetryAfter) == "" {
		t.Fatalf("a message sent while every slot stayed busy: %d, Retry-After %q", busy.Code, busy.Header().Get(fiber.HeaderRetryAfter))
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("the busy server sent %d messages", n)
	}
	doc, err := htmltest.Parse(busy.Body.String())
	if err != nil {
		t.Fatal(err)
	}
	if alert := doc.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" }); alert == nil ||
		!strings.Contains(alert.TextContent(), "nothing was sent") {
		t.Errorf("the busy page does not say nothing was sent:\n%s", busy.Body)
	}
	if kept := doc.ByID("kept-body"); kept == nil || kept.TextContent() != form.Get("body") {
		t.Errorf("the busy page does not keep what was typed:\n%s", busy.Body)
	}

	a.admission.wait = time.Minute
	queued := make(chan *httptest.ResponseRecorder, 1)
	go func() { queued <- post() }()
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if res := <-queued; res.Code != fiber.StatusOK || res.Body.String() != "sent" || sent.Load() != 1 {
		t.Errorf("the message waiting for the slot: %d %q, %d sent", res.Code, res.Body, sent.Load())
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
		!strings.Contains(busy.Body, signinBusy) {
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
