package notify_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/app/mail"
	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
	"securemessages/app/notify"
	"securemessages/store"
	"securemessages/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const appURL = "https://messages.example.test"

// forbidden are words of the demo and of the messages these tests send: no e-mail may hold one.
var forbidden = []string{"Maria", "Lopez", "Tom", "Becker", "Amelia", "Chen", "Riverside", "Hillcrest",
	"Blood test", "results are normal", "Rash"}

type rig struct {
	st         *store.Store
	mail       *localmail.Server
	physician  store.Viewer
	maria, tom store.User
}

// newRig is a demo database whose messages' e-mails wait delay, a Mailpit (checked for health
// information when the test ends), and a worker sending to it.
func newRig(t *testing.T, opts localmail.Options, delay time.Duration) *rig {
	t.Helper()
	r := &rig{st: storetest.NewDemo(t)}
	r.st.NotifyAfter(delay)
	r.mail = mailtest.Start(t, opts, appURL, forbidden...)
	for email, u := range map[string]*store.User{"maria.lopez@riverside.example": &r.maria, "tom.becker@riverside.example": &r.tom} {
		var err error
		if *u, err = r.st.UserByEmail(t.Context(), email); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := r.st.UserByEmail(t.Context(), "physician@riverside.example")
	if err != nil {
		t.Fatal(err)
	}
	r.physician = doc.Viewer()
	return r
}

func (r *rig) work(t *testing.T) {
	t.Helper()
	cfg, err := mail.ParseConfig(r.mail.SMTPURL, "messages@example.test")
	if err != nil {
		t.Fatal(err)
	}
	q, err := notify.NewQueue(r.st, mail.NewSender(cfg), notify.Config{AppURL: appURL,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- notify.Run(ctx, q, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func (r *rig) write(t *testing.T, patient store.User, subject string) store.Sent {
	t.Helper()
	sent, err := r.st.StartConversation(t.Context(), r.physician, store.Origin{RequestID: "test"},
		store.NewConversation{PatientID: patient.ID, Subject: subject, Body: subject + ": results are normal", SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

func (r *rig) reply(t *testing.T, parent int64) store.Sent {
	t.Helper()
	sent, err := r.st.SendReply(t.Context(), r.physician, store.Origin{RequestID: "test"},
		store.NewReply{ParentID: parent, Body: "And one more thing: results are normal", SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

func (r *rig) state(t *testing.T, messageID int64, kind store.NotificationKind) (state, reason string) {
	t.Helper()
	err := r.st.DB().QueryRowContext(t.Context(), `SELECT state, reason FROM notifications WHERE message_id = $1 AND kind = $2`,
		messageID, kind).Scan(&state, &reason)
	if err != nil {
		t.Fatalf("notification of message %d: %v", messageID, err)
	}
	return state, reason
}

// The practice writes twice in one conversation and once in another, and a patient writes to
// the practice: the patient gets one e-mail per conversation, the fixed text only, and the
// practice none; the one e-mail that went earns a reminder a day later; the second message of
// the conversation is covered by the first's e-mail.
func TestNotifyOncePerConversation(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	first := r.write(t, r.maria, "Blood test")
	second := r.reply(t, first.MessageID)
	other := r.write(t, r.tom, "Rash")
	if _, err := r.st.StartConversation(t.Context(), r.maria.Viewer(), store.Origin{RequestID: "test"},
		store.NewConversation{Subject: "Rash", Body: "It itches", BillingConsent: true, SubmitKey: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	r.work(t)
	mails := mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "one e-mail to each patient", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.maria.Email)) == 1 && len(mailtest.To(m, r.tom.Email)) == 1
	})
	storetest.WaitFor(t, 10*time.Second, "every notification decided", func() bool {
		var pending int
		r.st.DB().GetContext(t.Context(), &pending, `SELECT count(*) FROM notifications WHERE kind = 'message' AND state = 'pending'`)
		return pending == 0
	})
	if len(mails) != 2 {
		t.Errorf("%d e-mails, want 2:%s", len(mails), mailtest.Summary(mails))
	}
	states := map[int64]string{}
	for _, id := range []int64{first.MessageID, second.MessageID, other.MessageID} {
		s, reason := r.state(t, id, store.NotifyMessage)
		states[id] = s + " " + reason
	}
	sentOne := (states[first.MessageID] == "sent " && states[second.MessageID] == "skipped covered") ||
		(states[second.MessageID] == "sent " && states[first.MessageID] == "skipped covered")
	if !sentOne || states[other.MessageID] != "sent " {
		t.Errorf("notification states %v", states)
	}
	var reminders int
	r.st.DB().GetContext(t.Context(), &reminders, `
		SELECT count(*) FROM notifications n JOIN river_job j ON (j.args->>'notification_id')::bigint = n.id
		WHERE n.kind = 'reminder' AND n.state = 'pending' AND j.state = 'scheduled'
		  AND j.scheduled_at > now() + interval '23 hours'`)
	if reminders != 2 {
		t.Errorf("%d reminders scheduled a day on, want 2", reminders)
	}
	time.Sleep(time.Second) // nothing more comes
	if all := mailtest.All(t, r.mail.WebURL); len(all) != 2 {
		t.Errorf("%d e-mails after a wait, want 2:%s", len(all), mailtest.Summary(all))
	}
}

// A message the patient opens before its delay is up is not e-mailed; one written within the
// hour after an e-mail waits until that hour is up.
func TestNotifySkipsReadAndWaitsAnHour(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 2*time.Second)
	read := r.write(t, r.maria, "Blood test")
	if _, err := r.st.DB().ExecContext(t.Context(), `UPDATE messages SET opened_at = now() WHERE id = $1`, read.MessageID); err != nil {
		t.Fatal(err)
	}
	first := r.write(t, r.tom, "Rash")
	r.work(t)
	mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the e-mail to Tom", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.tom.Email)) == 1
	})
	storetest.WaitFor(t, 10*time.Second, "the opened message skipped", func() bool {
		s, reason := r.state(t, read.MessageID, store.NotifyMessage)
		return s == "skipped" && reason == store.ReasonRead
	})
	later := r.reply(t, first.MessageID)
	storetest.WaitFor(t, 20*time.Second, "the later message waiting for the hour", func() bool {
		var at time.Time
		err := r.st.DB().GetContext(t.Context(), &at, `
			SELECT j.scheduled_at FROM notifications n JOIN river_job j ON (j.args->>'notification_id')::bigint = n.id
			WHERE n.message_id = $1 AND n.kind = 'message' AND n.state = 'pending' AND j.state = 'scheduled'`, later.MessageID)
		return err == nil && at.After(time.Now().Add(50*time.Minute))
	})
	if n := len(mailtest.All(t, r.mail.WebURL)); n != 1 {
		t.Errorf("%d e-mails, want 1", n)
	}
}

// A mail server that refuses the address for good: the notification fails with the reason, which
// staff of the practice see on the message and nobody else does, and it is not retried.
func TestNotifyRejectedAddress(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{AllowedRecipients: `@riverside\.example$`}, 0)
	if _, err := r.st.DB().ExecContext(t.Context(), `UPDATE users SET email = 'maria@rejected.test' WHERE id = $1`, r.maria.ID); err != nil {
		t.Fatal(err)
	}
	sent := r.write(t, r.maria, "Blood test")
	r.work(t)
	storetest.WaitFor(t, 20*time.Second, "the notification failed", func() bool {
		s, _ := r.state(t, sent.MessageID, store.NotifyMessage)
		return s == "failed"
	})
	if _, reason := r.state(t, sent.MessageID, store.NotifyMessage); reason != "address rejected" {
		t.Errorf("reason %q, want address rejected", reason)
	}
	if p, err := r.st.NotificationProblem(t.Context(), r.physician, sent.MessageID); err != nil || p != "address rejected" {
		t.Errorf("staff see %q (%v), want address rejected", p, err)
	}
	if p, _ := r.st.NotificationProblem(t.Context(), r.maria.Viewer(), sent.MessageID); p != "" {
		t.Errorf("the patient sees %q", p)
	}
	storetest.WaitFor(t, 10*time.Second, "the job cancelled, not retried", func() bool {
		var jobState string
		r.st.DB().GetContext(t.Context(), &jobState, `SELECT state FROM river_job WHERE kind = 'notify' ORDER BY id DESC LIMIT 1`)
		return jobState == "cancelled"
	})
	if n := len(mailtest.All(t, r.mail.WebURL)); n != 0 {
		t.Errorf("%d e-mails caught, want none", n)
	}
}

// A day after the e-mail about a message, the reminder goes if the conversation still holds
// something unopened, and is skipped if not; a reminder earns no reminder of its own. (The day is
// made to pass by moving the first e-mail and the reminder's job back.)
func TestNotifyReminderAfterADay(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	unread := r.write(t, r.maria, "Blood test")
	read := r.write(t, r.tom, "Rash")
	r.work(t)
	mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the first e-mails", func(m []mailtest.Mail) bool { return len(m) == 2 })
	storetest.WaitFor(t, 10*time.Second, "both reminders scheduled", func() bool {
		var n int
		r.st.DB().GetContext(t.Context(), &n, `SELECT count(*) FROM notifications WHERE kind = 'reminder'`)
		return n == 2
	})
	if _, err := r.st.DB().ExecContext(t.Context(), `UPDATE messages SET opened_at = now() WHERE id = $1`, read.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.DB().ExecContext(t.Context(), `UPDATE notifications SET sent_at = sent_at - interval '25 hours' WHERE state = 'sent'`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.DB().ExecContext(t.Context(), `
		UPDATE river_job j SET scheduled_at = now() FROM notifications n
		WHERE (j.args->>'notification_id')::bigint = n.id AND n.kind = 'reminder'`); err != nil {
		t.Fatal(err)
	}
	mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "Maria's reminder", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.maria.Email)) == 2
	})
	storetest.WaitFor(t, 10*time.Second, "Tom's reminder skipped", func() bool {
		s, reason := r.state(t, read.MessageID, store.NotifyReminder)
		return s == "skipped" && reason == store.ReasonRead
	})
	if s, _ := r.state(t, unread.MessageID, store.NotifyReminder); s != "sent" {
		t.Errorf("Maria's reminder %s", s)
	}
	var n int
	r.st.DB().GetContext(t.Context(), &n, `SELECT count(*) FROM notifications WHERE reason <> 'demo'`)
	if n != 4 {
		t.Errorf("%d notifications, want 4: a reminder earns no reminder", n)
	}
	if all := mailtest.All(t, r.mail.WebURL); len(all) != 3 {
		t.Errorf("%d e-mails, want 3:%s", len(all), mailtest.Summary(all))
	}
}
