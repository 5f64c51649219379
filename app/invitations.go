package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// InvitationsView is the practice's invitations page: the form to invite someone, as typed when
// it was refused, and the pending invitations with Resend and Revoke.
type InvitationsView struct {
	Form      InviteForm
	Problems  Problems
	Done      string // what was just done, said at the top of the list
	Pending   []InvitationRow
	Roles     []struct{ Code, Label string }
	CSRFToken string
}

// InviteForm is the invitation form as typed.
type InviteForm struct {
	FullName, Email, Role, DateOfBirth string
	Administrator                      bool
}

// InvitationRow is one pending invitation in the list.
type InvitationRow struct {
	ID     string // public
	Item   store.InvitationItem
	Status string // "Sent, link works until Dec 6, 3:04 PM", "Expired", "Being sent", "Could not be e-mailed: …"
}

// invitationsDone are the notices a redirect's ?done= names.
var invitationsDone = map[string]string{
	"sent":    "The invitation is on its way.",
	"resent":  "The invitation is being sent again; the earlier link stops working when it goes.",
	"revoked": "The invitation was revoked; its link no longer works.",
}

// invitationsShow shows the form and the pending invitations.
func (a *App) invitationsShow(c *fiber.Ctx) error {
	iv, err := a.invitationsView(c)
	if err != nil {
		return err
	}
	iv.Done = invitationsDone[c.Query("done")]
	return a.showInvitations(c, fiber.StatusOK, iv)
}

func (a *App) invitationsView(c *fiber.Ctx) (*InvitationsView, error) {
	sess := session(c)
	items, err := a.store.PendingInvitations(c.UserContext(), sess.User)
	if errors.Is(err, store.ErrNotAllowed) {
		return nil, errNotAdministrator
	}
	if err != nil {
		return nil, err
	}
	iv := &InvitationsView{Form: InviteForm{Role: store.InvitePatient}, Roles: store.InviteRoles, CSRFToken: maskCSRF(sess.CSRFToken)}
	now := time.Now().In(sess.Practice.Location(a.cfg.PracticeZone))
	for _, it := range items {
		row := InvitationRow{ID: a.ids.Invitation(it.ID), Item: it}
		switch {
		case it.MailProblem != "":
			row.Status = "Could not be e-mailed: " + it.MailProblem
		case it.Expired:
			row.Status = "Expired: send it again for a new link"
		case it.ExpiresAt != nil:
			row.Status = "Sent; the link works until " + formatDate(*it.ExpiresAt, now)
		default:
			row.Status = "Sent"
		}
		iv.Pending = append(iv.Pending, row)
	}
	return iv, nil
}

// showInvitations answers with the page, or for htmx the invitations section.
func (a *App) showInvitations(c *fiber.Ctx, status int, iv *InvitationsView) error {
	vd := a.newViewData(c, "Invitations")
	vd.Practice = session(c).Practice
	vd.Invitations = iv
	return a.render(c, view{status: status, page: "pages/invitations", data: vd, fragment: "partials/invitations", fragmentData: iv})
}

// invitationSend invites the person typed: a redirect to the list (htmx: the section again), or
// the form as typed with its problems, 422, nothing sent.
func (a *App) invitationSend(c *fiber.Ctx) error {
	form := InviteForm{FullName: strings.TrimSpace(c.FormValue("full_name")), Email: strings.TrimSpace(c.FormValue("email")),
		Role: c.FormValue("role"), DateOfBirth: strings.TrimSpace(c.FormValue("date_of_birth")),
		Administrator: c.FormValue("administrator") == "yes"}
	_, err := a.store.Invite(c.UserContext(), session(c).User, a.origin(c), store.NewInvitation{Email: form.Email,
		FullName: form.FullName, Role: form.Role, Administrator: form.Administrator, DateOfBirth: form.DateOfBirth})
	var invalid *store.ValidationError
	switch {
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAdministrator
	case errors.As(err, &invalid):
		iv, err := a.invitationsView(c)
		if err != nil {
			return err
		}
		iv.Form, iv.Problems = form, invalid.Fields
		return a.showInvitations(c, fiber.StatusUnprocessableEntity, iv)
	case err != nil:
		return err
	}
	return a.invitationsChanged(c, "sent")
}

// invitationsChanged answers a change: without JavaScript a redirect to the list, which says what
// was done; for htmx the section, saying it.
func (a *App) invitationsChanged(c *fiber.Ctx, done string) error {
	if !isFragment(c) {
		return c.Redirect("/practice/invitations?done="+done, fiber.StatusSeeOther)
	}
	iv, err := a.invitationsView(c)
	if err != nil {
		return err
	}
	iv.Done = invitationsDone[done]
	return a.showInvitations(c, fiber.StatusOK, iv)
}

// invitationResend and invitationRevoke act on one pending invitation of the practice's.
func (a *App) invitationResend(c *fiber.Ctx) error {
	return a.invitationChange(c, "resent", a.store.ResendInvitation)
}

func (a *App) invitationRevoke(c *fiber.Ctx) error {
	return a.invitationChange(c, "revoked", a.store.RevokeInvitation)
}

func (a *App) invitationChange(c *fiber.Ctx, done string,
	change func(ctx context.Context, actor store.User, o store.Origin, id int64) error) error {
	id, ok := a.ids.ParseInvitation(c.Params("id"))
	if !ok {
		return errNoInvitation
	}
	err := change(c.UserContext(), session(c).User, a.origin(c), id)
	switch {
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAdministrator
	case errors.Is(err, store.ErrNotFound):
		return errNoInvitation
	case errors.Is(err, store.ErrNoLongerApplies):
		return fiber.NewError(fiber.StatusConflict, "That invitation is no longer pending: it was accepted or revoked a moment ago. Nothing was changed.")
	case err != nil:
		return err
	}
	return a.invitationsChanged(c, done)
}

const errNoInvitation = notFoundError("That invitation was not found at this practice. Nothing was changed.")
