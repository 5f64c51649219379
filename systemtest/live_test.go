package systemtest

// Live updates lose nothing (DESIGN.md "Real time, losing nothing"; issue 3 "Live updates"): two
// instances of the same build over one PostgreSQL database and one Redis server, people signed in
// over HTTP, their pages' event streams read the way hx-sse reads them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
)

// liveHeartbeat is the instances' heartbeat: short, so the tests see heartbeats and a vanished
// browser is noticed quickly.
const liveHeartbeat = 200 * time.Millisecond

// sent returns the one event a change made for v since after.
func (s *system) sent(t *testing.T, v store.Viewer, after int64) store.Event {
	t.Helper()
	es := s.eventsAfter(t, v, after)
	if len(es) != 1 {
		t.Fatalf("%d events after %d, want the one the change made: %v", len(es), after, es)
	}
	return es[0]
}

// TestLiveAcrossInstances: a patient's new message posted on one instance reaches a staff stream
// held open on the other, and the staff's reply posted there reaches the patient's stream on the
// first, as ids and a kind only. Meanwhile another patient of the same
// practice and the staff of another practice, on both instances, hear nothing.
func TestLiveAcrossInstances(t *testing.T) {
	t.Parallel()
	sys, a, b, maria, staff := liveTwoInstances(t)
	tom := sys.signIn(t, b, liveTom)
	hill := sys.signIn(t, a, liveHillPhysician)
	mv := sys.viewer(t, liveMaria)

	mariaB := maria.open(t, b, "Maria's stream on B", maria.liveAfter(t, b), "")
	staffA := staff.open(t, a, "Riverside staff stream on A", staff.liveAfter(t, a), "")
	others := []*stream{
		tom.open(t, b, "Tom's stream on B", tom.liveAfter(t, b), ""),
		tom.open(t, a, "Tom's stream on A", tom.liveAfter(t, a), ""),
		hill.open(t, a, "Hillcrest staff stream on A", hill.liveAfter(t, a), ""),
		hill.open(t, b, "Hillcrest staff stream on B", hill.liveAfter(t, b), ""),
	}
	for _, s := range append([]*stream{mariaB, staffA}, others...) {
		s.connected(t)
	}

	// The patient writes, on B: the staff's stream on A hears of it.
	subject, body := "Dizzy since Tuesday", "The room spins when I stand up."
	names := []string{"Maria", "Lopez", "Chen", "Amelia"}
	before := newestEvent(t, sys)
	maria.send(t, b, subject, body)
	posted := time.Now()
	msg := sys.sent(t, mv, before)
	staffA.expect(t, liveWait, []store.Event{msg}, append(names, subject, body)...)
	t.Logf("patient's message on A's staff stream %v after the post on B returned", time.Since(posted))
	mariaB.expect(t, liveWait, []store.Event{msg}) // her own page, on the instance she wrote on

	// The staff replies, on A: the patient's stream on B hears of it.
	reply := "Please come in tomorrow at nine."
	staff.reply(t, a, msg.MessageID, reply)
	posted = time.Now()
	answer := sys.sent(t, mv, msg.ID)
	if answer.ConversationID != msg.ConversationID || answer.Kind != store.EventMessageSent {
		t.Fatalf("reply's event %+v, want a message in conversation %d", answer, msg.ConversationID)
	}
	mariaB.expect(t, liveWait, []store.Event{answer}, append(names, subject, reply)...)
	t.Logf("staff reply on B's patient stream %v after the post on A returned", time.Since(posted))
	staffA.expect(t, liveWait, []store.Event{answer})

	// Nobody else heard anything, and their streams are alive: they had heartbeats.
	for _, s := range others {
		if len(s.quiet(t, 2*liveHeartbeat)) == 0 {
			t.Errorf("%s: no heartbeat", s.name)
		}
	}
	mariaB.quiet(t, 2*liveHeartbeat)
	staffA.quiet(t, 0)
}

