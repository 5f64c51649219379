package app

import (
	"bufio"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/realtime"
	"securemessages/store"
)

// eventStream is a page's live-update stream (server-sent events). It replays from the later of
// the id the page was rendered with (?after=) and the Last-Event-ID a reconnect sends, then goes
// live. Everything it needs is copied out of the request first: Fiber recycles the request's
// memory once the handler returns, while the stream goes on being written.
func (a *App) eventStream(c *fiber.Ctx) error {
	sess := session(c)
	viewer := sess.User.Viewer()
	key := store.SessionKey(c.Cookies(a.cookieName(c)))
	after := max(a.lastID(c.Query("after")), a.lastID(c.Get("Last-Event-ID")))
	shutdown := c.Context().Done() // closed by the server's shutdown, the only end fasthttp signals

	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // no proxy may hold events back
	if c.Method() == fiber.MethodHead {
		return nil // a stream's headers, and no stream
	}
	stream, err := a.hub.Open(viewer, key, a.cfg.Streams)
	if err != nil {
		// Over the session's or the user's cap: a 429 whose body hx-sse reads for its retry hint,
		// so the page waits a minute instead of reconnecting at once.
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(realtime.BusyRetry.Seconds())))
		return c.Status(fiber.StatusTooManyRequests).SendString(realtime.BusyFrame)
	}
	// fasthttp drops a connection it fails to hand over (a failed flush of an earlier pipelined
	// response) without calling the hijack handler: a slot not taken up by then is let go.
	unclaimed := time.AfterFunc(streamWriteTimeout, func() { a.hub.Close(stream) })
	opts := realtime.ServeOptions{After: after, Shutdown: shutdown, Sessions: a.cfg.Sessions, Heartbeat: a.cfg.Heartbeat, IDs: a.ids}
	// The stream is written straight to the connection, which this handler takes over from
	// fasthttp once the middleware has run (Hijack, as fasthttp's WebSocket upgrade does; the
	// server keeps hijacked connections open for us, see New). fasthttp's own streamed body
	// (SetBodyStreamWriter) passes every stream through a second goroutine and an in-memory pipe
	// with buffers of their own, and holds the request's memory to the end: twice the memory an
	// idle page needs, and a client that has gone is noticed one heartbeat later, once the failed
	// write has come back through the pipe. The response head is the one the middleware built.
	c.Response().Header.SetContentLength(-1) // Transfer-Encoding: chunked
	head := append([]byte(nil), c.Response().Header.Header()...)
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(hijacked net.Conn) {
		// fasthttp recycles its wrapper, and the request with it, when this returns; the stream
		// keeps only the connection.
		conn := hijacked
		if u, ok := hijacked.(interface{ UnsafeConn() net.Conn }); ok {
			conn = u.UnsafeConn()
		}
		if !unclaimed.Stop() {
			conn.Close()
			return
		}
		go a.serveStream(conn, head, stream, opts)
	})
	return nil
}

// serveStream writes the response head, then the stream as HTTP/1.1 chunks (one per frame, each
// in one write), then the last chunk, and closes the connection.
func (a *App) serveStream(conn net.Conn, head []byte, stream *realtime.Stream, opts realtime.ServeOptions) {
	defer conn.Close()
	cw := &chunkWriter{conn: conn, buf: head}
	if err := cw.send(); err != nil {
		a.hub.Close(stream)
		return
	}
	cw.buf = nil // frames are small; the head's buffer need not live as long as the stream
	a.hub.Serve(a.store, stream, bufio.NewWriterSize(cw, 512), opts)
	cw.buf = append(cw.buf[:0], "0\r\n\r\n"...)
	cw.send()
}

// streamWriteTimeout bounds one write to a stream's connection: a client that takes nothing for
// this long has gone, even if the network never said so.
const streamWriteTimeout = time.Minute

// chunkWriter frames each write as one HTTP/1.1 chunk.
type chunkWriter struct {
	conn net.Conn
	buf  []byte
}

func (cw *chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	cw.buf = strconv.AppendInt(cw.buf[:0], int64(len(p)), 16)
	cw.buf = append(cw.buf, "\r\n"...)
	cw.buf = append(cw.buf, p...)
	cw.buf = append(cw.buf, "\r\n"...)
	if err := cw.send(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (cw *chunkWriter) send() error {
	cw.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := cw.conn.Write(cw.buf)
	return err
}

// lastID reads an event's public id (store.PublicIDs); anything else counts as none.
func (a *App) lastID(s string) int64 {
	id, ok := a.ids.ParseEvent(s)
	if !ok {
		return 0
	}
	return id
}
