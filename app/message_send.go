package app

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// messageSend sends the compose form: a new conversation. Problems come back in the form, with
// everything typed kept, and status 422; 429 for a patient over the send limit.
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
	if err == nil {
		return a.changed(c, "sent", sent.Event)
	}
	status, problems, ok := a.sendProblems(c, err)
	if !ok {
		return err
	}
	form, err := a.composeForm(c, n, problems)
	if err != nil {
		return err
	}
	return a.showCompose(c, status, form)
}

// sendProblems reads a refused send, new conversation or reply, as the status and the form's
// problems: 422 with each field's problem for what the sender can fix, 429 for a patient over
// the send limit. ok is false for any other error, which the handler returns as it is.
func (a *App) sendProblems(c *fiber.Ctx, err error) (status int, problems map[string]string, ok bool) {
	var invalid *store.ValidationError
	var limited *store.SendLimited
	switch {
	case errors.As(err, &invalid):
		return fiber.StatusUnprocessableEntity, invalid.Fields, true
	case errors.As(err, &limited):
		status, problems = a.sendLimited(c, limited)
		return status, problems, true
	}
	return 0, nil, false
}

// sendLimited is the answer to a send over the limit: 429 with Retry-After, and the form's
// problem saying when the message can be sent and whom to call meanwhile.
func (a *App) sendLimited(c *fiber.Ctx, l *store.SendLimited) (int, map[string]string) {
	wait := max(time.Until(l.Retry), time.Second)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	text := fmt.Sprintf("You have sent %d messages in the last %s, the most this message center takes in that time. "+
		"Your message is kept below: you can send it in %s. For anything urgent, call %s.",
		l.Limit.Messages, window(l.Limit.Window), waitWords(wait), session(c).Practice.Name)
	return fiber.StatusTooManyRequests, map[string]string{"form": text}
}

// waitWords writes a wait in minutes, or past two hours in whole hours, rounded up.
func waitWords(d time.Duration) string {
	if d <= 2*time.Hour {
		return minutes(d)
	}
	return strconv.Itoa(int(math.Ceil(d.Hours()))) + " hours"
}

// minutes writes a duration as whole minutes, rounded up: "1 minute", "10 minutes".
func minutes(d time.Duration) string {
	n := int(math.Ceil(d.Minutes()))
	if n <= 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
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
