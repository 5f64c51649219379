package realtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/realtime/localredis"
	"securemessages/store"
	"securemessages/store/storetest"
)

// pending drains what the hub has queued for a stream without serving it.
func pending(s *Stream) []int64 {
	var ids []int64
	for {
		select {
		case w := <-s.events:
			ids = append(ids, w.ID)
		default:
			return ids
		}
	}
}

// TestHubDispatchIsolation: an event reaches the patient of its conversation and the staff of
// that patient's practice, and nobody else: not another patient of the same practice, not
// another practice's staff or patients, not a stream whose patient id matches but whose practice
// does not.
func TestHubDispatchIsolation(t *testing.T) {
	t.Parallel()
	mismatched := store.Viewer{UserID: maria.UserID, PracticeID: 2, Role: store.RolePatient}
	viewers := map[string]store.Viewer{
		"maria": maria, "tom": tom, "riverside staff": riverStaff,
		"grace": grace, "hillcrest staff": hillStaff, "maria's id at hillcrest": mismatched,
	}
	tests := []struct {
		name  string
		event store.Event
		reach []string
	}{
		{"maria's event", ev(1, maria), []string{"maria", "riverside staff"}},
		{"tom's event", ev(2, tom), []string{"tom", "riverside staff"}},
		{"grace's event", ev(3, grace), []string{"grace", "hillcrest staff"}},
		{"archive in maria's conversation",
			store.Event{ID: 4, Kind: store.EventConversationArchived, PracticeID: 1, PatientID: maria.UserID, ConversationID: 7},
			[]string{"maria", "riverside staff"}},
		{"an event of a practice nobody watches", store.Event{ID: 5, Kind: store.EventMessageSent, PracticeID: 9, PatientID: 99}, nil},
		{"an event without an id is not an event", store.Event{Kind: store.EventMessageSent, PracticeID: 1, PatientID: maria.UserID}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHub(nil, quiet)
			streams := map[string]*Stream{}
			for name, v := range viewers {
				streams[name] = open(t, h, v, "session of "+name)
			}
			if err := h.Publish(context.Background(), tt.event); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, name := range tt.reach {
				want[name] = true
			}
			for name, s := range streams {
				got := pending(s)
				switch {
				case want[name] && (len(got) != 1 || got[0] != tt.event.ID):
					t.Errorf("%s's stream got %v, want [%d]", name, got, tt.event.ID)
				case !want[name] && len(got) != 0:
					t.Errorf("%s's stream got %v, want nothing", name, got)
				}
			}
		})
	}
}

// TestHubFullBufferResyncsInsteadOfBlocking: a stream whose browser stops reading fills its
// buffer; the hub goes on at once for everyone else, and the stream, once the browser reads
// again, catches up from PostgreSQL: every event once, in order.
func TestHubFullBufferResyncsInsteadOfBlocking(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	src := &fakeSource{}
	o := ServeOptions{Heartbeat: time.Hour}
	slow := serve(t, h, src, maria, "slow", o)
	other := serve(t, h, src, riverStaff, "staff", o)
	slow.connected(t) // past its replay: live
	other.connected(t)

	slow.pause()
	const n = 300 // far more than a stream buffers
	delivered := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for id := int64(1); id <= n; id++ {
			e := ev(id, maria)
			src.add(e)
			h.Deliver(e)
		}
		delivered <- time.Since(start)
	}()
	select {
	case d := <-delivered:
		if d > time.Second {
			t.Fatalf("delivering %d events past a stalled stream took %v: the hub waited for it", n, d)
		}
	case <-time.After(testTimeout):
		t.Fatal("the hub blocked on a stalled stream")
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	other.expectIDs(t, want...) // it was never held up
	slow.resume()
	slow.expectIDs(t, want...)
	slow.expectQuiet(t, 100*time.Millisecond)
}

