package ssetest

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure and stops the goroutine it failed on, as
// testing.T does, so that a test can check that a helper fails.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs check with a recorder and returns what it failed with ("" if it passed).
func fails(check func(testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.failed
}

// buffered starts a stream on frames and waits until all n of them are buffered.
func buffered(t *testing.T, frames string, n int) *Stream {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	s := Start("test stream", pr)
	go pw.Write([]byte(frames))
	deadline := time.Now().Add(10 * time.Second)
	for s.Buffered() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d frames buffered", s.Buffered(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return s
}

// A zero-wait quiet check judges what is already buffered: a waiting event fails it every time,
// not only when the expired deadline loses the race to the frame.
func TestQuietZeroFailsOnABufferedEvent(t *testing.T) {
	for i := range 200 {
		s := buffered(t, ": heartbeat\n\nid: 7\nevent: changed\ndata: {}\n\n", 2)
		if got := fails(func(tb testing.TB) { s.Quiet(tb, 0) }); !strings.Contains(got, `got {id:"7"`) {
			t.Fatalf("run %d: Quiet(0) with an event buffered failed with %q; want it to report the event", i, got)
		}
	}
}

// Comments alone keep a stream quiet, and are returned.
func TestQuietPassesOnComments(t *testing.T) {
	s := buffered(t, ": heartbeat\n\n: heartbeat\n\n", 2)
	var got []Frame
	if msg := fails(func(tb testing.TB) { got = s.Quiet(tb, 0) }); msg != "" {
		t.Fatalf("Quiet(0) with only comments buffered failed: %s", msg)
	}
	if len(got) != 2 || got[0].Comments[0] != "heartbeat" {
		t.Fatalf("Quiet returned %v; want the two heartbeats", got)
	}
}

// End returns every frame up to the end of the stream.
func TestEndReadsEveryFrame(t *testing.T) {
	s := Start("ended", strings.NewReader("retry: 1000\n\nid: 1\ndata: x\n\n"))
	var fs []Frame
	if msg := fails(func(tb testing.TB) { fs = s.End(tb, 10*time.Second) }); msg != "" {
		t.Fatalf("End: %s", msg)
	}
	if len(fs) != 2 || fs[0].Retry != "1000" || fs[1].ID != "1" {
		t.Fatalf("End returned %v; want the retry hint and event 1", fs)
	}
}
