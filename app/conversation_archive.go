package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// conversationArchive closes a whole conversation for both sides.
func (a *App) conversationArchive(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseConversation)
	if err != nil {
		return err
	}
	event, err := a.store.Archive(c.UserContext(), session(c).User.Viewer(), a.origin(c), id)
	if errors.Is(err, store.ErrNoLongerApplies) {
		return a.refused(c, fiber.StatusConflict, "That conversation is already archived.")
	}
	if err != nil {
		return err
	}
	return a.changed(c, "archived", event)
}
