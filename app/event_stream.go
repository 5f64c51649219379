package app

import (
	"bufio"
	"strconv"

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
	after := max(lastID(c.Query("after")), lastID(c.Get("Last-Event-ID")))
	shutdown := c.Context().Done() // closed by the server's shutdown, the only end fasthttp signals

	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // no proxy may hold events back
	stream := a.hub.Open(viewer, key)
	opts := realtime.ServeOptions{After: after, Shutdown: shutdown, Sessions: a.cfg.Sessions, Heartbeat: a.cfg.Heartbeat}
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		a.hub.Serve(a.store, stream, w, opts)
	})
	return nil
}

// lastID reads an event id; anything else counts as none.
func lastID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0
	}
	return id
}
