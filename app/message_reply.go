package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"securemessages/store"
)

const replyRefused = "This conversation can no longer be answered here: it was archived or the message was removed. Your text is kept below; Re-Open the conversation to send it."

// replyForm opens the Send Follow-Up or Reply form under a message.
func (a *App) replyForm(c *fiber.Ctx) error {
	m, allowed, err := a.loadMessage(c)
	if err != nil {
		return err
	}
	if !allowed.FollowUp && !allowed.Reply {
		return a.refused(c, fiber.StatusConflict, "This conversation is archived; Re-Open it to write more.")
	}
	form, err := a.replyFormFor(c, m, allowed.FollowUp, store.NewReply{SubmitKey: uuid.NewString()}, nil)
	if err != nil {
		return err
	}
	return a.showSlot(c, fiber.StatusOK, m, &Slot{Kind: SlotReply, Form: form})
}

// replySend sends a follow-up or reply under a message. Problems come back in the form with the
// text kept: 422 for what the sender can fix, 409 when the action no longer applies, 429 for a
// patient over the send limit.
func (a *App) replySend(c *fiber.Ctx) error {
	m, allowed, err := a.loadMessage(c)
	if err != nil {
		return err
	}
	n := store.NewReply{
		ParentID:       m.ID,
		Subject:        c.FormValue("subject"),
		Body:           c.FormValue("body"),
		BillingConsent: c.FormValue("consent") == "yes",
		SubmitKey:      c.FormValue("submit_key"),
	}
	sent, err := a.store.SendReply(c.UserContext(), session(c).User.Viewer(), a.origin(c), n)
	if err == nil {
		return a.changed(c, "sent", sent.Event)
	}
	status, problems, ok := a.sendProblems(c, err)
	if !ok && errors.Is(err, store.ErrNoLongerApplies) {
		status, problems, ok = fiber.StatusConflict, map[string]string{"form": replyRefused}, true
	}
	if !ok {
		return err
	}
	form, err := a.replyFormFor(c, m, allowed.FollowUp, n, problems)
	if err != nil {
		return err
	}
	return a.showSlot(c, status, m, &Slot{Kind: SlotReply, Form: form})
}

// replyFormFor is the form under parent with what n holds (as typed, when it comes back), its
// subject's placeholder the "Re: …" it carries when left empty.
func (a *App) replyFormFor(c *fiber.Ctx, parent *store.Message, followUp bool, n store.NewReply, problems map[string]string) (*ReplyForm, error) {
	sess := session(c)
	form := &ReplyForm{FollowUp: followUp, Subject: n.Subject, DefaultSubject: store.ReplySubject(parent.Subject),
		Body: n.Body, Consent: n.BillingConsent, SubmitKey: n.SubmitKey, Problems: problems, MaxBody: store.MaxBodyLen}
	if sess.User.Role != store.RolePatient {
		return form, nil
	}
	ps, err := a.store.PracticeSettings(c.UserContext(), sess.User.Viewer())
	if err != nil {
		return nil, err
	}
	form.MaxBody = ps.Limits.MaxBody
	if sess.Practice.Charges() && ps.Fee.Charges(false) {
		form.Fee, form.ConsentLabel = store.FormatFee(sess.Practice.MessageFeeCents), ps.Fee.ConsentLabel()
	}
	return form, nil
}
