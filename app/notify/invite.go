package notify

import (
	"context"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"securemessages/app/mail"
	"securemessages/store"
)

// The account e-mails' fixed words: an invitation's link, or, to an address that has an account
// already, the advice to sign in. The inviter's practice is not named, nor the person, nor who
// invited them. app/mail/mailtest holds its own copy of them.
const (
	AccountSubject = "Your secure message account"
	InviteLead     = "You are invited to send and receive secure messages. Choose your password here (the link works once, for 72 hours):"
	SignInLead     = "You were invited to secure messages, and this address has an account already. Sign in here:"
)

// InviteEmail is the invitation e-mail to address: a link holding token, or, for "" (the address
// has an account), the sign-in page.
func InviteEmail(to, appURL, token string) mail.Message {
	if token == "" {
		return mail.Message{To: to, Subject: AccountSubject, Text: SignInLead + "\n" + appURL + "/signin\n"}
	}
	return mail.Message{To: to, Subject: AccountSubject, Text: InviteLead + "\n" + appURL + "/invitations/" + token + "\n"}
}

// InviteWorker sends one send of an invitation: it asks the store to mint the link (which keeps
// only the token's hash), then sends it. A crash after the mail server took the e-mail and before
// the job completed sends it again with a new link, and the first link stops working: the person
// uses the newer e-mail (docs/onboarding.md).
type InviteWorker struct {
	river.WorkerDefaults[store.InviteArgs]
	st   *store.Store
	mail Mailer
	c    Config
}

// Work mints and sends.
func (w *InviteWorker) Work(ctx context.Context, job *river.Job[store.InviteArgs]) error {
	a := job.Args
	m, err := w.st.MintInvitation(ctx, a.InvitationID, a.Send)
	if err != nil || m.Done {
		return err
	}
	msg := InviteEmail(m.To, w.c.AppURL, m.Token)
	msg.ID = "invitation-" + strconv.FormatInt(a.InvitationID, 10) + "-" + strconv.Itoa(a.Send)
	if err := w.mail.Send(ctx, msg); err != nil {
		return sendFailed(err, job.Attempt >= job.MaxAttempts, func(reason string) error {
			return w.st.MarkInvitationFailed(ctx, a.InvitationID, a.Send, reason)
		})
	}
	return nil
}

// NextRetry is the notifications' backoff.
func (w *InviteWorker) NextRetry(job *river.Job[store.InviteArgs]) time.Time {
	return nextRetry(job.Attempt)
}
