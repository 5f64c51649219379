package app

import (
	"errors"
	"net/mail"
	"strings"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// ResetView is the forgotten-password pages: the request for a link, and the form the link
// opens. The new passwords typed are never given back.
type ResetView struct {
	Email    string // the address typed in the request, kept when it is refused
	Sent     bool   // the request was taken: the one answer, whether or not the address has an account
	Token    string // the link's token, for the form's action
	Invalid  bool   // the link is unknown, used or expired
	Problems Problems
}

// forgotShow shows the request for a reset link.
func (a *App) forgotShow(c *fiber.Ctx) error {
	return a.showReset(c, fiber.StatusOK, "pages/password-forgot", "partials/password-forgot",
		&ResetView{Sent: c.Query("sent") != ""})
}

// forgotSend takes a request for a reset link. It answers the same whether or not the address
// has an account, and is limited as sign-in attempts are (per address typed and per network),
// so it tells nobody which addresses have accounts, nor fills anyone's mailbox.
func (a *App) forgotSend(c *fiber.Ctx) error {
	email := strings.TrimSpace(c.FormValue("email"))
	o := a.origin(c)
	rv := &ResetView{Email: email}
	refuse := func(status int, field, text string) error {
		rv.Problems = Problems{field: text}
		return a.showReset(c, status, "pages/password-forgot", "partials/password-forgot", rv)
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return refuse(fiber.StatusUnprocessableEntity, "email", "Enter the e-mail address you sign in with, such as name@example.com.")
	}
	allowed, err := a.store.CountSigninAttempt(c.UserContext(), email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if !allowed {
		return refuse(fiber.StatusTooManyRequests, "form", signinTooOften)
	}
	if err := a.store.RequestPasswordReset(c.UserContext(), email, o); err != nil {
		return err
	}
	if !isFragment(c) {
		return c.Redirect("/password/forgot?sent=1", fiber.StatusSeeOther)
	}
	return a.showReset(c, fiber.StatusOK, "pages/password-forgot", "partials/password-forgot", &ResetView{Sent: true})
}

// resetShow shows the form a reset link opens, or says the link no longer works (410).
func (a *App) resetShow(c *fiber.Ctx) error {
	token := c.Params("token")
	err := a.store.CheckPasswordReset(c.UserContext(), token)
	if errors.Is(err, store.ErrResetLinkInvalid) {
		return a.showReset(c, fiber.StatusGone, "pages/password-reset", "partials/password-reset", &ResetView{Invalid: true})
	}
	if err != nil {
		return err
	}
	return a.showReset(c, fiber.StatusOK, "pages/password-reset", "partials/password-reset", &ResetView{Token: token})
}

// resetPassword sets the new password a reset link's form posts, uses up the link, and signs the
// person out of every session, closing their open pages on every instance.
func (a *App) resetPassword(c *fiber.Ctx) error {
	token := strings.Clone(c.Params("token"))
	rv := &ResetView{Token: token}
	show := func(status int) error {
		return a.showReset(c, status, "pages/password-reset", "partials/password-reset", rv)
	}
	if err := a.store.CheckPasswordReset(c.UserContext(), token); errors.Is(err, store.ErrResetLinkInvalid) {
		rv.Invalid = true
		return show(fiber.StatusGone)
	} else if err != nil {
		return err
	}
	newPassword := c.FormValue("new_password")
	if err := store.CheckNewPassword(newPassword, c.FormValue("confirm")); err != nil {
		var invalid *store.ValidationError
		if errors.As(err, &invalid) {
			rv.Problems = invalid.Fields
			return show(fiber.StatusUnprocessableEntity)
		}
		return err
	}
	hash, err := store.HashPassword(c.UserContext(), newPassword)
	if errors.Is(err, store.ErrHashingBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
		rv.Problems = Problems{"form": "Many people are signing in right now, so nothing was changed. Please try again in a moment."}
		return show(fiber.StatusServiceUnavailable)
	}
	if err != nil {
		return err
	}
	userID, err := a.store.ResetPassword(c.UserContext(), token, hash, a.origin(c))
	if errors.Is(err, store.ErrResetLinkInvalid) {
		rv.Invalid = true // used a moment ago, by another post of the same link
		return show(fiber.StatusGone)
	}
	if err != nil {
		return err
	}
	if err := a.hub.UserEnded(c.UserContext(), userID); err != nil {
		a.log.Warn("password reset not broadcast", "request_id", requestID(c), "error", err.Error())
	}
	if sess := session(c); sess != nil && sess.User.ID == userID {
		a.clearSessionCookie(c)
	}
	if isFragment(c) {
		c.Set("HX-Redirect", "/signin?reset=1")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/signin?reset=1", fiber.StatusSeeOther)
}

func (a *App) showReset(c *fiber.Ctx, status int, page, fragment string, rv *ResetView) error {
	vd := a.newViewData(c, "Forgotten password")
	vd.Reset = rv
	if c.Method() == fiber.MethodPost {
		c.Set("HX-Retarget", "#reset")
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: page, data: vd, fragment: fragment, fragmentData: vd})
}
