package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

const cancelRefused = "That message can no longer be cancelled: the care team has already acted on it, or it was archived."

// cancelConfirm asks before a cancel, which cannot be undone.
func (a *App) cancelConfirm(c *fiber.Ctx) error {
	m, allowed, err := a.loadMessage(c)
	if err != nil {
		return err
	}
	if !allowed.Cancel {
		return a.refused(c, fiber.StatusConflict, cancelRefused)
	}
	return a.showSlot(c, fiber.StatusOK, m, &Slot{Kind: SlotCancel})
}

// messageCancel deletes the viewer's own message for both sides, if nobody has acted on it.
func (a *App) messageCancel(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseMessage)
	if err != nil {
		return err
	}
	res, err := a.store.Cancel(c.UserContext(), session(c).User.Viewer(), a.origin(c), id)
	if errors.Is(err, store.ErrNoLongerApplies) {
		return a.refused(c, fiber.StatusConflict, cancelRefused)
	}
	if err != nil {
		return err
	}
	return a.changed(c, "cancelled", res.Event)
}