// liveTwoInstances is the scene of most live tests: instances A and B over one system, with Maria
// signed in on B and her physician on A.
func liveTwoInstances(t *testing.T) (sys *system, a, b *instance, maria, staff *secClient) {
	t.Helper()
	sys = newLiveSystem(t, liveHeartbeat)
	a = sys.startOn(t, "A", "127.0.0.1:0")
	b = sys.startOn(t, "B", "127.0.0.1:0")
	return sys, a, b, sys.signIn(t, b, liveMaria), sys.signIn(t, a, livePhysician)
}

// TestLiveReconnect: a page whose stream dropped reconnects, as htmx does, to the URL it was
// rendered with plus Last-Event-ID; every change made meanwhile arrives once, in order, on either
// instance, then live events go on.
func TestLiveReconnect(t *testing.T) {
	t.Parallel()
	sys, a, b, maria, staff := liveTwoInstances(t)
	mv := sys.viewer(t, liveMaria)

	after := maria.liveAfter(t, b) // the id the page was rendered with stays in its stream's URL
	first := maria.open(t, b, "Maria's stream on B", after, "")
	first.connected(t)
	maria.send(t, b, "Knee pain after running", "It swells by the evening.")
	msg := sys.sent(t, mv, after)
	last := first.expect(t, liveWait, []store.Event{msg})
	first.close()

	// Three changes while the page is away.
	staff.reply(t, a, msg.MessageID, "Rest it and use ice for two days.")
	staff.conversation(t, a, "archive", msg.ConversationID)
	staff.conversation(t, a, "reopen", msg.ConversationID)
	missed := sys.eventsAfter(t, mv, msg.ID)
	kinds := []string{}
	for _, e := range missed {
		kinds = append(kinds, e.Kind)
	}
	want := []string{store.EventMessageSent, store.EventConversationArchived, store.EventConversationReopened}
	if !slices.Equal(kinds, want) {
		t.Fatalf("changes made events %v, want %v", kinds, want)
	}

	// The browser reconnects to whichever instance the router picks.
	againB := maria.open(t, b, "Maria reconnected to B", after, last)
	againA := maria.open(t, a, "Maria reconnected to A", after, last)
	for _, s := range []*stream{againB, againA} {
		s.connected(t)
		s.expect(t, liveWait, missed)
		s.quiet(t, 2*liveHeartbeat) // each once: nothing replayed twice, nothing before Last-Event-ID
	}

	// Then live.
	staff.reply(t, a, msg.MessageID, "And keep it raised.")
	live := sys.sent(t, mv, missed[len(missed)-1].ID)
	for _, s := range []*stream{againB, againA} {
		s.expect(t, liveWait, []store.Event{live})
		s.quiet(t, liveHeartbeat)
	}
}

