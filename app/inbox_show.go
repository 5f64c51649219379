package app

import "github.com/gofiber/fiber/v2"

// inboxShow lists the open conversations, or all of them with ?all=1.
func (a *App) inboxShow(c *fiber.Ctx) error {
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c), notice: Notice{Text: notices[c.Query("notice")]}})
	if err != nil {
		return err
	}
	return a.render(c, view{page: "pages/inbox", data: vd, fragment: "partials/inbox", fragmentData: vd})
}
