package app

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// securityShow shows whether two-step sign-in is on, and how to change it.
func (a *App) securityShow(c *fiber.Ctx) error {
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Enabled: session(c).User.TOTPEnabled})
}

// totpBegin makes a new authenticator secret and shows it, with the form that confirms it.
func (a *App) totpBegin(c *fiber.Ctx) error {
	sess := session(c)
	if sess.User.TOTPEnabled {
		return a.showSecurity(c, fiber.StatusConflict, &SecurityView{Enabled: true, Problem: "Two-step sign-in is already on."})
	}
	setup, err := a.store.BeginTOTP(c.UserContext(), sess.User, "Secure Messages")
	if err != nil {
		return err
	}
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Setup: &setup})
}

// totpEnable turns two-step sign-in on once the code shows the app has the secret.
func (a *App) totpEnable(c *fiber.Ctx) error {
	err := a.store.EnableTOTP(c.UserContext(), session(c).User, strings.TrimSpace(c.FormValue("code")), a.origin(c))
	if errors.Is(err, store.ErrBadCode) {
		return a.showSecurity(c, fiber.StatusUnprocessableEntity, &SecurityView{
			Problem: "That code did not match. Set up again and enter the current 6-digit code from your app."})
	}
	if err != nil {
		return err
	}
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Enabled: true, Done: "Two-step sign-in is on. You will be asked for a code each time you sign in."})
}

// totpDisable turns two-step sign-in off; it takes a current code.
func (a *App) totpDisable(c *fiber.Ctx) error {
	err := a.store.DisableTOTP(c.UserContext(), session(c).User, strings.TrimSpace(c.FormValue("code")), a.origin(c))
	if errors.Is(err, store.ErrBadCode) {
		return a.showSecurity(c, fiber.StatusUnprocessableEntity, &SecurityView{Enabled: true,
			Problem: "That code did not match. Enter the current 6-digit code from your app."})
	}
	if err != nil {
		return err
	}
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Done: "Two-step sign-in is off."})
}

func (a *App) showSecurity(c *fiber.Ctx, status int, sv *SecurityView) error {
	vd := a.newViewData(c, "Sign-in security")
	vd.Security = sv
	return a.render(c, view{status: status, page: "pages/security", data: vd})
}
