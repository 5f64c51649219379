package app

import (
	"github.com/gofiber/fiber/v2"
)

// messageDetails shows a message's text and special instructions under it, and records the read.
func (a *App) messageDetails(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseMessage)
	if err != nil {
		return err
	}
	if !fromOurPages(c) {
		// A link on another site (SameSite=Lax sends the cookie along) must neither show the text
		// nor put a read in the audit log the person did not make: it gets the message in the
		// inbox, where a click of their own opens it. Archived threads are listed too.
		return c.Redirect(inboxAtURL(a.ids.Message(id), viewQuery(true, "", 1)), fiber.StatusSeeOther)
	}
	v := session(c).User.Viewer()
	m, err := a.store.MessageDetails(c.UserContext(), v, a.origin(c), id)
	if err != nil {
		return err
	}
	problem, err := a.store.NotificationProblem(c.UserContext(), v, id)
	if err != nil {
		return err
	}
	return a.showSlot(c, fiber.StatusOK, m, &Slot{Kind: SlotDetails, Details: m.Details, NotifyProblem: problem})
}

// messageSlot closes whatever is open under a message (the Close link).
func (a *App) messageSlot(c *fiber.Ctx) error {
	m, _, err := a.loadMessage(c)
	if err != nil {
		return err
	}
	return a.showSlot(c, fiber.StatusOK, m, nil)
}
