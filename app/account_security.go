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
		return a.showSecurity(c, fiber.StatusConflict, &SecurityView{Enabled: true, Problems: Problems{"form": "Two-step sign-in is already on."}})
	}
	setup, err := a.store.BeginTOTP(c.UserContext(), sess.User, "Secure Messages")
	if err != nil {
		return err
	}
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Setup: &setup})
}

// totpEnable turns two-step sign-in on once the code shows the app has the secret.
func (a *App) totpEnable(c *fiber.Ctx) error { return a.changeTOTP(c, true) }

// totpDisable turns two-step sign-in off; it takes a current code.
func (a *App) totpDisable(c *fiber.Ctx) error { return a.changeTOTP(c, false) }

// changeTOTP turns the second factor on or off. Either takes the password again and a current
// code, so a session left open (or stolen) cannot change it alone; wrong ones are counted against
// the sign-in limits of the account and the address, and audited, so neither can be guessed.
// The code typed is kept on every refusal; the password never is.
func (a *App) changeTOTP(c *fiber.Ctx, enable bool) error {
	sess, o := session(c), a.origin(c)
	code := strings.TrimSpace(c.FormValue("code"))
	// refuse shows the form again as it was, the problem by the field it is about ("form" for
	// the attempt as a whole): while turning on, with the secret being set up.
	refuse := func(status int, field, problem string) error {
		sv := &SecurityView{Enabled: sess.User.TOTPEnabled, Code: code, Problems: Problems{field: problem}}
		if enable {
			setup, err := a.store.PendingTOTP(c.UserContext(), sess.User, "Secure Messages")
			switch {
			case errors.Is(err, store.ErrNotFound):
				// No secret, so no form with fields: the problem is the form's.
				sv.Problems = Problems{"form": problem + " Set up again to get a new key."}
			case err != nil:
				return err
			default:
				sv.Setup = &setup
			}
		}
		return a.showSecurity(c, status, sv)
	}
	blocked, err := a.store.SigninBlocked(c.UserContext(), sess.User.Email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if blocked {
		return refuse(fiber.StatusTooManyRequests, "form", "Too many failed attempts. For your security, please wait 15 minutes and try again.")
	}
	ok, err := a.checkPassword(c, c.FormValue("password"), sess.User, true)
	if errors.Is(err, errBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
		return refuse(fiber.StatusServiceUnavailable, "form", "Many people are signing in right now, so nothing was changed. Please enter your password and try again in a moment.")
	}
	if err != nil {
		return err
	}
	if ok && enable {
		err = a.store.EnableTOTP(c.UserContext(), sess.User, code, o)
	} else if ok {
		err = a.store.DisableTOTP(c.UserContext(), sess.User, code, o)
	}
	if !ok || errors.Is(err, store.ErrBadCode) {
		if err := a.store.RecordSecondFactorFailure(c.UserContext(), sess.User, o); err != nil {
			return err
		}
		if !ok {
			return refuse(fiber.StatusUnprocessableEntity, "password", "That password is not right. Enter the password you sign in with.")
		}
		return refuse(fiber.StatusUnprocessableEntity, "code", "That code did not match. Enter the current 6-digit code from your app.")
	}
	if err != nil {
		return err
	}
	if enable {
		return a.showSecurity(c, fiber.StatusOK, &SecurityView{Enabled: true, Done: "Two-step sign-in is on. You will be asked for a code each time you sign in."})
	}
	return a.showSecurity(c, fiber.StatusOK, &SecurityView{Done: "Two-step sign-in is off."})
}

func (a *App) showSecurity(c *fiber.Ctx, status int, sv *SecurityView) error {
	vd := a.newViewData(c, "Sign-in security")
	vd.Security = sv
	return a.render(c, view{status: status, page: "pages/security", data: vd})
}
