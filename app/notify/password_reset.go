package notify

import (
	"context"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"securemessages/app/mail"
	"securemessages/store"
)

// The reset e-mail's fixed words: no name, no practice, nothing of the account but that it is
// one. app/mail/mailtest holds its own copy of them.
const (
	ResetSubject = "Reset your Secure Messages password"
	ResetLead    = "Someone asked to reset the password of your Secure Messages account. If it was you, follow this link within an hour:"
)

// ResetEmail is the reset e-mail to address, with the link to token's form under appURL.
func ResetEmail(to, appURL, token string) mail.Message {
	return mail.Message{To: to, Subject: ResetSubject,
		Text: ResetLead + "\n" + appURL + "/password/reset/" + token + "\n"}
}

// ResetWorker sends one password reset's e-mail: it draws the link's token as it sends (the
// store keeps only its hash), so a retry after a failed send draws a new one and the link of an
// e-mail that may have gone stops working.
type ResetWorker struct {
	river.WorkerDefaults[store.PasswordResetArgs]
	st   *store.Store
	mail Mailer
	c    Config
}

// Work sends the e-mail, unless the reset no longer needs one (used, expired, its account
// deactivated). A mail server that refuses the address for good ends the job: nobody is waiting
// on a retry that cannot succeed, and the page said the same thing it says to everyone.
func (w *ResetWorker) Work(ctx context.Context, job *river.Job[store.PasswordResetArgs]) error {
	m, ok, err := w.st.MintPasswordReset(ctx, job.Args.ResetID)
	if err != nil || !ok {
		return err
	}
	msg := ResetEmail(m.To, w.c.AppURL, m.Token)
	msg.ID = "password-reset-" + strconv.FormatInt(job.Args.ResetID, 10) + "-" + strconv.Itoa(job.Attempt)
	err = w.mail.Send(ctx, msg)
	if _, permanent := mail.Permanent(err); permanent {
		return river.JobCancel(err)
	}
	return err
}

// NextRetry tries again soon: the link expires within the hour, and a person may be waiting.
func (w *ResetWorker) NextRetry(job *river.Job[store.PasswordResetArgs]) time.Time {
	return time.Now().Add(min(2*time.Second<<min(job.Attempt-1, 8), 5*time.Minute))
}
