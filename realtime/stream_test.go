package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

// TestServeReplaysThenGoesLiveWithoutDuplicates: a stream first replays what the page missed
// after its id, then goes live; an event that arrives live while the replay runs, or twice (from
// this instance and back from Redis), or late with an older id, is not sent again.
func TestServeReplaysThenGoesLiveWithoutDuplicates(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	src := &fakeSource{}
	src.add(ev(1, maria), ev(2, maria), ev(3, maria), ev(4, tom), ev(5, maria), ev(6, maria), ev(7, grace))
	s := open(t, h, maria, "k")
	// Events 5 and 6 are published while the page connects: they are already in the table the
	// replay reads, and also queued live.
	h.Deliver(ev(5, maria))
	h.Deliver(ev(6, maria))
	p := serveStream(t, h, src, s, ServeOptions{After: 2, Heartbeat: time.Hour})
	p.connected(t)
	p.expectIDs(t, 3, 5, 6) // not 1 and 2 (the page has them), not tom's 4, not grace's 7
	p.expectQuiet(t, 50*time.Millisecond)

	for _, e := range []store.Event{ev(6, maria), ev(3, maria), ev(8, tom)} {
		h.Deliver(e) // a copy back from Redis, a late old one, someone else's
	}
	src.add(ev(9, maria))
	h.Deliver(ev(9, maria))
	p.expectIDs(t, 9)
	p.expectQuiet(t, 50*time.Millisecond)
}

// TestServeSendsIdsAndKindsOnly: what reaches the browser names the change, never its content.
func TestServeSendsIdsAndKindsOnly(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	src := &fakeSource{}
	p := serve(t, h, src, maria, "k", ServeOptions{Heartbeat: time.Hour})
	p.connected(t)
	e := store.Event{ID: 42, Kind: store.EventMessageCancelled, PracticeID: 1, PatientID: maria.UserID,
		ConversationID: 7, MessageID: 9}
	h.Deliver(e)
	f := p.next(t, testTimeout)
	if f.ID != testIDs.Event(42) || f.Event != SSEChanged {
		t.Fatalf("frame %v", f)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(f.Data), &data); err != nil {
		t.Fatalf("data %q: %v", f.Data, err)
	}
	// Public ids, as everything a page sees: the sequences stay inside.
	want := map[string]any{"kind": store.EventMessageCancelled, "conversation_id": testIDs.Conversation(7), "message_id": testIDs.Message(9)}
	if fmt.Sprint(data) != fmt.Sprint(want) {
		t.Fatalf("data %v, want %v", data, want)
	}
}

// TestServeReplaysInBatches: a page behind gets everything, in order, over several queries.
func TestServeReplaysInBatches(t *testing.T) {
	t.Parallel()
	const n = maxReplay
	src := &fakeSource{}
	want := make([]int64, 0, n)
	for id := int64(1); id <= n; id++ {
		src.add(ev(id, maria))
		want = append(want, id)
	}
	p := serve(t, NewHub(nil, quiet), src, maria, "k", ServeOptions{Heartbeat: time.Hour})
	p.expectIDs(t, want...)
	src.mu.Lock()
	reads := src.reads
	src.mu.Unlock()
	if reads < n/replayBatch {
		t.Fatalf("%d events replayed in %d reads; want batches of %d", n, reads, replayBatch)
	}
}

// countingSource is the real store, counting the events its replays read.
type countingSource struct {
	Source
	mu       sync.Mutex
	rows     int // events EventsAfter returned
	bigReads int // calls asking for more than replayBatch
}

func (c *countingSource) EventsAfter(ctx context.Context, v store.Viewer, after int64, limit int) ([]store.Event, error) {
	es, err := c.Source.EventsAfter(ctx, v, after, limit)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows += len(es)
	if limit > replayBatch {
		c.bigReads++
	}
	return es, err
}

func (c *countingSource) counts() (rows, bigReads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows, c.bigReads
}

