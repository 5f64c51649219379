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
		RequestedStaffID: optionalID(c.FormValue("staff")),
		PatientID:        optionalID(c.FormValue("patient")),
	}
	sent, err := a.store.StartConversation(c.UserContext(), session(c).User.Viewer(), a.origin(c), n)
	var invalid *store.ValidationError
	if errors.As(err, &invalid) {
		form, err := a.composeForm(c, n, invalid.Fields)
		if err != nil {
			return err
		}
		return a.showCompose(c, fiber.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	return a.changed(c, "sent", sent.Event)
}

// optionalID reads an id chosen from a list: 0 when none was chosen, and -1, which matches
// nothing, when the value is not an id at all, so the store reports it like any unknown choice.
func optionalID(value string) int64 {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil || id <= 0 {
		return -1
	}
	return id
}
