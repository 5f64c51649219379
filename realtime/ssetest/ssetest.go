// Package ssetest reads a live stream's server-sent events the way a browser's EventSource does,
// for the tests of the stream (realtime's own and the whole-system suites).
package ssetest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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

// Stream is a live stream's frames, read on a goroutine of their own into a buffer that a test
// takes them from with NextFrame, Next, Quiet and End.
type Stream struct {
	Name   string     // named in failure messages; "" for none
	Frames chan Frame // every frame read, in order; closed when the stream has ended
}

// Start reads r's frames (Read) into a new Stream holding up to buffer unread frames, until r
// ends.
func Start(name string, r io.Reader, buffer int) *Stream {
	s := &Stream{Name: name, Frames: make(chan Frame, buffer)}
	go func() {
		defer close(s.Frames)
		Read(r, func(f Frame) { s.Frames <- f })
	}()
	return s
}

func (s *Stream) prefix() string {
	if s.Name == "" {
		return "stream"
	}
	return s.Name
}

// take returns the next frame: one already buffered if there is any, even when the deadline has
// passed, else the first to arrive before it. ok is false at the end of the stream, timedOut
// when the deadline came first.
func (s *Stream) take(deadline <-chan time.Time) (f Frame, ok, timedOut bool) {
	select {
	case f, ok = <-s.Frames:
		return f, ok, false
	default:
	}
	select {
	case f, ok = <-s.Frames:
		return f, ok, false
	case <-deadline:
		return Frame{}, false, true
	}
}

// NextFrame returns the next frame of any kind, failing after d.
func (s *Stream) NextFrame(t testing.TB, d time.Duration) Frame {
	t.Helper()
	f, ok, timedOut := s.take(time.After(d))
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
	deadline := time.After(d)
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
	deadline := time.After(d)
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
	deadline := time.After(d)
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