// TestServeReplayIsBounded: on the real store, a connect at most maxReplay events behind gets
// them all, read in batches of replayBatch; one further behind, as a connect from after=0 over a
// busy table, reads none of them and is told to reload at the newest id instead.
func TestServeReplayIsBounded(t *testing.T) {
	t.Parallel()
	st := storetest.NewDemo(t)
	mv := demoViewers(t, st)["maria"]
	before := newest(t, st)
	if _, err := st.DB().Exec(`INSERT INTO events (kind, practice_id, patient_id, conversation_id)
		SELECT 'message_sent', $1, $2, g FROM generate_series(1, $3) AS g`, mv.PracticeID, mv.UserID, maxReplay); err != nil {
		t.Fatal(err)
	}
	last := newest(t, st)
	h := NewHub(nil, quiet)

	src := &countingSource{Source: st}
	p := serve(t, h, src, mv, "within", ServeOptions{After: before, Heartbeat: time.Hour})
	p.connected(t)
	var want []int64
	for id := before + 1; id <= last; id++ {
		want = append(want, id)
	}
	p.expectIDs(t, want...)
	if rows, big := src.counts(); rows != maxReplay || big != 0 {
		t.Fatalf("replay of %d events read %d, %d reads of more than %d; want %d, 0", maxReplay, rows, big, replayBatch, maxReplay)
	}

	for _, after := range []int64{0, before - 1} {
		src := &countingSource{Source: st}
		p := serve(t, h, src, mv, fmt.Sprintf("from %d", after), ServeOptions{After: after, Heartbeat: time.Hour})
		p.connected(t)
		f := p.next(t, testTimeout)
		if f.ID != testIDs.Event(last) || f.Event != SSEChanged || f.Data != `{"kind":"reload"}` {
			t.Fatalf("after=%d: first event %v; want a reload at id %d", after, f, last)
		}
		if rows, _ := src.counts(); rows > maxReplay {
			t.Fatalf("after=%d: read %d events; want at most %d", after, rows, maxReplay)
		}
		p.expectQuiet(t, 50*time.Millisecond)
	}
}

// TestServeWithTheStore: the real store as the Source. Each viewer's replay holds only what
// they may see, in order, and live events follow without repeating the replay.
func TestServeWithTheStore(t *testing.T) {
	t.Parallel()
	st := storetest.NewDemo(t)
	h := NewHub(nil, quiet)
	users := demoViewers(t, st)
	after := newest(t, st)
	m1 := sendAs(t, st, users["maria"], "first").Event.ID
	t1 := sendAs(t, st, users["tom"], "tom's").Event.ID
	g1 := sendAs(t, st, users["grace"], "grace's").Event.ID
	m2 := sendAs(t, st, users["maria"], "second").Event.ID

	o := ServeOptions{After: after, Heartbeat: time.Hour}
	streams := map[string]*pipeStream{}
	for _, name := range []string{"maria", "tom", "grace", "riverside staff", "hillcrest staff"} {
		streams[name] = serve(t, h, st, users[name], name, o)
	}
	streams["maria"].expectIDs(t, m1, m2)
	streams["tom"].expectIDs(t, t1)
	streams["grace"].expectIDs(t, g1)
	streams["riverside staff"].expectIDs(t, m1, t1, m2)
	streams["hillcrest staff"].expectIDs(t, g1)

	// Live: the replayed events published again change nothing; a new one arrives once.
	m3 := sendAs(t, st, users["maria"], "third").Event
	for _, id := range []int64{m1, m2} {
		h.Deliver(store.Event{ID: id, Kind: store.EventMessageSent, PracticeID: m3.PracticeID, PatientID: m3.PatientID})
	}
	if err := h.Publish(context.Background(), m3); err != nil {
		t.Fatal(err)
	}
	streams["maria"].expectIDs(t, m3.ID)
	streams["riverside staff"].expectIDs(t, m3.ID)
	for _, name := range []string{"maria", "tom", "grace", "riverside staff", "hillcrest staff"} {
		streams[name].expectQuiet(t, 50*time.Millisecond)
	}
}

// TestServeReplayPostponedWhileDatabaseAway: when PostgreSQL does not answer the replay, the
// stream stays open, says so in a comment, and replays a little later; nothing is lost.
func TestServeReplayPostponedWhileDatabaseAway(t *testing.T) {
	t.Parallel()
	for _, after := range []int64{0, 1} { // with an id the horizon query fails first, without the replay
		t.Run(fmt.Sprintf("after %d", after), func(t *testing.T) {
			t.Parallel()
			src := &fakeSource{failReads: 1}
			src.add(ev(1, maria), ev(2, maria), ev(3, maria))
			p := serve(t, NewHub(nil, quiet), src, maria, "k", ServeOptions{After: after, Heartbeat: time.Hour})
			p.connected(t)
			if f := p.nextFrame(t, testTimeout); !slices.Contains(f.Comments, "replay postponed") {
				t.Fatalf("frame %v; want the postponed replay noted", f)
			}
			p.expectIDs(t, ids(after+1, 3)...)
			p.expectQuiet(t, 50*time.Millisecond)
		})
	}
}

