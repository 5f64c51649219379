package realtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"securemessages/store"
)

// Hub is one instance's single Redis subscription, fanned out to the streams it serves. It never
// blocks on a browser: a stream whose buffer is full is told to resync from PostgreSQL instead.
type Hub struct {
	client *redis.Client
	log    *slog.Logger

	mu         sync.Mutex
	byPatient  map[int64]map[*Stream]struct{} // a patient's own streams
	byPractice map[int64]map[*Stream]struct{} // a practice's staff streams
	bySession  map[string]map[*Stream]struct{}
	byUser     map[int64]int // open streams per signed-in user, for Limits.PerUser
	count      int
	refused    atomic.Int64 // streams refused for a cap, since start
}

// Limits cap the streams one session and one user may hold open on this instance. They are
// counted by each instance's hub alone: behind a router that spreads connections over n
// instances, a user may hold up to n times as many in all. Each stream costs a connection, a
// goroutine and a replay, so without a cap one session could open thousands.
type Limits struct {
	PerSession int // 0 means DefaultStreamsPerSession
	PerUser    int // 0 means DefaultStreamsPerUser
}

// The default caps leave room for a person with several tabs and a phone. A tab sent to the
// background lets its stream go, but the server notices only at that stream's next failed
// heartbeat, so a person flicking through tabs briefly holds more streams than they see.
const (
	DefaultStreamsPerSession = 6
	DefaultStreamsPerUser    = 12
)

// ErrTooManyStreams is Open's answer when the session or the user already holds its cap.
var ErrTooManyStreams = errors.New("realtime: too many live streams open")

// NewHub makes a hub over client; a nil client serves streams from replay alone.
func NewHub(client *redis.Client, log *slog.Logger) *Hub {
	return &Hub{client: client, log: log,
		byPatient: map[int64]map[*Stream]struct{}{}, byPractice: map[int64]map[*Stream]struct{}{},
		bySession: map[string]map[*Stream]struct{}{}, byUser: map[int64]int{}}
}

// Run holds the subscription until ctx ends. go-redis reconnects and resubscribes by itself
// when Redis comes back; every (re)subscription may follow a gap, so each one makes every
// stream resync from the events table.
func (h *Hub) Run(ctx context.Context) {
	if h.client == nil {
		return
	}
	sub := h.client.Subscribe(ctx, Channel)
	defer sub.Close()
	// go-redis reads the subscription with a context of its own, so its channel outlives ctx:
	// closing the subscription when ctx ends is what closes the channel and ends the loop.
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer stop()
	for msg := range sub.ChannelWithSubscriptions(redis.WithChannelSize(1024)) {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.resyncAll()
			}
		case *redis.Message:
			var w Wire
			if err := json.Unmarshal([]byte(m.Payload), &w); err != nil {
				h.log.Warn("realtime: unreadable event", "error", err.Error())
				continue
			}
			h.dispatch(w)
		}
	}
}

// Open registers a stream for a viewer's session, unless the session or the user already holds
// as many as l allows (ErrTooManyStreams).
func (h *Hub) Open(v store.Viewer, sessionKey string, l Limits) (*Stream, error) {
	perSession, perUser := cmp.Or(l.PerSession, DefaultStreamsPerSession), cmp.Or(l.PerUser, DefaultStreamsPerUser)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bySession[sessionKey]) >= perSession || h.byUser[v.UserID] >= perUser {
		h.refused.Add(1)
		return nil, ErrTooManyStreams
	}
	s := &Stream{Viewer: v, SessionKey: sessionKey, events: make(chan *Wire, 64),
		resync: make(chan struct{}, 1), ended: make(chan struct{})}
	add(h.bySession, sessionKey, s)
	h.byUser[v.UserID]++
	if v.Role == store.RoleStaff {
		add(h.byPractice, v.PracticeID, s)
	} else {
		add(h.byPatient, v.UserID, s)
	}
	h.count++
	return s, nil
}

// Close unregisters a stream; call it when the stream's writer returns.
func (h *Hub) Close(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.bySession[s.SessionKey][s]; !ok {
		return
	}
	remove(h.bySession, s.SessionKey, s)
	if h.byUser[s.Viewer.UserID]--; h.byUser[s.Viewer.UserID] == 0 {
		delete(h.byUser, s.Viewer.UserID)
	}
	if s.Viewer.Role == store.RoleStaff {
		remove(h.byPractice, s.Viewer.PracticeID, s)
	} else {
		remove(h.byPatient, s.Viewer.UserID, s)
	}
	h.count--
}

// Len is the number of open streams.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Refused is the number of streams refused for being over a cap since the hub started.
func (h *Hub) Refused() int64 { return h.refused.Load() }

// Drain waits until every stream on this instance has ended, or ctx ends, and reports whether
// they all did. Each stream owns its connection, so the HTTP server's shutdown does not wait for
// them: the process does, here, so that every page gets its "come back soon" before it exits.
func (h *Hub) Drain(ctx context.Context) bool {
	for h.Len() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// EndSession closes every stream of a session on this instance.
func (h *Hub) EndSession(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.bySession[key] {
		s.end()
	}
}

// EndUser closes every stream of a user on this instance. It looks through all of them: it runs
// when an administrator deactivates someone, which is rare, and an index by user for it would
// cost every stream's open and close.
func (h *Hub) EndUser(userID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, streams := range h.bySession {
		for s := range streams {
			if s.Viewer.UserID == userID {
				s.end()
			}
		}
	}
}

// dispatch hands an event to the streams allowed to see it: the patient's own, and the staff of
// the patient's practice. Nobody else's.
func (h *Hub) dispatch(w Wire) {
	switch w.Kind {
	case KindSessionEnded:
		h.EndSession(w.Session)
		return
	case KindUserEnded:
		h.EndUser(w.User)
		return
	}
	// Every stream is handed the same copy, which none of them changes: a buffer of pointers
	// keeps an idle stream small, where a buffer of events would hold a copy of each for every stream.
	e := &w
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byPatient[w.PatientID] {
		if s.Viewer.PracticeID == w.PracticeID {
			s.offer(e)
		}
	}
	for s := range h.byPractice[w.PracticeID] {
		s.offer(e)
	}
}

// Deliver dispatches an event committed on this instance straight away, without waiting for
// the round trip through Redis (the copy that comes back is dropped as a duplicate).
func (h *Hub) Deliver(e store.Event) { h.dispatch(wireOf(e)) }

func (h *Hub) resyncAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, streams := range h.bySession {
		for s := range streams {
			s.needResync()
		}
	}
}

func add[K comparable](m map[K]map[*Stream]struct{}, k K, s *Stream) {
	if m[k] == nil {
		m[k] = map[*Stream]struct{}{}
	}
	m[k][s] = struct{}{}
}

func remove[K comparable](m map[K]map[*Stream]struct{}, k K, s *Stream) {
	delete(m[k], s)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// Heartbeat is how often a quiet stream sends a comment: well inside the 55 s after which
// routers such as Heroku's cut an idle connection.
const Heartbeat = 20 * time.Second
