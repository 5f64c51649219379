package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// messageUnread puts a message the viewer's side has opened back among its new ones.
func (a *App) messageUnread(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseMessage)
	if err != nil {
		return err
	}
	event, err := a.store.MarkUnread(c.UserContext(), session(c).User.Viewer(), a.origin(c), id)
	if errors.Is(err, store.ErrNoLongerApplies) {
		return a.refused(c, fiber.StatusConflict, "That message cannot be marked as unread: it is new already, or it is your side's own.")
	}
	if err != nil {
		return err
	}
	return a.changed(c, "unread", event)
}