// TestHubEndSessionEndsOnlyThatSession: signing out closes every stream of the session (all its
// tabs) with signed-out, and no other stream, not even the same user's other session.
func TestHubEndSessionEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	src := &fakeSource{}
	o := ServeOptions{Heartbeat: time.Hour}
	tab1 := serve(t, h, src, maria, "phone", o)
	tab2 := serve(t, h, src, maria, "phone", o)
	laptop := serve(t, h, src, maria, "laptop", o)
	staff := serve(t, h, src, riverStaff, "desk", o)
	waitFor(t, testTimeout, "streams not registered", func() bool { return h.Len() == 4 })

	h.EndSession("phone")
	for _, tab := range []*pipeStream{tab1, tab2} {
		fs := tab.expectEnd(t, testTimeout)
		if len(fs) == 0 || fs[len(fs)-1].Event != SSESignedOut {
			t.Fatalf("frames %v; want the stream to end with %s", fs, SSESignedOut)
		}
	}
	waitFor(t, testTimeout, "ended streams still registered", func() bool { return h.Len() == 2 })
	h.EndSession("phone") // again, with nothing left: no panic, nothing else ends
	h.EndSession("unknown")

	e := ev(1, maria)
	src.add(e)
	h.Deliver(e)
	laptop.expectIDs(t, 1)
	staff.expectIDs(t, 1)
}

// TestHubRunAcrossInstances: over a real Redis and the real store, an event committed and
// published on instance A reaches the streams that may see it on instance B, and nobody else;
// A's own stream gets it once, although it hears it both from A directly and back from Redis.
func TestHubRunAcrossInstances(t *testing.T) {
	t.Parallel()
	st := storetest.NewDemo(t)
	_, client := startRedis(t)
	a, b := twoHubs(t, client)
	ctx := context.Background()
	users := demoViewers(t, st)
	horizon := newest(t, st)
	o := ServeOptions{After: horizon, Heartbeat: time.Hour}

	onA := serve(t, a, st, users["maria"], "maria on A", o)
	onB := serve(t, b, st, users["maria"], "maria on B", o)
	staffB := serve(t, b, st, users["riverside staff"], "staff on B", o)
	tomB := serve(t, b, st, users["tom"], "tom on B", o)
	hillB := serve(t, b, st, users["hillcrest staff"], "hillcrest on B", o)
	graceB := serve(t, b, st, users["grace"], "grace on B", o)

	for i := 1; i <= 3; i++ {
		sent := sendAs(t, st, users["maria"], fmt.Sprintf("across %d", i))
		if err := a.Publish(ctx, sent.Event); err != nil {
			t.Fatal(err)
		}
		id := sent.Event.ID
		for _, s := range []*pipeStream{onA, onB, staffB} {
			s.expectIDs(t, id)
		}
	}
	onA.expectQuiet(t, 200*time.Millisecond) // the copy back from Redis is not sent again
	for _, s := range []*pipeStream{tomB, hillB, graceB} {
		s.expectQuiet(t, 0)
	}
}

// TestConnectTLS: a rediss:// connection verifies the server's certificate unless told not to.
// A self-signed one, as a hosted Redis presents, is refused by default, and so is one signed by a
// CA the system does not trust; trusting that CA (REDIS_TLS_CA_FILE) lets it through, and
// REDIS_TLS_VERIFY=false accepts the self-signed one. Reason says why in brief.
func TestConnectTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	selfSigned, err := localredis.NewCertificate(dir, "platform", true)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := localredis.NewCertificate(dir, "private", false)
	if err != nil {
		t.Fatal(err)
	}
	platform, private := startTLSRedis(t, selfSigned), startTLSRedis(t, signed)
	tests := []struct {
		name   string
		url    string
		o      TLSOptions
		reason string // "" for connected
	}{
		{"self-signed, verified by default", platform.URL, TLSOptions{}, "tls: certificate not trusted"},
		{"self-signed, another CA trusted", platform.URL, TLSOptions{CAFile: signed.CAFile}, "tls: certificate not trusted"},
		{"self-signed, verification off", platform.URL, TLSOptions{SkipVerify: true}, ""},
		{"CA-signed, system pool", private.URL, TLSOptions{}, "tls: certificate not trusted"},
		{"CA-signed, its CA trusted", private.URL, TLSOptions{CAFile: signed.CAFile}, ""},
		{"plain redis:// to a TLS server", strings.Replace(platform.URL, "rediss:", "redis:", 1), TLSOptions{}, "connection closed by the server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := NewHub(newClient(t, tt.url, tt.o), quiet).Ping(ctx)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Ping: %v, reason %q; want %q", err, got, tt.reason)
			}
		})
	}
}

