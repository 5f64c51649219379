// Package ssetest reads a live stream's server-sent events the way a browser's EventSource does,
// for the tests of the stream (realtime's own and the whole-system suites).
package ssetest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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
