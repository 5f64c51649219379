package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"securemessages/store"
)

// sseClient is one open page's live stream, read the way a browser reads it: one keep-alive
// HTTP/1.1 request to /events, then server-sent-event frames as they come. Each event id is
// stamped with its arrival time.
type sseClient struct {
	token    string
	staff    bool
	practice int64
	patient  int64            // for a patient's stream: whose
	ids      *store.PublicIDs // the event ids the stream writes and reads, public ones

	conn    net.Conn
	mu      sync.Mutex
	arrived []arrival
	done    chan struct{}
}

type arrival struct {
	id int64
	at time.Time
}

// dialTimeout bounds one stream's connect; the server answers with its first frame at once.
const dialTimeout = 20 * time.Second

// open connects the stream and returns once its first frame (": connected") has arrived.
func (c *sseClient) open(addr string, after int64) error {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return err
	}
	c.conn = conn
	c.done = make(chan struct{})
	c.mu.Lock()
	c.arrived = nil
	c.mu.Unlock()
	conn.SetDeadline(time.Now().Add(dialTimeout))
	fmt.Fprintf(conn, "GET /events?after=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nHX-Request: true\r\nCookie: sid=%s\r\n\r\n",
		c.ids.Event(after), addr, c.token)
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return fmt.Errorf("stream answered %s", resp.Status)
	}
	body := bufio.NewReaderSize(resp.Body, 512)
	for {
		line, err := body.ReadSlice('\n')
		if err != nil {
			conn.Close()
			return fmt.Errorf("stream ended before its first frame: %w", err)
		}
		if bytes.HasPrefix(line, []byte(": connected")) {
			break
		}
	}
	conn.SetDeadline(time.Time{})
	go c.read(body)
	return nil
}

func (c *sseClient) read(body *bufio.Reader) {
	defer close(c.done)
	for {
		line, err := body.ReadSlice('\n')
		if err != nil {
			return
		}
		if rest, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			now := time.Now()
			id, ok := c.ids.ParseEvent(string(bytes.TrimSpace(rest)))
			if ok {
				c.mu.Lock()
				c.arrived = append(c.arrived, arrival{id: id, at: now})
				c.mu.Unlock()
			}
		}
	}
}

func (c *sseClient) arrivals() []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arrival(nil), c.arrived...)
}

// close ends the stream as a browser closing the tab does (FIN).
func (c *sseClient) close() {
	if c.conn != nil {
		c.conn.Close()
		<-c.done
		c.conn = nil
	}
}

// vanish drops the connection the way a phone that loses its network looks to the server after
// the fact: no goodbye, the next write meets a reset (SO_LINGER 0, then close: an RST).
func (c *sseClient) vanish() {
	if c.conn != nil {
		if tc, ok := c.conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.conn.Close()
		c.conn = nil
	}
}

// openAll connects clients to the servers (client i to addrs[i % len(addrs)]), many at a time;
// with over > 0, at an even pace over that long, as pages opened at random moments would.
func openAll(ctx context.Context, clients []*sseClient, addrs []string, after int64, over time.Duration) error {
	var failed atomic.Int64
	var first atomic.Value
	begin := time.Now()
	err := parallel(ctx, 64, len(clients), func(i int) error {
		if over > 0 {
			time.Sleep(time.Until(begin.Add(over * time.Duration(i) / time.Duration(len(clients)))))
		}
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = clients[i].open(addrs[i%len(addrs)], after); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		failed.Add(1)
		first.CompareAndSwap(nil, err)
		return nil
	})
	if err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d streams did not open (first error: %v)", n, first.Load())
	}
	return nil
}

// waitStreams polls the servers' metrics until they report want streams between them.
func waitStreams(servers []*server, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n := 0
		for _, s := range servers {
			held, err := s.streams()
			if err != nil {
				return 0, err
			}
			n += held
		}
		if n == want {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("servers hold %d streams, want %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
