package app

import (
	"errors"
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
		RequestedStaffID: a.optionalUser(c.FormValue("staff")),
		PatientID:        a.optionalUser(c.FormValue("patient")),
	}
	sent, err := a.store.StartConversation(c.UserContext(), session(c).User.Viewer(), a.origin(c), n)
	var invalid *store.ValidationError
	status, problems := 0, map[string]string(nil)
	switch {
	case err == nil:
		return a.changed(c, "sent", sent.Event)
	case errors.As(err, &invalid):
		status, problems = fiber.StatusUnprocessableEntity, invalid.Fields
	default:
		return err
	}
	form, err := a.composeForm(c, n, problems)
	if err != nil {
		return err
	}
	return a.showCompose(c, status, form)
}

// optionalUser reads a person chosen from a list by their public id: 0 when none was chosen,
// and -1, which matches nobody, when the value is not a user's public id at all (an internal
// number among them), so the store reports it like any unknown choice.
func (a *App) optionalUser(value string) int64 {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	id, ok := a.ids.ParseUser(value)
	if !ok || id <= 0 {
		return -1
	}
	return id
}