// TestLiveRedisOutage: with Redis killed, sending, signing in and pages still work and nobody is
// signed out; when Redis is back, a stream held open on the other instance, and one reconnected
// with Last-Event-ID, get everything they missed, in order, once, and live updates resume on
// both instances without a restart.
func TestLiveRedisOutage(t *testing.T) {
	t.Parallel()
	sys, a, b, maria, staff := liveTwoInstances(t)
	mv, sv := sys.viewer(t, liveMaria), sys.viewer(t, livePhysician)

	after := maria.liveAfter(t, b)
	kept := maria.open(t, b, "Maria's stream on B, kept open", after, "")
	dropped := maria.open(t, b, "Maria's stream on B, dropped", after, "")
	staffAfter := staff.liveAfter(t, a)
	staffA := staff.open(t, a, "staff stream on A", staffAfter, "")
	for _, s := range []*stream{kept, dropped, staffA} {
		s.connected(t)
	}
	maria.send(t, b, "Headache", "Three days now.")
	msg := sys.sent(t, mv, after)
	kept.expect(t, liveWait, []store.Event{msg})
	last := dropped.expect(t, liveWait, []store.Event{msg})
	dropped.close()

	if err := sys.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	// Sending works without Redis, on the instance that cannot publish.
	start := time.Now()
	staff.reply(t, a, msg.MessageID, "Any fever?")
	staff.reply(t, a, msg.MessageID, "Drink plenty of water.")
	staff.conversation(t, a, "archive", msg.ConversationID)
	t.Logf("three changes with Redis down took %v", time.Since(start))
	missed := sys.eventsAfter(t, mv, msg.ID)
	if len(missed) != 3 {
		t.Fatalf("%d events for the three changes", len(missed))
	}
	// The instance that made the changes told its own streams without Redis.
	staffA.expect(t, liveWait, sys.eventsAfter(t, sv, staffAfter))
	// Signing in and pages work; the health check says what is down and stays 200.
	tom := sys.signIn(t, a, liveTom)
	for _, p := range []struct {
		u  *secClient
		in *instance
	}{{tom, a}, {maria, b}, {staff, a}, {maria, a}} {
		if status, body, final := p.u.page(t, p.in, "/inbox"); status != http.StatusOK || final.Path != "/inbox" {
			t.Fatalf("inbox of %s on %s with Redis down: %d at %s\n%s", p.u.email, p.in.name, status, final, excerpt(body))
		}
	}
	status, body, _ := staff.page(t, a, "/healthz")
	var health map[string]any
	if err := json.Unmarshal([]byte(body), &health); status != http.StatusOK || err != nil || health["redis"] == "ok" {
		t.Fatalf("healthz with Redis down: %d %s", status, body)
	}
	// B heard nothing through Redis, yet its open stream catches up from the table on its
	// heartbeats, each event once, and nobody is signed out.
	down := time.Now()
	kept.expect(t, liveWait, missed)
	t.Logf("the stream held open caught up %v into the outage", time.Since(down))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sys.redis.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The resync that Redis's return sets off sends nothing twice.
	kept.quiet(t, 2*liveHeartbeat)
	reconnected := maria.open(t, b, "Maria reconnected to B", after, last)
	reconnected.connected(t)
	reconnected.expect(t, liveWait, missed)
	staffA.quiet(t, liveHeartbeat) // A resynced its streams too: nothing came twice

	// Live again, both ways, on the same instances.
	sys.waitSubscribed(t)
	staff.conversation(t, a, "reopen", msg.ConversationID)
	reopened := sys.sent(t, mv, missed[len(missed)-1].ID)
	kept.expect(t, liveWait, []store.Event{reopened})
	reconnected.expect(t, liveWait, []store.Event{reopened})
	staffA.expect(t, liveWait, []store.Event{reopened})
	maria.send(t, b, "Headache is gone", "Thank you.")
	thanks := sys.sent(t, mv, reopened.ID)
	staffA.expect(t, liveWait, []store.Event{thanks})
	kept.expect(t, liveWait, []store.Event{thanks})
}

