package realtime

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securemessages/realtime/localredis"
	"securemessages/realtime/ssetest"
	"securemessages/store"
	"securemessages/store/storetest"
)

// TestMain starts a private PostgreSQL server for the tests that use the real store as their
// Source, when DATABASE_URL is unset.
func TestMain(m *testing.M) { storetest.Main(m) }

// quiet is a logger for hubs under test.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testIDs writes the streams' public ids in these tests (ServeOptions.IDs).
var testIDs = func() *store.PublicIDs {
	ids, err := store.NewPublicIDs([]byte("0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return ids
}()

// Viewers of two practices, for the tests that need no database.
var (
	maria      = store.Viewer{UserID: 11, PracticeID: 1, Role: store.RolePatient}
	tom        = store.Viewer{UserID: 12, PracticeID: 1, Role: store.RolePatient}
	riverStaff = store.Viewer{UserID: 21, PracticeID: 1, Role: store.RoleStaff}
	grace      = store.Viewer{UserID: 31, PracticeID: 2, Role: store.RolePatient}
	hillStaff  = store.Viewer{UserID: 41, PracticeID: 2, Role: store.RoleStaff}
)

// testTimeout bounds every wait that is not itself what a test measures.
const testTimeout = 15 * time.Second

// ev is a message_sent event in patient's conversation 100+id.
func ev(id int64, patient store.Viewer) store.Event {
	return store.Event{ID: id, Kind: store.EventMessageSent, PracticeID: patient.PracticeID,
		PatientID: patient.UserID, ConversationID: 100 + id, MessageID: 1000 + id}
}

// fakeSource is an events table in memory, scoped like the store's queries.
type fakeSource struct {
	mu        sync.Mutex
	events    []store.Event // ascending ids; everything below the first was pruned
	failReads int           // the next failReads reads fail, as when PostgreSQL is away
	inactive  bool          // the session has ended
	activeErr error
	reads     int
}

func (f *fakeSource) add(es ...store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, es...)
}

func (f *fakeSource) EventsAfter(_ context.Context, v store.Viewer, after int64, limit int) ([]store.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.failReads > 0 {
		f.failReads--
		return nil, errors.New("fake: database away")
	}
	var out []store.Event
	for _, e := range f.events {
		if e.ID > after && e.PracticeID == v.PracticeID && (v.Role == store.RoleStaff || e.PatientID == v.UserID) {
			out = append(out, e)
		}
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (f *fakeSource) EventHorizon(_ context.Context, practiceID int64) (newest, oldest int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failReads > 0 {
		f.failReads--
		return 0, 0, errors.New("fake: database away")
	}
	if len(f.events) == 0 {
		return 0, 0, nil
	}
	for _, e := range f.events {
		if e.PracticeID == practiceID {
			newest = e.ID
		}
	}
	return newest, f.events[0].ID, nil
}

func (f *fakeSource) SessionActive(context.Context, string, store.SessionLimits) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.inactive, f.activeErr
}

func (f *fakeSource) set(fn func(*fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// frame is one server-sent-events frame as a browser would read it.
type frame = ssetest.Frame

// pipeStream is a stream served into a pipe the test reads, as fasthttp's writer would be.
type pipeStream struct {
	hub      *Hub
	s        *Stream
	pr       *io.PipeReader
	stream   *ssetest.Stream // the frames read from pr
	served   chan struct{}   // closed when Serve has returned
	shutdown chan struct{}
	gate     sync.Mutex // held while the test plays a browser that has stopped reading
}

// serve runs Serve for a new stream of v on a pipe the test reads. The stream is torn down when
// the test ends.
func serve(t *testing.T, h *Hub, src Source, v store.Viewer, session string, o ServeOptions) *pipeStream {
	t.Helper()
	return serveStream(t, h, src, open(t, h, v, session), o)
}

// open registers a stream of v under the default caps, failing the test if it is refused.
func open(t *testing.T, h *Hub, v store.Viewer, session string) *Stream {
	t.Helper()
	s, err := h.Open(v, session, Limits{})
	if err != nil {
		t.Fatalf("open a stream of user %d: %v", v.UserID, err)
	}
	return s
}

func serveStream(t *testing.T, h *Hub, src Source, s *Stream, o ServeOptions) *pipeStream {
	t.Helper()
	pr, pw := io.Pipe()
	p := &pipeStream{hub: h, s: s, pr: pr, served: make(chan struct{}), shutdown: make(chan struct{})}
	if o.Shutdown == nil {
		o.Shutdown = p.shutdown
	}
	if o.IDs == nil {
		o.IDs = testIDs
	}
	go func() {
		defer close(p.served)
		h.Serve(src, s, bufio.NewWriter(pw), o)
		pw.Close()
	}()
	p.stream = ssetest.Start("", gatedReader{p})
	t.Cleanup(func() {
		pr.CloseWithError(errors.New("test over"))
		close(p.shutdown)
		select {
		case <-p.served:
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after the test")
		}
	})
	return p
}

type gatedReader struct{ p *pipeStream }

func (g gatedReader) Read(b []byte) (int, error) {
	g.p.gate.Lock()
	g.p.gate.Unlock()
	return g.p.pr.Read(b)
}

// pause stops reading, as a stalled browser does: the next write after the one in flight blocks.
func (p *pipeStream) pause()  { p.gate.Lock() }
func (p *pipeStream) resume() { p.gate.Unlock() }

// nextFrame returns the next frame of any kind, failing after d.
func (p *pipeStream) nextFrame(t *testing.T, d time.Duration) frame {
	t.Helper()
	return p.stream.NextFrame(t, d)
}

// connected waits for the frame every stream opens with: a retry hint and a comment.
func (p *pipeStream) connected(t *testing.T) {
	t.Helper()
	f := p.nextFrame(t, testTimeout)
	if f.Retry == "" || !slices.Contains(f.Comments, "connected") {
		t.Fatalf("first frame %v; want the retry hint and \"connected\"", f)
	}
}

// next returns the next frame that is more than a comment, failing after d.
func (p *pipeStream) next(t *testing.T, d time.Duration) frame {
	t.Helper()
	return p.stream.Next(t, d)
}

// expectIDs reads events until it has len(want) of them, and compares their ids.
func (p *pipeStream) expectIDs(t *testing.T, want ...int64) {
	t.Helper()
	var got []int64
	for len(got) < len(want) {
		f := p.next(t, testTimeout)
		if f.Event != SSEChanged {
			t.Fatalf("got %v after ids %v; want ids %v", f, got, want)
		}
		id, ok := testIDs.ParseEvent(f.ID)
		if !ok {
			t.Fatalf("frame %v has no event's public id", f)
		}
		got = append(got, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
}

// expectQuiet fails if an event (anything but a comment) is buffered or arrives within d.
func (p *pipeStream) expectQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	p.stream.Quiet(t, d)
}

// expectEnd reads to the end of the stream, which must come within d, and returns the frames.
func (p *pipeStream) expectEnd(t *testing.T, d time.Duration) []frame {
	t.Helper()
	fs := p.stream.End(t, d)
	select {
	case <-p.served:
	case <-time.After(d):
		t.Fatal("body ended but Serve did not return")
	}
	return fs
}

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	storetest.WaitFor(t, d, what, cond)
}

// startRedis starts a private Redis server for one test: pub/sub channels are global to a
// server, so tests that shared one would hear each other's events.
func startRedis(t *testing.T) (*localredis.Server, *redis.Client) {
	t.Helper()
	srv := startRedisWith(t, func(ctx context.Context, dir string) (*localredis.Server, error) {
		return localredis.Start(ctx, dir, 0)
	})
	return srv, newClient(t, srv.URL, TLSOptions{})
}

// startTLSRedis starts a private Redis server that speaks only TLS and presents c's certificate.
func startTLSRedis(t *testing.T, c localredis.TLS) *localredis.Server {
	t.Helper()
	return startRedisWith(t, func(ctx context.Context, dir string) (*localredis.Server, error) {
		return localredis.StartTLS(ctx, dir, c)
	})
}

func startRedisWith(t *testing.T, start func(ctx context.Context, dir string) (*localredis.Server, error)) *localredis.Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "rt-redis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := start(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

func newClient(t *testing.T, url string, o TLSOptions) *redis.Client {
	t.Helper()
	c, err := Connect(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runHub runs h's subscription until the test ends, or until stop, and waits until Redis counts
// it. stop ends Run's context and fails the test unless Run then returns.
func runHub(t *testing.T, h *Hub, watch *redis.Client) (stop func()) {
	t.Helper()
	before := subscribers(t, watch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Errorf("Hub.Run did not return after its context ended")
		}
	})
	t.Cleanup(stop)
	waitFor(t, testTimeout, "hub never subscribed", func() bool { return subscribers(t, watch) > before })
	return stop
}

// twoHubs are the hubs of two instances over one Redis, each running until the test ends.
func twoHubs(t *testing.T, client *redis.Client) (a, b *Hub) {
	t.Helper()
	a, b = NewHub(client, quiet), NewHub(client, quiet)
	runHub(t, a, client)
	runHub(t, b, client)
	return a, b
}

func subscribers(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	n, err := c.PubSubNumSub(context.Background(), Channel).Result()
	if err != nil {
		return -1
	}
	return n[Channel]
}
