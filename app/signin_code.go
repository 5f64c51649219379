package app

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// signinCodeShow asks for the second factor after the password.
func (a *App) signinCodeShow(c *fiber.Ctx) error {
	return a.showSigninCode(c, fiber.StatusOK, nil)
}

// signinCode checks the authenticator code, counted against the same sign-in limits as
// passwords, and swaps the half-signed-in session for a full one under a new token.
func (a *App) signinCode(c *fiber.Ctx) error {
	sess := session(c)
	o := a.origin(c)
	blocked, err := a.store.SigninBlocked(c.UserContext(), sess.User.Email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if blocked {
		return a.showSigninCode(c, fiber.StatusTooManyRequests, Problems{"form": "Too many failed attempts. For your security, please wait 15 minutes and try again."})
	}
	err = a.store.CheckTOTP(c.UserContext(), sess.User, strings.TrimSpace(c.FormValue("code")))
	if errors.Is(err, store.ErrBadCode) {
		if err := a.store.RecordSigninFailure(c.UserContext(), sess.User.Email, o); err != nil {
			return err
		}
		return a.showSigninCode(c, fiber.StatusUnauthorized, Problems{"code": "That code is not right, or it was already used. Enter the current 6-digit code from your app."})
	}
	if err != nil {
		return err
	}
	token, err := a.store.CompleteSecondFactor(c.UserContext(), c.Cookies(a.cookieName(c)), sess.User, o)
	if errors.Is(err, store.ErrNotFound) {
		return c.Redirect("/signin", fiber.StatusSeeOther) // the half-signed-in session is gone: start again
	}
	if err != nil {
		return err
	}
	a.setSessionCookie(c, token)
	return c.Redirect("/inbox", fiber.StatusSeeOther)
}

func (a *App) showSigninCode(c *fiber.Ctx, status int, problems Problems) error {
	vd := a.newViewData(c, "Two-step sign-in")
	vd.User = nil // not signed in yet: no account menu
	vd.Security = &SecurityView{Problems: problems}
	return a.render(c, view{status: status, page: "pages/signin_code", data: vd})
}
