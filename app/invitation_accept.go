package app

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// AcceptView is the page an invitation's link opens: the address the account will have, and the
// form that sets its password.
type AcceptView struct {
	Action   string // where the form posts: the link itself
	Email    string
	Problems Problems
}

// errInvitationLink answers a link that is not, or no longer, an invitation. It says the same for
// every reason, which only the person holding the link could use.
var errInvitationLink = notFoundError("This invitation link does not work any more: links work once, for 72 hours, and a newer e-mail replaces an older one. " +
	"If you have already chosen your password, sign in; otherwise ask the practice to send the invitation again.")

var errInvitationAddressTaken = fiber.NewError(fiber.StatusConflict,
	"This e-mail address has an account already, so the invitation cannot make another. Sign in with it instead.")

// invitationShow asks for a password. It only reads: a link opened by a mail scanner uses nothing.
func (a *App) invitationShow(c *fiber.Ctx) error {
	inv, err := a.store.InvitationByToken(c.UserContext(), c.Params("token"))
	if errors.Is(err, store.ErrInvitationInvalid) {
		return errInvitationLink
	}
	if err != nil {
		return err
	}
	return a.showAccept(c, fiber.StatusOK, inv.Email, nil)
}

func (a *App) showAccept(c *fiber.Ctx, status int, email string, problems Problems) error {
	vd := a.newViewData(c, "Choose your password")
	vd.Accept = &AcceptView{Action: "/invitations/" + c.Params("token"), Email: email, Problems: problems}
	return a.render(c, view{status: status, page: "pages/invitation", data: vd})
}

// invitationAccept sets the password, makes the account and signs its owner in.
func (a *App) invitationAccept(c *fiber.Ctx) error {
	token := c.Params("token")
	inv, err := a.store.InvitationByToken(c.UserContext(), token)
	if errors.Is(err, store.ErrInvitationInvalid) {
		return errInvitationLink
	}
	if err != nil {
		return err
	}
	var invalid *store.ValidationError
	if err := store.CheckSetPassword(c.FormValue("password"), c.FormValue("confirm")); errors.As(err, &invalid) {
		return a.showAccept(c, fiber.StatusUnprocessableEntity, inv.Email, invalid.Fields)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.admission.wait)
	defer cancel()
	hash, err := store.HashPassword(ctx, c.FormValue("password"))
	if errors.Is(err, store.ErrHashingBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
		return a.showAccept(c, fiber.StatusServiceUnavailable, inv.Email,
			Problems{"form": "Many people are signing in right now, so your password is not set yet. Please type it again in a moment."})
	}
	if err != nil {
		return err
	}
	o := a.origin(c)
	user, err := a.store.AcceptInvitation(c.UserContext(), token, hash, o)
	switch {
	case errors.Is(err, store.ErrInvitationInvalid):
		return errInvitationLink
	case errors.Is(err, store.ErrAddressInUse):
		return errInvitationAddressTaken
	case err != nil:
		return err
	}
	if err := a.startSession(c, user, o); err != nil {
		return err
	}
	return c.Redirect("/inbox", fiber.StatusSeeOther)
}
