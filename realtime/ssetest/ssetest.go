// Package ssetest reads a live stream's server-sent events the way a browser's EventSource does,
// for the tests of the stream (realtime's own and the whole-system suites).
package ssetest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Frame is one blank-line-terminated block of a stream: an event, a retry hint, a comment (the
// heartbeat), or several of these.
type Frame struct {
	ID, Event, Data, Retry string
	Comments               []string
	At                     time.Time // when it was read
}

func (f Frame) String() string {
	return fmt.Sprintf("{id:%q event:%q data:%q retry:%q comments:%q}", f.ID, f.Event, f.Data, f.Retry, f.Comments)
}

// IsEvent reports whether the frame carries an event, not only a retry hint or a comment.
func (f Frame) IsEvent() bool { return f.ID != "" || f.Event != "" || f.Data != "" }

// Read calls emit with each frame of r that has at least one line, until r ends; it returns the
// error that ended it (nil at EOF). Data lines join with a newline, as EventSource joins them.
func Read(r io.Reader, emit func(Frame)) error {
	sc := bufio.NewScanner(r)
	var f Frame
	var has bool
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				f.Data = strings.TrimSuffix(f.Data, "\n")
				f.At = time.Now()
				emit(f)
			}
			f, has = Frame{}, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			f.Comments = append(f.Comments, strings.TrimSpace(line[1:]))
			has = true
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			f.ID = value
		case "event":
			f.Event = value
		case "data":
			f.Data += value + "\n"
		case "retry":
			f.Retry = value
		}
		has = true
	}
	return sc.Err()
}

// Stream is a live stream's frames, read on a goroutine of their own and kept, every one, in
// the order read. A test takes them one by one (NextFrame, Next, Quiet, End) or looks at all of
// them so far (Frames, WaitFor).
type Stream struct {
	Name string // named in failure messages; "" for none

	mu     sync.Mutex
	frames []Frame
	taken  int  // frames already returned by NextFrame, Next, Quiet and End
	ended  bool // the stream has ended
	err    error
	change chan struct{} // signalled after each frame and at the end
	done   chan struct{} // closed once the stream has ended
}

// Start reads r's frames (Read) into a new Stream until r ends.
func Start(name string, r io.Reader) *Stream {
	s := &Stream{Name: name, change: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := Read(r, func(f Frame) {
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
			s.notify()
		})
		s.mu.Lock()
		s.ended, s.err = true, err
		s.mu.Unlock()
		s.notify()
	}()
	return s
}

func (s *Stream) notify() {
	select {
	case s.change <- struct{}{}:
	default:
	}
}

// Done is closed once the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Frames is every frame read so far, and whether the stream has ended.
func (s *Stream) Frames() ([]Frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...), s.ended
}

// Buffered is how many frames have been read and not yet taken.
func (s *Stream) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames) - s.taken
}

// WaitFor waits until ok holds for the frames read so far (and whether the stream has ended),
// failing after timeout; it returns those frames.
func (s *Stream) WaitFor(t testing.TB, what string, timeout time.Duration, ok func([]Frame, bool) bool) []Frame {
	t.Helper()
	deadline := time.After(timeout)
	for {
		fs, ended := s.Frames()
		if ok(fs, ended) {
			return fs
		}
		select {
		case <-s.change:
		case <-deadline:
			n := len(fs)
			if n > 8 {
				fs = fs[n-8:]
			}
			t.Fatalf("%s: no %s within %v; read %d frames (ended %t), the last: %v", s.prefix(), what, timeout, n, ended, fs)
		}
	}
}

func (s *Stream) prefix() string {
	if s.Name == "" {
		return "stream"
	}
	return s.Name
}

// take returns the next frame not yet taken: one already read if there is any, even when the
// deadline has passed, else the first to arrive before it. ok is false at the end of the
// stream, timedOut when the deadline came first.
func (s *Stream) take(deadline time.Time) (f Frame, ok, timedOut bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		s.mu.Lock()
		switch {
		case s.taken < len(s.frames):
			f = s.frames[s.taken]
			s.taken++
			s.mu.Unlock()
			return f, true, false
		case s.ended:
			s.mu.Unlock()
			return Frame{}, false, false
		}
		s.mu.Unlock()
		select {
		case <-s.change:
		case <-timer.C:
			// One last look: a frame read just now still counts.
			s.mu.Lock()
			if s.taken < len(s.frames) {
				f = s.frames[s.taken]
				s.taken++
				s.mu.Unlock()
				return f, true, false
			}
			s.mu.Unlock()
			return Frame{}, false, true
		}
	}
}

// NextFrame returns the next frame of any kind, failing after d.
func (s *Stream) NextFrame(t testing.TB, d time.Duration) Frame {
	t.Helper()
	f, ok, timedOut := s.take(time.Now().Add(d))
	switch {
	case timedOut:
		t.Fatalf("%s: no frame within %v", s.prefix(), d)
	case !ok:
		t.Fatalf("%s ended; want a frame", s.prefix())
	}
	return f
}

// Next returns the next event (IsEvent), skipping comments and retry hints, failing after d.
func (s *Stream) Next(t testing.TB, d time.Duration) Frame {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, ok, timedOut := s.take(deadline)
		switch {
		case timedOut:
			t.Fatalf("%s: no event within %v", s.prefix(), d)
		case !ok:
			t.Fatalf("%s ended; want an event", s.prefix())
		case f.IsEvent():
			return f
		}
	}
}

// Quiet checks that no event is buffered or arrives within d, and that the stream stays open.
// It judges what is already buffered first, so Quiet(t, 0) fails whenever an event is waiting.
// It returns the other frames (heartbeats, retry hints) read meanwhile.
func (s *Stream) Quiet(t testing.TB, d time.Duration) []Frame {
	t.Helper()
	var others []Frame
	deadline := time.Now().Add(d)
	for {
		f, ok, timedOut := s.take(deadline)
		switch {
		case timedOut:
			return others
		case !ok:
			t.Fatalf("%s ended; want it open and quiet", s.prefix())
		case f.IsEvent():
			t.Fatalf("%s: got %v; want nothing", s.prefix(), f)
		}
		others = append(others, f)
	}
}

// End reads until the stream ends, which must happen within d, and returns the frames read on
// the way.
func (s *Stream) End(t testing.TB, d time.Duration) []Frame {
	t.Helper()
	var fs []Frame
	deadline := time.Now().Add(d)
	for {
		f, ok, timedOut := s.take(deadline)
		switch {
		case timedOut:
			t.Fatalf("%s still open after %v (frames so far %v)", s.prefix(), d, fs)
		case !ok:
			return fs
		}
		fs = append(fs, f)
	}
}
