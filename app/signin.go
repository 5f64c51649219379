package app

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

const signinProblem = "That email and password do not match an account. Please try again."

const signinTooOften = "Too many sign-ins for this account or from this network in a short time. For your security, please wait 15 minutes and try again."

const signinBusy = "Many people are signing in right now, so you are not signed in yet. Please enter your password and try again in a moment."

// home sends people to their inbox, or to sign in.
func (a *App) home(c *fiber.Ctx) error {
	if session(c) != nil {
		return c.Redirect("/inbox", fiber.StatusSeeOther)
	}
	return c.Redirect("/signin", fiber.StatusSeeOther)
}

// signinShow shows the sign-in form.
func (a *App) signinShow(c *fiber.Ctx) error {
	if sess := session(c); sess != nil && !sess.SecondFactorPending {
		return c.Redirect("/inbox", fiber.StatusSeeOther)
	}
	sv := &SignInView{}
	if c.Query("reset") != "" {
		sv.Done = "Your password was changed, and every session of yours signed out. Sign in with your new password."
	}
	return a.showSigninView(c, fiber.StatusOK, sv)
}

// signin checks the password, limits failures and all attempts per account and per address, and
// starts a new session. An unknown address and a wrong password get the same answer in the same time.
func (a *App) signin(c *fiber.Ctx) error {
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	o := a.origin(c)
	blocked, err := a.store.SigninBlocked(c.UserContext(), email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if blocked {
		return a.showSignin(c, fiber.StatusTooManyRequests, email,
			"Too many failed sign-ins. For your security, please wait 15 minutes and try again.")
	}
	allowed, err := a.store.CountSigninAttempt(c.UserContext(), email, o.ClientIP, a.cfg.Signin)
	if err != nil {
		return err
	}
	if !allowed {
		return a.showSignin(c, fiber.StatusTooManyRequests, email, signinTooOften)
	}
	user, err := a.store.UserByEmail(c.UserContext(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// An account without a password yet (an administrator whose invitation is not accepted) is
	// refused as an unknown one is, in the same time.
	ok, hashErr := a.checkPassword(c, password, user, err == nil && user.PasswordHash != "")
	if errors.Is(hashErr, errBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
		return a.showSignin(c, fiber.StatusServiceUnavailable, email, signinBusy)
	}
	if hashErr != nil {
		return hashErr
	}
	if !ok {
		if err := a.store.RecordSigninFailure(c.UserContext(), email, o); err != nil {
			return err
		}
		return a.showSignin(c, fiber.StatusUnauthorized, email, signinProblem)
	}
	if err := a.startSession(c, user, o); err != nil {
		return err
	}
	if user.TOTPEnabled {
		return c.Redirect("/signin/code", fiber.StatusSeeOther)
	}
	return c.Redirect("/inbox", fiber.StatusSeeOther)
}

// startSession signs user in with a new session. The session is always new, and the one the
// browser came with (planted by someone else, or its own from before) ends here, on the server
// and in its open pages: a cookie from before sign-in is worth nothing after it.
func (a *App) startSession(c *fiber.Ctx, user store.User, o store.Origin) error {
	if old := c.Cookies(a.cookieName(c)); old != "" {
		if err := a.store.EndSession(c.UserContext(), old, o); err != nil {
			return err
		}
		if err := a.hub.SessionEnded(c.UserContext(), store.SessionKey(old)); err != nil {
			a.log.Warn("sign-out not broadcast", "request_id", o.RequestID, "error", err.Error())
		}
	}
	token, err := a.store.CreateSession(c.UserContext(), user, o)
	if err != nil {
		return err
	}
	a.setSessionCookie(c, token)
	return nil
}

func (a *App) showSignin(c *fiber.Ctx, status int, email, problem string) error {
	sv := &SignInView{Email: email}
	if problem != "" {
		sv.Problems = Problems{"form": problem}
	}
	return a.showSigninView(c, status, sv)
}

func (a *App) showSigninView(c *fiber.Ctx, status int, sv *SignInView) error {
	vd := a.newViewData(c, "Sign in")
	// A browser that owes its second-factor code may sign in afresh (as anyone): the form then
	// carries that session's CSRF token, and the account menu is not shown, as on the code step.
	vd.User = nil
	vd.SignIn = sv
	if a.cfg.ShowDemo {
		demo, err := a.store.DemoSignIns(c.UserContext())
		if err != nil {
			return err
		}
		vd.SignIn.Demo = demo
	}
	return a.render(c, view{status: status, page: "pages/signin", data: vd})
}

// checkPassword checks a password in the store's hashing pool, waiting for a slot as long as a
// request waits for its turn (admit) and answering errBusy after that. An unknown account
// (known false) still costs a hash, so it takes as long to refuse as a wrong password.
func (a *App) checkPassword(c *fiber.Ctx, password string, user store.User, known bool) (bool, error) {
	ctx, cancel := context.WithTimeout(c.UserContext(), a.admission.wait)
	defer cancel()
	var ok bool
	var err error
	if known {
		ok, err = store.CheckPassword(ctx, password, user.PasswordHash)
	} else {
		err = store.CheckNoPassword(ctx, password)
	}
	if errors.Is(err, store.ErrHashingBusy) {
		return false, errBusy
	}
	return ok, err
}
