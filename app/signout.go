package app

import "github.com/gofiber/fiber/v2"

// signout ends the session on the server, not just in the browser, and tells the browser to
// forget what it kept of the pages.
func (a *App) signout(c *fiber.Ctx) error {
	if err := a.store.EndSession(c.UserContext(), c.Cookies(a.cookieName(c)), a.origin(c)); err != nil {
		return err
	}
	a.clearSessionCookie(c)
	c.Set("Clear-Site-Data", `"cache", "storage"`)
	if isFragment(c) {
		c.Set("HX-Redirect", "/signin")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/signin", fiber.StatusSeeOther)
}
