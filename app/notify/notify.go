// Package notify tells people by e-mail that a secure message is waiting for them, and sends the
// account e-mails (invitations, invite.go; the link that resets a forgotten password): River
// workers that send what the store enqueues with each message, invitation and reset request
// (store/queue.go, store/notification.go, store/password_reset.go), through the product's one
// mail path (app/mail).
//
// Each e-mail tells of one kind of message (store.NotificationKind) and goes as its recipient
// chose for that kind: one for each message, one hourly digest of what is still unopened, or none.
//
// The e-mail carries no health information: a fixed subject, a fixed line and a link to the
// app's canonical address (APP_URL), then one line to stop that kind of e-mail (Unsubscribe).
// No names, no subject or text of any message, not even the practice's name. Nothing here may
// read message text, and nothing here logs addresses.
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"securemessages/app/mail"
	"securemessages/app/unsubscribe"
	"securemessages/store"
)

// The e-mail's fixed words. app/mail/mailtest holds its own copy of them, and fails on any
// e-mail that says anything else.
const (
	Subject = "You have a new secure message"
	Lead    = "You have a new secure message. Sign in to read it:"
	// The hourly digest's, whatever the number of messages: a count would say how much a patient
	// writes with the practice.
	DigestSubject = "You have new secure messages"
	DigestLead    = "You have new secure messages. Sign in to read them:"
	// StopLead begins the e-mail's last line, before its unsubscribe address.
	StopLead = "Stop these e-mails: "
)

// Mailer sends one e-mail; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Email is the notification e-mail to address, linking to the inbox at appURL.
func Email(to, appURL string) mail.Message {
	return mail.Message{To: to, Subject: Subject, Text: Lead + "\n" + appURL + "/inbox\n"}
}

// DigestEmail is the hourly digest to address, linking to the inbox at appURL.
func DigestEmail(to, appURL string) mail.Message {
	return mail.Message{To: to, Subject: DigestSubject, Text: DigestLead + "\n" + appURL + "/inbox\n"}
}

// Decorator adds to an e-mail about kind to recipientID before it goes, writing what it needs
// through ex: the transaction that counts the attempt, so it commits with it.
type Decorator func(ctx context.Context, ex sqlx.ExecerContext, recipientID int64, kind store.NotificationKind, m *mail.Message) error

// Unsubscribe is the Decorator every notification carries: a one-click unsubscribe token for
// the recipient and kind, the RFC 8058 headers naming it, and one line with its address, so the
// link turns off this kind of e-mail and nothing else.
func Unsubscribe(st *store.Store, appURL string) Decorator {
	return func(ctx context.Context, ex sqlx.ExecerContext, recipientID int64, kind store.NotificationKind, m *mail.Message) error {
		token, err := st.NewUnsubscribeToken(ctx, ex, recipientID, kind)
		if err != nil {
			return err
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		maps.Copy(m.Headers, unsubscribe.Headers(appURL, token))
		m.Text += StopLead + unsubscribe.URL(appURL, token) + "\n"
		return nil
	}
}

// Config is how the workers run.
type Config struct {
	AppURL string // the canonical origin links point to
	// RescueAfter is how long a job may be running before it is taken to be stuck (its worker
	// killed) and tried again; JOB_RESCUE_AFTER.
	RescueAfter time.Duration
	Workers     int // jobs worked at once by this process
	Log         *slog.Logger
	// Decorate, when set, adds to each e-mail before it goes (Unsubscribe: an unsubscribe line
	// and the List-Unsubscribe headers) for the recipient and kind of message.
	Decorate Decorator
	// DigestEvery is how often digests go (DefaultDigestEvery when zero).
	DigestEvery time.Duration
}

// DefaultDigestEvery is the digest's hour.
const DefaultDigestEvery = time.Hour

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
	if c.DigestEvery <= 0 {
		c.DigestEvery = DefaultDigestEvery
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &Worker{sender: sender{st: st, mail: m, c: c}}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &InviteWorker{st: st, mail: m, c: c}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &ResetWorker{st: st, mail: m, c: c}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &DigestWorker{sender: sender{st: st, mail: m, c: c}}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &SweepWorker{st: st}); err != nil {
		return nil, err
	}
	every := c.DigestEvery
	sweep := river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return store.DigestSweepArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
	}, &river.PeriodicJobOpts{ID: "notify_digest_sweep"})
	return store.NewQueue(st.DB().DB, &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.Workers}},
		Workers:      workers,
		PeriodicJobs: []*river.PeriodicJob{sweep},
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
	sender
}