// TestLivePostgresRestart: PostgreSQL is stopped and started again while pages hold their
// streams open on two instances. The streams stay open through the outage, hearing heartbeats and
// nothing else (a session check that cannot reach the database signs nobody out); once PostgreSQL
// is back, with neither instance restarted, a change made after the restart reaches the stream held
// open, on the other instance too, and a page that reconnects with Last-Event-ID from before the
// outage gets it as well: each once, in order, nothing lost.
func TestLivePostgresRestart(t *testing.T) {
	t.Parallel()
	pg := secPrivatePostgres(t)
	sys := newLiveSystemOn(t, pg.URL, liveHeartbeat)
	a := sys.startOn(t, "A", "127.0.0.1:0")
	b := sys.startOn(t, "B", "127.0.0.1:0")
	maria, staff := sys.signIn(t, b, liveMaria), sys.signIn(t, a, livePhysician)
	mv := sys.viewer(t, liveMaria)

	after := maria.liveAfter(t, b)
	kept := maria.open(t, b, "Maria's stream on B, kept open", after, "")
	staffA := staff.open(t, a, "staff stream on A", staff.liveAfter(t, a), "")
	for _, s := range []*stream{kept, staffA} {
		s.connected(t)
	}
	maria.send(t, b, "Chest tightness", "When I climb the stairs.")
	msg := sys.sent(t, mv, after)
	last := kept.expect(t, liveWait, []store.Event{msg})
	staffA.expect(t, liveWait, []store.Event{msg})

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL is down as both instances see it.
	for _, in := range []*instance{a, b} {
		waitDatabase(t, staff, in, http.StatusServiceUnavailable, "unreachable")
	}
	// Six heartbeats from now, two of them session checks, while the database cannot answer:
	// the streams stay open and hear nothing else.
	for _, s := range []*stream{kept, staffA} {
		pings := 0
		deadline := time.Now().Add(liveWait)
		for pings < 6 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d heartbeats in %v with PostgreSQL down", s.name, pings, liveWait)
			}
			pings += len(s.quiet(t, liveHeartbeat))
		}
	}

	startPostgresAgain(t, pg)
	for _, in := range []*instance{a, b} {
		waitDatabase(t, staff, in, http.StatusOK, "ok")
	}

	// A change after the restart, on A, reaches both streams held open, once.
	staff.reply(t, a, msg.MessageID, "Please call us now.")
	answer := sys.sent(t, mv, msg.ID)
	kept.expect(t, liveWait, []store.Event{answer})
	staffA.expect(t, liveWait, []store.Event{answer})
	// A page that lost its stream meanwhile reconnects, with the id it last had, and catches up.
	again := maria.open(t, b, "Maria reconnected to B", after, last)
	again.connected(t)
	again.expect(t, liveWait, []store.Event{answer})
	// And live both ways, on the same instances.
	maria.send(t, b, "Chest tightness is gone", "Thank you.")
	thanks := sys.sent(t, mv, answer.ID)
	for _, s := range []*stream{kept, again, staffA} {
		s.expect(t, liveWait, []store.Event{thanks})
		s.quiet(t, 2*liveHeartbeat) // nothing twice
	}
}

// waitDatabase waits until in's health check reports the database as state, answering status.
func waitDatabase(t *testing.T, c *secClient, in *instance, status int, state string) {
	t.Helper()
	liveWaitFor(t, liveWait, fmt.Sprintf("%s's health check to report the database %s", in.name, state), func() bool {
		got, body, _ := c.page(t, in, "/healthz")
		var health map[string]any
		return got == status && json.Unmarshal([]byte(body), &health) == nil && health["database"] == state
	})
}

// TestLiveInstanceRestart: an instance shutting down ends its streams with a retry hint; its
// successor on the same address takes the reconnect, with the same session, and replays what
// was missed meanwhile.
func TestLiveInstanceRestart(t *testing.T) {
	t.Parallel()
	sys, a, b, maria, staff := liveTwoInstances(t)
	mv := sys.viewer(t, liveMaria)

	after := maria.liveAfter(t, b)
	s := maria.open(t, b, "Maria's stream on B", after, "")
	s.connected(t)
	maria.send(t, b, "Sore throat", "Since the weekend.")
	msg := sys.sent(t, mv, after)
	last := s.expect(t, liveWait, []store.Event{msg})

	start := time.Now()
	b.Stop()
	frames := s.end(t, liveWait)
	t.Logf("B shut down in %v", time.Since(start))
	if len(frames) == 0 || frames[len(frames)-1].Retry == "" || frames[len(frames)-1].IsEvent() {
		t.Fatalf("B's stream ended with %v; want a retry hint", frames)
	}

	staff.reply(t, a, msg.MessageID, "Gargle with salt water.")
	staff.reply(t, a, msg.MessageID, "Come in if it lasts a week.")
	missed := sys.eventsAfter(t, mv, msg.ID)

	b2 := sys.startOn(t, "B restarted", b.Addr)
	again := maria.open(t, b2, "Maria reconnected to the new B", after, last)
	again.connected(t)
	again.expect(t, liveWait, missed)
	again.quiet(t, liveHeartbeat)
	staff.reply(t, a, msg.MessageID, "Feel better.")
	again.expect(t, liveWait, []store.Event{sys.sent(t, mv, missed[len(missed)-1].ID)})
}