// TestHubRunOverTLSWithoutVerify: with certificate checks off, the hubs of two instances reach a
// self-signed TLS Redis and an event published on one reaches a stream on the other, through it.
func TestHubRunOverTLSWithoutVerify(t *testing.T) {
	t.Parallel()
	certs, err := localredis.NewCertificate(t.TempDir(), "platform", true)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t, startTLSRedis(t, certs).URL, TLSOptions{SkipVerify: true})
	a, b := twoHubs(t, client)
	// The table stays empty: only Redis can bring the event to b's stream.
	p := serve(t, b, &fakeSource{}, maria, "maria on B", ServeOptions{Heartbeat: time.Hour})
	p.connected(t)
	if err := a.Publish(context.Background(), ev(7, maria)); err != nil {
		t.Fatal(err)
	}
	p.expectIDs(t, 7)
}

// TestHubResyncsAfterRedisRestart: with Redis down a publish fails, fast, and the change is
// still in PostgreSQL; when Redis comes back the other instance resubscribes and its streams
// replay what they missed.
func TestHubResyncsAfterRedisRestart(t *testing.T) {
	t.Parallel()
	st := storetest.NewDemo(t)
	srv, client := startRedis(t)
	a, b := twoHubs(t, client)
	users := demoViewers(t, st)
	onB := serve(t, b, st, users["maria"], "maria on B", ServeOptions{After: newest(t, st), Heartbeat: time.Hour})

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 1; i <= 3; i++ {
		sent := sendAs(t, st, users["maria"], fmt.Sprintf("while Redis is down %d", i))
		start := time.Now()
		if err := a.Publish(context.Background(), sent.Event); err == nil {
			t.Fatal("publish with Redis down succeeded")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("publish with Redis down took %v", d)
		}
		ids = append(ids, sent.Event.ID)
	}
	onB.expectQuiet(t, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	onB.expectIDs(t, ids...)

	waitFor(t, testTimeout, "hubs did not resubscribe", func() bool { return subscribers(t, client) == 2 })
	sent := sendAs(t, st, users["maria"], "after Redis is back")
	if err := a.Publish(context.Background(), sent.Event); err != nil {
		t.Fatal(err)
	}
	onB.expectIDs(t, sent.Event.ID)
}

// TestHubSessionEndedAcrossInstances: a sign-out on one instance closes the session's streams on
// every instance, through Redis, and no other session's.
func TestHubSessionEndedAcrossInstances(t *testing.T) {
	t.Parallel()
	_, client := startRedis(t)
	a, b := twoHubs(t, client)
	src := &fakeSource{}
	o := ServeOptions{Heartbeat: time.Hour}
	onA := serve(t, a, src, maria, "signing out", o)
	onB := serve(t, b, src, maria, "signing out", o)
	otherB := serve(t, b, src, maria, "other", o)
	waitFor(t, testTimeout, "streams not registered", func() bool { return a.Len() == 1 && b.Len() == 2 })

	if err := a.SessionEnded(context.Background(), "signing out"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*pipeStream{onA, onB} {
		fs := s.expectEnd(t, testTimeout)
		if len(fs) == 0 || fs[len(fs)-1].Event != SSESignedOut {
			t.Fatalf("frames %v; want the stream to end with %s", fs, SSESignedOut)
		}
	}
	otherB.expectQuiet(t, 100*time.Millisecond)
	waitFor(t, testTimeout, "ended streams still registered", func() bool { return a.Len() == 0 && b.Len() == 1 })
}

// TestHubUserEndedAcrossInstances: a person deactivated on one instance loses every stream of
// theirs, whatever the session, on every instance, through Redis; nobody else loses one.
func TestHubUserEndedAcrossInstances(t *testing.T) {
	t.Parallel()
	_, client := startRedis(t)
	a, b := twoHubs(t, client)
	src := &fakeSource{}
	o := ServeOptions{Heartbeat: time.Hour}
	onA := serve(t, a, src, maria, "phone", o)
	onB := serve(t, b, src, maria, "laptop", o)
	staffB := serve(t, b, src, riverStaff, "desk", o)
	waitFor(t, testTimeout, "streams not registered", func() bool { return a.Len() == 1 && b.Len() == 2 })

	if err := a.UserEnded(context.Background(), maria.UserID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*pipeStream{onA, onB} {
		fs := s.expectEnd(t, testTimeout)
		if len(fs) == 0 || fs[len(fs)-1].Event != SSESignedOut {
			t.Fatalf("frames %v; want the stream to end with %s", fs, SSESignedOut)
		}
	}
	staffB.expectQuiet(t, 100*time.Millisecond)
	waitFor(t, testTimeout, "ended streams still registered", func() bool { return a.Len() == 0 && b.Len() == 1 })
}

// TestHubRunEndsWithContext: Run gives up its subscription when its context ends, so an instance
// that stops leaves no goroutine and no Redis connection behind.
func TestHubRunEndsWithContext(t *testing.T) {
	t.Parallel()
	_, client := startRedis(t)
	stop := runHub(t, NewHub(client, quiet), client)
	waitFor(t, testTimeout, "hub never subscribed once", func() bool { return subscribers(t, client) == 1 })
	stop() // fails the test unless Run returns
	waitFor(t, testTimeout, "the subscription outlived Run", func() bool { return subscribers(t, client) == 0 })
}

// TestHubWithoutRedis: an instance configured without Redis serves its own changes live and
// reports Redis as unreachable; Run returns at once.
func TestHubWithoutRedis(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	done := make(chan struct{})
	go func() { h.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("Run without a client did not return")
	}
	if h.Ping(context.Background()) == nil {
		t.Fatal("Ping without Redis reported success")
	}
	src := &fakeSource{}
	s := serve(t, h, src, maria, "k", ServeOptions{Heartbeat: time.Hour})
	e := ev(1, maria)
	src.add(e)
	if err := h.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	s.expectIDs(t, 1)
	if err := h.SessionEnded(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	s.expectEnd(t, testTimeout)
}

// demoViewers are the demo accounts the realtime tests watch as.
func demoViewers(t *testing.T, st *store.Store) map[string]store.Viewer {
	t.Helper()
	emails := map[string]string{
		"maria": "maria.lopez@riverside.example", "tom": "tom.becker@riverside.example",
		"grace": "grace.kim@hillcrest.example", "riverside staff": "physician@riverside.example",
		"hillcrest staff": "physician@hillcrest.example",
	}
	out := map[string]store.Viewer{}
	for name, email := range emails {
		u, err := st.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatalf("demo user %s: %v", email, err)
		}
		out[name] = u.Viewer()
	}
	return out
}

// sendAs starts a conversation as a patient of the demo; Riverside charges, so consent is given.
func sendAs(t *testing.T, st *store.Store, v store.Viewer, subject string) store.Sent {
	t.Helper()
	sent, err := st.StartConversation(context.Background(), v, store.Origin{}, store.NewConversation{
		Subject: subject, Body: "body of " + subject, BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Event.ID == 0 {
		t.Fatal("the send wrote no event")
	}
	return sent
}

// newest is the newest event of every practice: a point every viewer's stream may start after.
func newest(t *testing.T, st *store.Store) int64 {
	t.Helper()
	n, err := storetest.NewestEvent(context.Background(), st.DB())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