// sender is what both kinds of e-mail job send with.
type sender struct {
	st   *store.Store
	mail Mailer
	c    Config
}

// Work sends the notification, once. The sent marker and the job's completion commit together
// right after the mail server accepts the e-mail; see docs/notifications.md for the one window
// in which a crash can still send it twice.
func (w *Worker) Work(ctx context.Context, job *river.Job[store.NotifyArgs]) error {
	id := job.Args.NotificationID
	var m mail.Message
	d, err := w.st.NextDelivery(ctx, id, func(ex sqlx.ExecerContext, d store.NextSend) error {
		m = Email(d.To, w.c.AppURL)
		m.ID = "notification-" + strconv.FormatInt(id, 10)
		return w.c.decorate(ctx, ex, d.RecipientID, d.About, &m)
	})
	switch {
	case err != nil:
		return err
	case d.Done:
		return nil
	case !d.WaitUntil.IsZero():
		return river.JobSnooze(time.Until(d.WaitUntil) + time.Second)
	}
	return deliver(ctx, w.mail, m, job,
		func(reason string) error { return w.st.MarkNotificationFailed(ctx, id, reason) },
		func(complete func(*sql.Tx) error) error { return w.st.MarkNotificationSent(ctx, id, complete) })
}

// deliver sends m for job and records the outcome: a refusal for good fails it and cancels the
// job (no retry can help), a failure on the job's last try fails it, any other failure goes back
// to River to retry, and success marks it sent in the transaction that completes the job.
func deliver[T river.JobArgs](ctx context.Context, mailer Mailer, m mail.Message, job *river.Job[T],
	failed func(reason string) error, sent func(complete func(*sql.Tx) error) error) error {
	if err := mailer.Send(ctx, m); err != nil {
		return sendFailed(err, job.Attempt >= job.MaxAttempts, failed)
	}
	return sent(func(tx *sql.Tx) error {
		_, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
		return err
	})
}

func (c Config) decorate(ctx context.Context, ex sqlx.ExecerContext, recipientID int64, kind store.NotificationKind, m *mail.Message) error {
	if c.Decorate == nil {
		return nil
	}
	return c.Decorate(ctx, ex, recipientID, kind, m)
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
func (w *Worker) NextRetry(job *river.Job[store.NotifyArgs]) time.Time { return nextRetry(job.Attempt) }

func nextRetry(attempt int) time.Time {
	wait := 30 * time.Minute
	if attempt < 12 {
		wait = min(wait, (2*time.Second)<<(attempt-1))
	}
	return time.Now().Add(wait)
}

// SweepWorker is the hourly periodic job: it enqueues one DigestWorker job for each person with
// a digest due.
type SweepWorker struct {
	river.WorkerDefaults[store.DigestSweepArgs]
	st *store.Store
}

// Work enqueues the digests due.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[store.DigestSweepArgs]) error {
	_, err := w.st.EnqueueDigests(ctx)
	return err
}

// DigestWorker sends one person's hourly digest of one kind of message, if anything it would tell
// of is still unopened, and marks what it told of sent with the job's completion, as Worker does.
type DigestWorker struct {
	river.WorkerDefaults[store.DigestArgs]
	sender
}

// Work sends the digest, once.
func (w *DigestWorker) Work(ctx context.Context, job *river.Job[store.DigestArgs]) error {
	var m mail.Message
	d, err := w.st.NextDigest(ctx, job.Args.UserID, job.Args.About, func(ex sqlx.ExecerContext, d store.Digest) error {
		m = DigestEmail(d.To, w.c.AppURL)
		// The last notification it tells of names it, so a copy sent again after a crash folds
		// into the first.
		m.ID = "digest-" + strconv.FormatInt(d.IDs[len(d.IDs)-1], 10)
		return w.c.decorate(ctx, ex, job.Args.UserID, job.Args.About, &m)
	})
	if err != nil || !d.Send {
		return err
	}
	return deliver(ctx, w.mail, m, job,
		func(reason string) error { return w.st.MarkDigestFailed(ctx, d.IDs, reason) },
		func(complete func(*sql.Tx) error) error { return w.st.MarkDigestSent(ctx, d.IDs, complete) })
}

// NextRetry is Worker's.
func (w *DigestWorker) NextRetry(job *river.Job[store.DigestArgs]) time.Time {
	return nextRetry(job.Attempt)
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