// TestServePrunedHistorySendsReload: a page further behind than the events table reaches is
// told to reload everything, under the newest id, instead of being replayed a gap.
func TestServePrunedHistorySendsReload(t *testing.T) {
	t.Parallel()
	kept := func() *fakeSource { // events 50..60 are left after pruning
		src := &fakeSource{}
		for id := int64(50); id <= 60; id++ {
			src.add(ev(id, maria))
		}
		return src
	}
	tests := []struct {
		name   string
		src    *fakeSource
		after  int64
		reload bool
		ids    []int64
		seen   int64 // an id the page has by now, published again
	}{
		{"behind the oldest kept", kept(), 10, true, nil, 57},
		{"just behind the oldest kept", kept(), 48, true, nil, 57},
		{"right before the oldest kept", kept(), 49, false, ids(50, 60), 57},
		{"inside the kept history", kept(), 55, false, ids(56, 60), 57},
		{"page without an id", kept(), 0, false, ids(50, 60), 57},
		{"nothing kept at all", &fakeSource{}, 10, false, nil, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHub(nil, quiet)
			p := serve(t, h, tt.src, maria, "k", ServeOptions{After: tt.after, Heartbeat: time.Hour})
			p.connected(t)
			if tt.reload {
				f := p.next(t, testTimeout)
				if f.ID != testIDs.Event(60) || f.Event != SSEChanged || f.Data != `{"kind":"reload"}` {
					t.Fatalf("frame %v; want a reload under id 60", f)
				}
			}
			p.expectIDs(t, tt.ids...)
			// Live from the newest on: what the reload or replay covered is not sent again.
			h.Deliver(ev(tt.seen, maria))
			tt.src.add(ev(61, maria))
			h.Deliver(ev(61, maria))
			p.expectIDs(t, 61)
		})
	}

	t.Run("the store, pruned", func(t *testing.T) {
		t.Parallel()
		st := storetest.NewDemo(t)
		mv := demoViewers(t, st)["maria"]
		seen := sendAs(t, st, mv, "seen").Event.ID
		sendAs(t, st, mv, "pruned")
		last := sendAs(t, st, mv, "kept").Event.ID
		if _, err := st.DB().Exec(`DELETE FROM events WHERE id < $1`, last); err != nil {
			t.Fatal(err)
		}
		p := serve(t, NewHub(nil, quiet), st, mv, "k", ServeOptions{After: seen, Heartbeat: time.Hour})
		p.connected(t)
		f := p.next(t, testTimeout)
		if f.ID != testIDs.Event(last) || f.Data != `{"kind":"reload"}` {
			t.Fatalf("frame %v; want a reload under id %d", f, last)
		}
		p.expectQuiet(t, 50*time.Millisecond)
	})
}

