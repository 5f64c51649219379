package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// conversationReopen opens an archived conversation again.
func (a *App) conversationReopen(c *fiber.Ctx) error {
	id, err := idParam(c, a.ids.ParseConversation)
	if err != nil {
		return err
	}
	event, err := a.store.Reopen(c.UserContext(), session(c).User.Viewer(), a.origin(c), id)
	if errors.Is(err, store.ErrNoLongerApplies) {
		return a.refused(c, fiber.StatusConflict, "That conversation is already open.")
	}
	if err != nil {
		return err
	}
	return a.changed(c, "reopened", event)
}
