package app

import "github.com/gofiber/fiber/v2"

// messageDetails shows a message's text and special instructions under it.
func (a *App) messageDetails(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseMessage)
	if err != nil {
		return err
	}
	m, err := a.store.MessageDetails(c.UserContext(), session(c).User.Viewer(), a.origin(c), id)
	if err != nil {
		return err
	}
	return a.showSlot(c, fiber.StatusOK, m, &Slot{Kind: SlotDetails, Details: m.Details})
}

// messageSlot closes whatever is open under a message (the Close link).
func (a *App) messageSlot(c *fiber.Ctx) error {
	m, _, err := a.loadMessage(c)
	if err != nil {
		return err
	}
	return a.showSlot(c, fiber.StatusOK, m, nil)
}
