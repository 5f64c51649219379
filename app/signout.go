package app

import (
	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// signout ends the session on the server, not just in the browser, and tells the browser to
// forget what it kept of the pages.
func (a *App) signout(c *fiber.Ctx) error {
	token := c.Cookies(a.cookieName(c))
	if err := a.store.EndSession(c.UserContext(), token, a.origin(c)); err != nil {
		return err
	}
	// Close this session's open pages' streams, on every instance.
	if err := a.hub.SessionEnded(c.UserContext(), store.SessionKey(token)); err != nil {
		a.log.Warn("sign-out not broadcast", "request_id", requestID(c), "error", err.Error())
	}
	a.clearSessionCookie(c)
	c.Set("Clear-Site-Data", `"cache", "storage"`)
	if isFragment(c) {
		c.Set("HX-Redirect", "/signin")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/signin", fiber.StatusSeeOther)
}