// TestLiveSignOutEndsStreamsEverywhere: signing out on one instance ends that session's open
// streams on every instance, pushed through Redis, and no other session's. The heartbeat is a
// minute, so the streams' own session checks (every third heartbeat) cannot end them within the
// wait: an end seen here was pushed.
func TestLiveSignOutEndsStreamsEverywhere(t *testing.T) {
	t.Parallel()
	sys := newLiveSystem(t, time.Minute)
	a := sys.startOn(t, "A", "127.0.0.1:0")
	b := sys.startOn(t, "B", "127.0.0.1:0")
	laptop := sys.signIn(t, a, liveMaria)
	phone := sys.signIn(t, b, liveMaria) // the same person's other session
	after := laptop.liveAfter(t, a)
	onA := laptop.open(t, a, "laptop session's stream on A", after, "")
	onB := laptop.open(t, b, "laptop session's stream on B", after, "")
	other := phone.open(t, b, "phone session's stream on B", after, "")
	for _, s := range []*stream{onA, onB, other} {
		s.connected(t)
	}
	oldCookies := []*http.Cookie{{Name: laptop.cookie.Name, Value: laptop.cookie.Value}}

	f := laptop.form(t, a, "/inbox")
	start := time.Now()
	if status, body, final := laptop.load(t, a, http.MethodPost, "/signout", f); status != http.StatusOK || final.Path != "/signin" {
		t.Fatalf("sign out: %d at %s\n%s", status, final, excerpt(body))
	}
	for _, s := range []*stream{onA, onB} {
		fs := s.end(t, liveWait)
		if len(fs) == 0 || fs[len(fs)-1].Event != "signed-out" {
			t.Fatalf("%s ended with %v; want signed-out", s.name, fs)
		}
	}
	t.Logf("both streams ended %v after sign-out", time.Since(start))
	other.quiet(t, 300*time.Millisecond)

	// The session is over on the server: its old cookie opens no stream anywhere.
	for _, in := range []*instance{a, b} {
		req, _ := http.NewRequest(http.MethodGet, in.URL+"/events", nil)
		for _, c := range oldCookies {
			req.AddCookie(c)
		}
		noRedirect := &http.Client{Timeout: liveWait, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
			t.Fatalf("stream with a signed-out cookie on %s: %d %s", in.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestLiveDeactivationEndsStreamsEverywhere: an administrator deactivating a patient on one
// instance ends every stream of hers, of every session, on every instance, pushed through Redis;
// nobody else's. As above, the minute's heartbeat means an end seen within the wait was pushed.
func TestLiveDeactivationEndsStreamsEverywhere(t *testing.T) {
	t.Parallel()
	sys := newLiveSystem(t, time.Minute)
	a := sys.startOn(t, "A", "127.0.0.1:0")
	b := sys.startOn(t, "B", "127.0.0.1:0")
	laptop := sys.signIn(t, a, liveMaria)
	phone := sys.signIn(t, b, liveMaria)
	tom := sys.signIn(t, b, liveTom)
	admin := sys.signIn(t, a, "admin@riverside.example")
	after := laptop.liveAfter(t, a)
	onA := laptop.open(t, a, "Maria's laptop stream on A", after, "")
	onB := phone.open(t, b, "Maria's phone stream on B", after, "")
	toms := tom.open(t, b, "Tom's stream on B", tom.liveAfter(t, b), "")
	for _, s := range []*stream{onA, onB, toms} {
		s.connected(t)
	}

	path := "/practice/people/" + idsAt(t, a.URL).User(sys.user(t, liveMaria).ID)
	f := admin.form(t, a, path)
	start := time.Now()
	if status, body, final := admin.load(t, a, http.MethodPost, path+"/deactivate", f); status != http.StatusOK || final.Path != path {
		t.Fatalf("deactivate: %d at %s\n%s", status, final, excerpt(body))
	}
	for _, s := range []*stream{onA, onB} {
		fs := s.end(t, liveWait)
		if len(fs) == 0 || fs[len(fs)-1].Event != "signed-out" {
			t.Fatalf("%s ended with %v; want signed-out", s.name, fs)
		}
	}
	t.Logf("both of her streams ended %v after the deactivation", time.Since(start))
	toms.quiet(t, 300*time.Millisecond)
	if status, _, final := phone.page(t, b, "/inbox"); status != http.StatusOK || final.Path != "/signin" {
		t.Errorf("her phone's session after deactivation: %d at %s", status, final)
	}
}

// TestLiveStreamCaps: one session holds at most realtime.DefaultStreamsPerSession streams on an
// instance and one user realtime.DefaultStreamsPerUser. The next one is answered 429 with a body
// that hx-sse reads for its retry hint (a minute) and a Retry-After, while the open ones keep
// working; a stream that goes frees its slot; another user's streams are not counted against her.
func TestLiveStreamCaps(t *testing.T) {
	t.Parallel()
	sys := newLiveSystem(t, liveHeartbeat)
	a := sys.startOn(t, "A", "127.0.0.1:0")
	mv := sys.viewer(t, liveMaria)
	laptop := sys.signIn(t, a, liveMaria)
	after := laptop.liveAfter(t, a)
	var held []*stream
	for i := range realtime.DefaultStreamsPerSession {
		s := laptop.open(t, a, fmt.Sprintf("laptop stream %d", i), after, "")
		s.connected(t)
		held = append(held, s)
	}
	if s := openOrRefused(t, laptop, a, "one stream over the session's cap", after); s != nil {
		t.Fatalf("%s: opened; want 429", s.name)
	}
	laptop.send(t, a, "Streams", "Do all my tabs hear this?")
	sent := sys.sent(t, mv, after)
	for _, s := range held {
		s.expect(t, liveWait, []store.Event{sent})
	}

	// A stream that goes frees its slot, once the server notices (its next heartbeat fails).
	held[0].close()
	deadline := time.Now().Add(liveWait)
	for {
		s := openOrRefused(t, laptop, a, "a stream after one went", sent.ID)
		if s != nil {
			s.connected(t)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused %v after a stream went", liveWait)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Her other sessions share the user's cap.
	phone := sys.signIn(t, a, liveMaria)
	for i := range realtime.DefaultStreamsPerUser - realtime.DefaultStreamsPerSession {
		phone.open(t, a, fmt.Sprintf("phone stream %d", i), sent.ID, "").connected(t)
	}
	tablet := sys.signIn(t, a, liveMaria)
	if s := openOrRefused(t, tablet, a, "a third session's stream over the user's cap", sent.ID); s != nil {
		t.Fatalf("%s: opened; want 429", s.name)
	}

	// Tom, and the staff, are not held to Maria's count.
	tom := sys.signIn(t, a, liveTom).open(t, a, "Tom's stream", sent.ID, "")
	staff := sys.signIn(t, a, livePhysician).open(t, a, "staff stream", sent.ID, "")
	for _, s := range []*stream{tom, staff} {
		s.connected(t)
	}
}

// openOrRefused opens a stream and returns it if it was accepted; if it was refused, it checks the
// refusal is the 429 a browser backs off from and returns nil.
func openOrRefused(t *testing.T, u *secClient, in *instance, name string, after int64) *stream {
	t.Helper()
	resp, cancel := u.on(in).connect(t, liveStreams, name, after, "")
	if resp.StatusCode == http.StatusOK {
		return startStream(t, name, idsAt(t, in.URL), resp, cancel, true)
	}
	defer cancel()
	defer resp.Body.Close()
	var frames []sseFrame
	readSSE(resp.Body, func(f sseFrame) { frames = append(frames, f) })
	want := []sseFrame{{Retry: "60000", Event: realtime.SSETooManyStreams, Data: "{}"}}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" ||
		resp.Header.Get("Content-Type") != "text/event-stream" || len(frames) != 1 ||
		frames[0].Retry != want[0].Retry || frames[0].Event != want[0].Event || frames[0].Data != want[0].Data {
		t.Fatalf("%s: %d, Retry-After %q, Content-Type %q, frames %v; want 429, 60, text/event-stream, %v",
			name, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), frames, want)
	}
	return nil
}

// TestLiveHeartbeat: a quiet stream gets a comment at the configured interval, so routers that
// cut idle connections leave it open.
func TestLiveHeartbeat(t *testing.T) {
	t.Parallel()
	sys := newLiveSystem(t, liveHeartbeat)
	a := sys.startOn(t, "A", "127.0.0.1:0")
	tom := sys.signIn(t, a, liveTom)
	s := tom.open(t, a, "Tom's quiet stream", tom.liveAfter(t, a), "")
	s.connected(t)
	frames := s.quiet(t, 10*liveHeartbeat)
	var gaps []time.Duration
	for i, f := range frames {
		if !slices.Equal(f.Comments, []string{"ping"}) {
			t.Fatalf("frame %v on a quiet stream; want a ping", f)
		}
		if i > 0 {
			gaps = append(gaps, f.At.Sub(frames[i-1].At))
		}
	}
	if len(frames) < 5 || len(frames) > 11 {
		t.Fatalf("%d pings in %v at a %v heartbeat", len(frames), 10*liveHeartbeat, liveHeartbeat)
	}
	slices.Sort(gaps)
	if median := gaps[len(gaps)/2]; median < liveHeartbeat/2 || median > 2*liveHeartbeat {
		t.Fatalf("pings every %v (median), want every %v", median, liveHeartbeat)
	}
}

// TestLiveStreamsLeakNothing: a browser that goes away leaves nothing behind. 200 streams are
// opened and dropped (the body closed unread); the hub lets each go on its next failed heartbeat
// write, and the process's goroutines return to where they were.
//
// Not parallel: it counts the goroutines of the whole test binary. The baseline is taken after a
// first round of 200, because fasthttp keeps the worker goroutines of finished connections in a
// pool for 10 s to serve the next ones; that pool is bounded and reused, and a leak shows in the
// second round as much as in the first.
func TestLiveStreamsLeakNothing(t *testing.T) {
	const n = 200
	sys := newLiveSystem(t, liveHeartbeat)
	sys.streams = realtime.Limits{PerSession: n, PerUser: n}
	a := sys.startOn(t, "A", "127.0.0.1:0")
	maria := sys.signIn(t, a, liveMaria)
	after := maria.liveAfter(t, a)
	tr := &http.Transport{MaxIdleConnsPerHost: -1}
	defer tr.CloseIdleConnections()
	open := func() []*stream {
		var streams []*stream
		for i := range n {
			streams = append(streams, maria.openWith(t, a, tr, fmt.Sprintf("stream %d", i), after, "", false))
		}
		liveWaitFor(t, liveWait, fmt.Sprintf("%d streams open, want %d", a.Hub.Len(), n), func() bool { return a.Hub.Len() == n })
		return streams
	}
	drop := func(streams []*stream) time.Duration {
		start := time.Now()
		for _, s := range streams {
			s.close()
		}
		liveWaitFor(t, 15*time.Second, "dropped streams still registered", func() bool { return a.Hub.Len() == 0 })
		return time.Since(start)
	}

	t.Logf("first round: the hub let %d dropped streams go in %v", n, drop(open()))
	baseline := settledGoroutines()
	streams := open()
	if during := runtime.NumGoroutine(); during < baseline+n {
		t.Fatalf("%d goroutines with %d streams open, baseline %d: the count does not see streams", during, n, baseline)
	}
	t.Logf("second round: the hub let %d dropped streams go in %v", n, drop(streams))
	tr.CloseIdleConnections()
	const tolerance = 10
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > baseline+tolerance {
		if time.Now().After(deadline) {
			var dump bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Fatalf("%d goroutines after the streams went, baseline %d\n%s", runtime.NumGoroutine(), baseline, dump.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines: baseline %d, now %d", baseline, runtime.NumGoroutine())

	// The instance still serves streams.
	s := maria.open(t, a, "a stream after all that", after, "")
	s.connected(t)
}

// settledGoroutines waits for the goroutine count to stop moving, and returns it.
func settledGoroutines() int {
	last := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		now := runtime.NumGoroutine()
		if now == last {
			return now
		}
		last = now
	}
	return last
}

// newestEvent is the newest event id in the system's database.
func newestEvent(t *testing.T, sys *system) int64 {
	t.Helper()
	n, err := storetest.NewestEvent(context.Background(), sys.st.DB())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
