package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// PasswordView is the change-password form. What was typed is never given back: the three
// fields are passwords.
type PasswordView struct {
	Problems Problems
	Done     string
}

// passwordShow shows the change-password form.
func (a *App) passwordShow(c *fiber.Ctx) error {
	return a.showPassword(c, fiber.StatusOK, &PasswordView{})
}

// passwordChange takes the current password and a new one typed twice, sets it, and signs the
// person out of every other session (and their open pages there, on every instance). A wrong
// current password counts against the sign-in limits, like a sign-in, so a session left open
// is not a way to guess it.
func (a *App) passwordChange(c *fiber.Ctx) error {
	sess, o := session(c), a.origin(c)
	refuse := func(status int, field, text string) error {
		return a.showPassword(c, status, &PasswordView{Problems: Problems{field: text}})
	}
	blocked, err := a.store.SigninBlocked(c.UserContext(), sess.User.Email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if blocked {
		return refuse(fiber.StatusTooManyRequests, "form", "Too many failed attempts. For your security, please wait 15 minutes and try again.")
	}
	newPassword, confirm := c.FormValue("new_password"), c.FormValue("confirm")
	if err := store.CheckNewPassword(newPassword, confirm); err != nil {
		var invalid *store.ValidationError
		if errors.As(err, &invalid) {
			return a.showPassword(c, fiber.StatusUnprocessableEntity, &PasswordView{Problems: invalid.Fields})
		}
		return err
	}
	ok, err := a.checkPassword(c, c.FormValue("current_password"), sess.User, true)
	if errors.Is(err, errBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
		return refuse(fiber.StatusServiceUnavailable, "form", "Many people are signing in right now, so nothing was changed. Please try again in a moment.")
	}
	if err != nil {
		return err
	}
	if !ok {
		if err := a.store.RecordPasswordCheckFailure(c.UserContext(), sess.User, o); err != nil {
			return err
		}
		return refuse(fiber.StatusUnprocessableEntity, "current_password", "That is not your current password. Enter the password you sign in with.")
	}
	hash, err := store.HashPassword(c.UserContext(), newPassword)
	if err != nil {
		return err
	}
	ended, err := a.store.ChangePassword(c.UserContext(), sess.User, c.Cookies(a.cookieName(c)), hash, o)
	if err != nil {
		return err
	}
	a.endStreams(c, ended)
	if !isFragment(c) {
		return c.Redirect("/account/password?done=1", fiber.StatusSeeOther)
	}
	return a.showPassword(c, fiber.StatusOK, &PasswordView{Done: passwordChanged})
}

const passwordChanged = "Your password was changed. Every other session of yours was signed out."

// endStreams closes the live streams of the sessions ended, on every instance.
func (a *App) endStreams(c *fiber.Ctx, keys []string) {
	for _, key := range keys {
		if err := a.hub.SessionEnded(c.UserContext(), key); err != nil {
			a.log.Warn("sign-out not broadcast", "request_id", requestID(c), "error", err.Error())
			return
		}
	}
}

func (a *App) showPassword(c *fiber.Ctx, status int, pv *PasswordView) error {
	if c.Method() == fiber.MethodGet && c.Query("done") != "" {
		pv.Done = passwordChanged
	}
	vd := a.newViewData(c, "Change password")
	vd.Practice = session(c).Practice
	vd.Password = pv
	if c.Method() == fiber.MethodPost {
		c.Set("HX-Retarget", "#password")
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: "pages/password", data: vd, fragment: "partials/password", fragmentData: vd})
}