func ids(from, to int64) []int64 {
	var out []int64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

// TestServeHeartbeat: a quiet stream sends a comment every Heartbeat, which keeps routers from
// cutting it.
func TestServeHeartbeat(t *testing.T) {
	t.Parallel()
	const beat = 50 * time.Millisecond
	p := serve(t, NewHub(nil, quiet), &fakeSource{}, maria, "k", ServeOptions{Heartbeat: beat})
	p.connected(t)
	start := time.Now()
	first := p.nextFrame(t, 10*beat)
	if !slices.Equal(first.Comments, []string{"ping"}) || first.ID != "" || first.Event != "" {
		t.Fatalf("frame %v; want a ping comment", first)
	}
	if d := time.Since(start); d < beat/2 {
		t.Fatalf("first ping after %v; want about %v", d, beat)
	}
	pings := 1
	for _, f := range p.stream.Quiet(t, 10*beat) {
		if !slices.Equal(f.Comments, []string{"ping"}) {
			t.Fatalf("frame %v on a quiet stream", f)
		}
		pings++
	}
	// 10 beats: at least a few pings even on a loaded machine, and never more than the ticker fires.
	if pings < 4 || pings > 12 {
		t.Fatalf("%d pings in %v at a %v heartbeat", pings, time.Since(start), beat)
	}
}

// TestServeCatchesUpOnHeartbeats: an event committed but never published (its publish failed)
// reaches an open stream from the table within three heartbeats, once, and nothing else does.
func TestServeCatchesUpOnHeartbeats(t *testing.T) {
	t.Parallel()
	const beat = 50 * time.Millisecond
	h := NewHub(nil, quiet)
	src := &fakeSource{}
	p := serve(t, h, src, maria, "k", ServeOptions{Heartbeat: beat})
	p.connected(t)
	src.add(ev(1, maria), ev(2, tom)) // committed; no hub is told
	p.expectIDs(t, 1)                 // not tom's 2
	h.Deliver(ev(1, maria))           // a late copy
	src.add(ev(3, maria))
	p.expectIDs(t, 3)
}

// TestServeEndsWhenSessionEnds: a stream checks its session on heartbeats; once it has been
// signed out or has expired the page is told signed-out and the stream ends. A database error is
// not taken for a sign-out.
func TestServeEndsWhenSessionEnds(t *testing.T) {
	t.Parallel()
	const beat = 50 * time.Millisecond
	t.Run("signed out", func(t *testing.T) {
		t.Parallel()
		h := NewHub(nil, quiet)
		src := &fakeSource{}
		p := serve(t, h, src, maria, "k", ServeOptions{Heartbeat: beat})
		p.connected(t)
		p.expectQuiet(t, 8*beat) // several session checks pass while the session is active
		src.set(func(f *fakeSource) { f.inactive = true })
		start := time.Now()
		fs := p.expectEnd(t, 40*beat)
		if len(fs) == 0 || fs[len(fs)-1].Event != SSESignedOut {
			t.Fatalf("frames %v; want the stream to end with %s", fs, SSESignedOut)
		}
		t.Logf("ended %v after the session did", time.Since(start))
		waitFor(t, testTimeout, "stream still registered", func() bool { return h.Len() == 0 })
	})
	t.Run("database error", func(t *testing.T) {
		t.Parallel()
		src := &fakeSource{}
		src.set(func(f *fakeSource) { f.inactive, f.activeErr = true, errors.New("database away") })
		p := serve(t, NewHub(nil, quiet), src, maria, "k", ServeOptions{Heartbeat: beat})
		p.connected(t)
		p.expectQuiet(t, 12*beat)
	})
	t.Run("the store", func(t *testing.T) {
		t.Parallel()
		st := storetest.NewDemo(t)
		ctx := context.Background()
		u, err := st.UserByEmail(ctx, "maria.lopez@riverside.example")
		if err != nil {
			t.Fatal(err)
		}
		token, err := st.CreateSession(ctx, u, store.Origin{})
		if err != nil {
			t.Fatal(err)
		}
		limits := store.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
		h := NewHub(nil, quiet)
		o := ServeOptions{After: newest(t, st), Heartbeat: beat, Sessions: limits}
		p := serve(t, h, st, u.Viewer(), store.SessionKey(token), o)
		p.connected(t)
		p.expectQuiet(t, 8*beat)
		if err := st.EndSession(ctx, token, store.Origin{}); err != nil {
			t.Fatal(err)
		}
		fs := p.expectEnd(t, 40*beat)
		if len(fs) == 0 || fs[len(fs)-1].Event != SSESignedOut {
			t.Fatalf("frames %v; want the stream to end with %s", fs, SSESignedOut)
		}
		waitFor(t, testTimeout, "stream still registered", func() bool { return h.Len() == 0 })
	})
}

// TestServeShutdown: when the server shuts down the stream ends at once with a retry hint, so
// the browser comes back soon, to another instance.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, quiet)
	shutdown := make(chan struct{})
	p := serve(t, h, &fakeSource{}, maria, "k", ServeOptions{Heartbeat: time.Hour, Shutdown: shutdown})
	p.connected(t)
	close(shutdown)
	fs := p.expectEnd(t, testTimeout)
	if len(fs) != 1 || fs[0].Retry == "" || fs[0].ID != "" || fs[0].Event != "" {
		t.Fatalf("frames %v; want one retry hint", fs)
	}
	if ms, err := strconv.Atoi(fs[0].Retry); err != nil || ms <= 0 || ms > 5000 {
		t.Fatalf("retry %q; want a few seconds at most", fs[0].Retry)
	}
	waitFor(t, testTimeout, "stream still registered", func() bool { return h.Len() == 0 })
}

// TestServeWriterFails: a browser that has gone shows only as a failed write; Serve then returns
// and the stream is unregistered, whether the failure comes on a heartbeat, on an event, or on
// the very first write.
func TestServeWriterFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		heartbeat time.Duration
		connected bool
		thenEvent bool
	}{
		{"on a heartbeat", 50 * time.Millisecond, true, false},
		{"on an event", time.Hour, true, true},
		{"on the first write", time.Hour, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHub(nil, quiet)
			src := &fakeSource{}
			s := open(t, h, maria, "k")
			if h.Len() != 1 {
				t.Fatalf("Len %d after Open", h.Len())
			}
			served := make(chan struct{})
			if tt.connected {
				p := serveStream(t, h, src, s, ServeOptions{Heartbeat: tt.heartbeat})
				p.connected(t)
				p.pr.CloseWithError(errors.New("browser gone"))
				served = p.served
			} else {
				pr, pw := io.Pipe()
				pr.CloseWithError(errors.New("browser gone"))
				go func() {
					defer close(served)
					h.Serve(src, s, bufio.NewWriter(pw), ServeOptions{Heartbeat: tt.heartbeat})
				}()
			}
			if tt.thenEvent {
				src.add(ev(1, maria))
				h.Deliver(ev(1, maria))
			}
			select {
			case <-served:
			case <-time.After(testTimeout):
				t.Fatal("Serve still running after its writer failed")
			}
			if h.Len() != 0 {
				t.Fatalf("Len %d after Serve returned", h.Len())
			}
			queued := len(s.events)
			h.Deliver(ev(2, maria)) // nothing is left to deliver to, and nothing blocks
			if len(s.events) != queued {
				t.Fatal("a closed stream is still offered events")
			}
		})
	}
}
