// Package notify tells people by e-mail that a secure message is waiting for them: River
// workers that send the notifications the store enqueues with each message (store/queue.go,
// store/notification.go), and the account e-mails (invitations, invite.go), through the
// product's one mail path (app/mail).
//
// The e-mail carries no health information: a fixed subject, a fixed line and a link to the
// app's canonical address (APP_URL). No names, no subject or text of any message, not even the
// practice's name. Nothing here may read message text, and nothing here logs addresses.
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"securemessages/app/mail"
	"securemessages/store"
)

// The e-mail's fixed words. app/mail/mailtest holds its own copy of them, and fails on any
// e-mail that says anything else.
const (
	Subject = "You have a new secure message"
	Lead    = "You have a new secure message. Sign in to read it:"
)

// Mailer sends one e-mail; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Email is the notification e-mail to address, linking to the inbox at appURL.
func Email(to, appURL string) mail.Message {
	return mail.Message{To: to, Subject: Subject, Text: Lead + "\n" + appURL + "/inbox\n"}
}

// Config is how the workers run.
type Config struct {
	AppURL string // the canonical origin links point to
	// RescueAfter is how long a job may be running before it is taken to be stuck (its worker
	// killed) and tried again; JOB_RESCUE_AFTER.
	RescueAfter time.Duration
	Workers     int // jobs worked at once by this process
	Log         *slog.Logger
	// Decorate, when set, adds to each e-mail before it goes (an unsubscribe line and the
	// List-Unsubscribe headers, say) for the recipient and kind of notification.
	Decorate func(ctx context.Context, recipientID int64, kind store.NotifyKind, m *mail.Message) error
}

// DefaultRescueAfter is River's own: a send that has run an hour is surely dead.
const DefaultRescueAfter = time.Hour

// NewQueue makes the River client that works notification jobs on st's database, sending
// through m. Start it to work; Stop it to finish the jobs in hand.
func NewQueue(st *store.Store, m Mailer, c Config) (*store.Queue, error) {
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.Workers <= 0 {
		c.Workers = 10
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &Worker{st: st, mail: m, c: c}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &InviteWorker{st: st, mail: m, c: c}); err != nil {
		return nil, err
	}
	return store.NewQueue(st.DB().DB, &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.Workers}},
		Workers: workers,
		// A send that outlasts its timeout is ended and retried; the rescuer only acts after
		// twice that, so it never takes a job that is still being worked.
		JobTimeout:           min(time.Minute, c.RescueAfter/2),
		RescueStuckJobsAfter: c.RescueAfter,
		Logger:               c.Log,
	})
}

// Worker sends one notification: it asks the store what to do (send, wait for the hourly
// limit, or nothing: read, covered, gone), sends, and records the outcome.
type Worker struct {
	river.WorkerDefaults[store.NotifyArgs]
	st   *store.Store
	mail Mailer
	c    Config
}

// Work sends the notification, once. The sent marker and the job's completion commit together
// right after the mail server accepts the e-mail; see docs/notifications.md for the one window
// in which a crash can still send it twice.
func (w *Worker) Work(ctx context.Context, job *river.Job[store.NotifyArgs]) error {
	id := job.Args.NotificationID
	d, err := w.st.NextDelivery(ctx, id)
	switch {
	case err != nil:
		return err
	case d.Done:
		return nil
	case !d.WaitUntil.IsZero():
		return river.JobSnooze(time.Until(d.WaitUntil) + time.Second)
	}
	m := Email(d.To, w.c.AppURL)
	m.ID = "notification-" + strconv.FormatInt(id, 10)
	if w.c.Decorate != nil {
		if err := w.c.Decorate(ctx, d.RecipientID, d.Kind, &m); err != nil {
			return err
		}
	}
	if err := w.mail.Send(ctx, m); err != nil {
		return sendFailed(err, job.Attempt >= job.MaxAttempts, func(reason string) error {
			return w.st.MarkNotificationFailed(ctx, id, reason)
		})
	}
	return w.st.MarkNotificationSent(ctx, id, func(tx *sql.Tx) error {
		_, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
		return err
	})
}

// sendFailed is a job's answer to a send that failed: a refusal for good is marked failed (with
// its reason) and cancels the job, not to be retried; anything else is returned for River to
// retry, and marked failed on the last attempt.
func sendFailed(err error, last bool, markFailed func(reason string) error) error {
	if reason, ok := mail.Permanent(err); ok {
		if err := markFailed(reason); err != nil {
			return err
		}
		return river.JobCancel(err)
	}
	if last {
		if err := markFailed("mail server did not accept it"); err != nil {
			return err
		}
	}
	return err
}

// NextRetry waits 2 s after the first failure and twice as long after each next, up to half an
// hour: a mail server back from a short outage gets its mail within seconds, one down for hours
// is not hammered. River's 25 attempts then span about seven hours.
func (w *Worker) NextRetry(job *river.Job[store.NotifyArgs]) time.Time { return retryAt(job.Attempt) }

func retryAt(attempt int) time.Time {
	wait := 30 * time.Minute
	if attempt < 12 {
		wait = min(wait, (2*time.Second)<<(attempt-1))
	}
	return time.Now().Add(wait)
}

// ErrNoMail is what a worker process says when it has nowhere to send mail.
var ErrNoMail = errors.New("SMTP_URL is not set: production refuses to work jobs without a mail server")

// Run works jobs until ctx ends, then stops taking new ones and gives those in hand up to grace
// to finish (a killed send is retried by another worker later).
func Run(ctx context.Context, q *store.Queue, grace time.Duration) error {
	if err := q.Start(context.WithoutCancel(ctx)); err != nil { // its end is Stop, below, not ctx
		return fmt.Errorf("notify: start: %w", err)
	}
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := q.Stop(stop); err != nil {
		hard, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return q.StopAndCancel(hard)
	}
	return nil
}
