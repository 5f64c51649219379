package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"securemessages/store"
)

// Stream is one open page's server-sent-events connection.
type Stream struct {
	Viewer     store.Viewer
	SessionKey string

	events  chan *Wire    // live events for this viewer, buffered; shared with other streams, read-only
	resync  chan struct{} // "you may have missed something: replay from PostgreSQL"
	ended   chan struct{} // closed when the session signs out
	endOnce sync.Once
}

func (s *Stream) offer(w *Wire) {
	select {
	case s.events <- w:
	default:
		s.needResync() // never block the hub on a slow browser; it catches up from the table
	}
}

func (s *Stream) needResync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

func (s *Stream) end() { s.endOnce.Do(func() { close(s.ended) }) }

// Source is what a stream reads from PostgreSQL.
type Source interface {
	EventsAfter(ctx context.Context, v store.Viewer, after int64, limit int) ([]store.Event, error)
	EventHorizon(ctx context.Context, practiceID int64) (newest, oldest int64, err error)
	SessionActive(ctx context.Context, key string, limits store.SessionLimits) (bool, error)
}

// ServeOptions tune one stream.
type ServeOptions struct {
	After     int64           // the last event the page reflects
	Shutdown  <-chan struct{} // closed when the server shuts down
	Sessions  store.SessionLimits
	Heartbeat time.Duration    // 0 means Heartbeat
	IDs       *store.PublicIDs // writes the ids the page sees: event ids and the ids in an event's data
}

// SSE event names the page listens for.
const (
	SSEChanged   = "changed"    // something the viewer may see changed: fetch the inbox again
	SSESignedOut = "signed-out" // the session ended: the page stops listening
	// SSETooManyStreams: the session or user holds its cap of streams; the page waits BusyRetry.
	SSETooManyStreams = "too-many-streams"
)

// replayBatch bounds one replay query; a page behind replays in several.
const replayBatch = 100

// maxReplay bounds the events one replay reads. A page further behind than that is sent one
// "reload" event instead, which it answers as it does any change, by fetching its inbox afresh:
// a connect claiming to have seen nothing (after=0) costs one query, not a read of the whole table.
const maxReplay = 500

// BusyRetry is how long a page told it holds too many streams waits before it tries again.
const BusyRetry = time.Minute

// BusyFrame is the body of the answer to a stream over its session's or user's cap. hx-sse
// reads the body of a first connect whatever its status, and takes a retry hint only from a
// frame that carries an event; its later attempts back off from that delay.
var BusyFrame = fmt.Sprintf("retry: %d\nevent: %s\ndata: {}\n\n", BusyRetry.Milliseconds(), SSETooManyStreams)

// Serve writes the stream until the browser goes, the session ends or the server shuts down.
// It replays what the viewer missed after o.After, then goes live; ids only ever increase, so
// nothing is sent twice. It runs on the connection's own goroutine and unregisters on return.
func (h *Hub) Serve(src Source, s *Stream, w *bufio.Writer, o ServeOptions) {
	defer h.Close(s)
	if o.Heartbeat == 0 {
		o.Heartbeat = Heartbeat
	}
	sse := &sseWriter{w: w, last: o.After, ids: o.IDs}
	// The retry hint sets how soon the browser reconnects after the stream ends.
	if sse.comment("retry: 2000\n: connected") != nil {
		return
	}
	replay := func() error {
		postponed, err := sse.replay(src, s.Viewer)
		if postponed {
			// PostgreSQL did not answer: keep the stream and try again shortly.
			time.AfterFunc(3*time.Second, s.needResync)
		}
		return err
	}
	if replay() != nil {
		return
	}
	tick := time.NewTicker(o.Heartbeat)
	defer tick.Stop()
	beats := 0
	for {
		var err error
		select {
		case e := <-s.events:
			err = sse.event(*e)
		case <-s.resync:
			err = replay()
		case <-tick.C:
			// A failed write is the only sign that a browser has gone, so the heartbeat is also
			// how a vanished client is let go.
			err = sse.comment(": ping")
			beats++
			// Every third heartbeat, check the session has not expired meanwhile, and catch up
			// from the table: an event whose publish failed after its commit (Redis going away
			// while this instance's subscription still stood, or not yet back) reaches no hub,
			// and would otherwise wait for the next event or the next resubscription.
			if err == nil && beats%3 == 0 {
				if !sessionActive(src, s.SessionKey, o.Sessions) {
					sse.named(SSESignedOut, "{}")
					return
				}
				err = replay()
			}
		case <-s.ended:
			sse.named(SSESignedOut, "{}")
			return
		case <-o.Shutdown:
			sse.comment("retry: 1000") // come back soon, to another instance
			return
		}
		if err != nil {
			return
		}
	}
}

func sessionActive(src Source, key string, limits store.SessionLimits) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	active, err := src.SessionActive(ctx, key, limits)
	return err != nil || active // a database hiccup does not sign anybody out
}

type sseWriter struct {
	w    *bufio.Writer
	last int64
	ids  *store.PublicIDs
}

func (s *sseWriter) comment(text string) error {
	fmt.Fprintf(s.w, "%s\n\n", text)
	return s.w.Flush()
}

func (s *sseWriter) named(name, data string) error {
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data)
	return s.w.Flush()
}

// eventData is an event's data line; its ids are public ones, like every id a page sees.
type eventData struct {
	Kind           string `json:"kind"`
	ConversationID string `json:"conversation_id,omitempty"`
	MessageID      string `json:"message_id,omitempty"`
}

// event sends one event unless the page has already had it.
func (s *sseWriter) event(e Wire) error {
	if e.ID <= s.last {
		return nil
	}
	d := eventData{Kind: e.Kind}
	if e.ConversationID != 0 {
		d.ConversationID = s.ids.Conversation(e.ConversationID)
	}
	if e.MessageID != 0 {
		d.MessageID = s.ids.Message(e.MessageID)
	}
	data, _ := json.Marshal(d)
	fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", s.ids.Event(e.ID), SSEChanged, data)
	s.last = e.ID
	return s.w.Flush()
}

// replay sends, from PostgreSQL, every event of the viewer's after the last one sent. If events
// the page has not seen were already pruned, or more of them may be waiting than maxReplay (ids
// are increasing and unique, so the newest id less the last one bounds their number), it tells
// the page to fetch everything afresh. It reports postponed when PostgreSQL could not be read.
func (s *sseWriter) replay(src Source, v store.Viewer) (postponed bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	newest, oldest, err := src.EventHorizon(ctx, v.PracticeID)
	if err != nil {
		return true, s.comment(": replay postponed")
	}
	if (s.last > 0 && oldest > s.last+1) || newest-s.last > maxReplay {
		s.last = newest
		fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: {\"kind\":\"reload\"}\n\n", s.ids.Event(newest), SSEChanged)
		return false, s.w.Flush()
	}
	// Events committed since the horizon was read also reach the stream live (or flag a resync),
	// so the replay stops at maxReplay whatever it finds.
	for read := 0; read < maxReplay; {
		limit := min(replayBatch, maxReplay-read)
		events, err := src.EventsAfter(ctx, v, s.last, limit)
		if err != nil {
			return true, s.comment(": replay postponed")
		}
		read += len(events)
		for _, e := range events {
			if err := s.event(wireOf(e)); err != nil {
				return false, err
			}
		}
		if len(events) < limit {
			return false, nil
		}
	}
	return false, nil
}
