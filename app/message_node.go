package app

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// showSlot answers with a message's slot: for htmx just the slot; otherwise a whole page of the
// message's conversation with the slot open under the message. The conversation is shown on its
// own, because it may be on any page of the list (or among the archived ones).
func (a *App) showSlot(c *fiber.Ctx, status int, m *store.Message, slot *Slot) error {
	v := session(c).User.Viewer()
	if isFragment(c) {
		n := messageNode(v, m, a.fragmentInbox(c), nil)
		n.Slot = slot
		if status >= 400 {
			c.Set("HX-Retarget", "#slot-"+n.ID)
			c.Set("HX-Reswap", "outerHTML")
		}
		return a.render(c, view{status: status, fragment: "partials/slot", fragmentData: n})
	}
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c) || m.ThreadArchived, only: m.ConversationID,
		open: &MessageNode{ID: a.ids.Message(m.ID), Slot: slot}})
	if err != nil {
		return err
	}
	return a.render(c, view{status: status, page: "pages/inbox", data: vd})
}

// loadMessage reads the :id message for the signed-in viewer.
func (a *App) loadMessage(c *fiber.Ctx) (*store.Message, store.Actions, error) {
	id, err := idParam(c, a.ids.ParseMessage)
	if err != nil {
		return nil, store.Actions{}, err
	}
	v := session(c).User.Viewer()
	m, err := a.store.Message(c.UserContext(), v, id)
	if err != nil {
		return nil, store.Actions{}, err
	}
	return m, store.Allowed(v, m.Facts()), nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
