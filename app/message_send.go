package app

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// messageSend sends the compose form: a new conversation. Problems come back in the form, with
// everything typed kept, and status 422.
func (a *App) messageSend(c *fiber.Ctx) error {
	n := store.NewConversation{
		Subject:          c.FormValue("subject"),
		Body:             c.FormValue("body"),
		ResponseMethod:   c.FormValue("method"),
		NoResponseNeeded: c.FormValue("no_response") == "yes",
		BillingConsent:   c.FormValue("consent") == "yes",
		SubmitKey:        c.FormValue("submit_key"),
	}
	var problems map[string]string
	if staff := strings.TrimSpace(c.FormValue("staff")); staff != "" {
		id, err := strconv.ParseInt(staff, 10, 64)
		if err != nil || id <= 0 {
			problems = map[string]string{"staff": "Choose a staff member from the list."}
		}
		n.RequestedStaffID = id
	}
	var sent store.Sent
	var err error
	if problems == nil {
		sent, err = a.store.StartConversation(c.UserContext(), session(c).User.Viewer(), a.origin(c), n)
	}
	var invalid *store.ValidationError
	switch {
	case errors.As(err, &invalid):
		problems = invalid.Fields
	case err != nil:
		return err
	}
	if problems != nil {
		form, err := a.composeForm(c, n, problems)
		if err != nil {
			return err
		}
		return a.showCompose(c, fiber.StatusUnprocessableEntity, form)
	}
	return a.changed(c, "sent", sent.Event)
}
