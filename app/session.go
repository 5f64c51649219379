package app

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

const sessionLocal = "session"

// cookieName carries the __Host- prefix whenever the cookie is Secure: the browser then refuses
// it unless it was set over HTTPS, for this host only, with Path=/.
func (a *App) cookieName(c *fiber.Ctx) string {
	if a.secure(c) {
		return "__Host-sid"
	}
	return "sid"
}

// secure reports whether cookies must be Secure: always in production, and for any request that
// arrived over HTTPS.
func (a *App) secure(c *fiber.Ctx) bool { return a.cfg.Production || c.Protocol() == "https" }

// loadSession finds the signed-in user, if any. A database error is an error, not "signed out".
// The routes that need no session (the health check, static files) do not run it (routes.go).
func (a *App) loadSession(c *fiber.Ctx) error {
	token := c.Cookies(a.cookieName(c))
	if token == "" {
		return c.Next()
	}
	sess, err := a.store.SessionByToken(c.UserContext(), token, a.cfg.Sessions)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.clearSessionCookie(c)
	case err != nil:
		return err
	default:
		c.Locals(sessionLocal, &sess)
	}
	return c.Next()
}

// session is the signed-in user's session, or nil.
func session(c *fiber.Ctx) *store.Session {
	s, _ := c.Locals(sessionLocal).(*store.Session)
	return s
}

// requireSecondFactor lets through only a session that has passed the password and owes its code.
func (a *App) requireSecondFactor(c *fiber.Ctx) error {
	if sess := session(c); sess != nil && sess.SecondFactorPending {
		return c.Next()
	}
	return c.Redirect("/signin", fiber.StatusSeeOther)
}

// requireUser sends anyone not signed in to the sign-in page (htmx follows with a full page).
func (a *App) requireUser(c *fiber.Ctx) error {
	sess := session(c)
	if sess != nil && !sess.SecondFactorPending {
		return c.Next()
	}
	if sess != nil && c.Method() == fiber.MethodGet {
		return c.Redirect("/signin/code", fiber.StatusSeeOther)
	}
	if c.Method() != fiber.MethodGet {
		return fiber.NewError(fiber.StatusUnauthorized, "Your session has ended. Please sign in again; what you typed was not sent.")
	}
	if isFragment(c) {
		c.Set("HX-Redirect", "/signin")
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect("/signin", fiber.StatusSeeOther)
}

// errNotAdministrator answers a request for the practice's settings or people from anyone but
// its administrators.
var errNotAdministrator = fiber.NewError(fiber.StatusForbidden, "Only the practice's administrators can see and change its settings and its people.")

// requireAdministrator lets through only an administrator of the signed-in user's own practice
// (store.PracticeAllowed); it runs after requireUser. The store asks the rule again in the change.
func (a *App) requireAdministrator(c *fiber.Ctx) error {
	if sess := session(c); !store.PracticeAllowed(sess.User, sess.User.PracticeID).ChangeSettings {
		return errNotAdministrator
	}
	return c.Next()
}

func (a *App) setSessionCookie(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{
		Name:     a.cookieName(c),
		Value:    token,
		Path:     "/",
		HTTPOnly: true,
		Secure:   a.secure(c),
		SameSite: fiber.CookieSameSiteLaxMode,
		Expires:  time.Now().Add(a.cfg.Sessions.Absolute),
	})
}

func (a *App) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     a.cookieName(c),
		Value:    "",
		Path:     "/",
		HTTPOnly: true,
		Secure:   a.secure(c),
		SameSite: fiber.CookieSameSiteLaxMode,
		Expires:  time.Unix(0, 0),
	})
}
