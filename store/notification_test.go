package store_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// The e-mail about a message is enqueued in the message's transaction: a send that fails after
// the notification was written (here the audit row, the last write, is refused) leaves neither
// a notification nor a job; one that commits leaves exactly one of each, scheduled after the
// notify delay, and a form sent twice still makes one. A patient's message e-mails nobody here.
func TestNotificationEnqueuedWithTheMessage(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	// The demo's jobs are there, and will find nothing to do: its notifications are skipped.
	demoJobs := count(t, f.s, `SELECT count(*) FROM river_job WHERE kind = 'notify'`)
	jobs := func() int { return count(t, f.s, `SELECT count(*) FROM river_job WHERE kind = 'notify'`) - demoJobs }
	pending := func() int { return count(t, f.s, `SELECT count(*) FROM notifications WHERE state = 'pending'`) }
	if pending() != 0 {
		t.Fatalf("the demo left %d notifications pending", pending())
	}

	if _, err := f.s.DB().ExecContext(ctx, `
		CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.StartConversation(ctx, f.physician, origin, store.NewConversation{PatientID: f.maria.UserID,
		Subject: "Results", Body: "Normal", SubmitKey: uuid.NewString()})
	if err == nil || !strings.Contains(err.Error(), "refused for the test") {
		t.Fatalf("send with the audit refused: %v", err)
	}
	if n, p := jobs(), pending(); n != 0 || p != 0 {
		t.Errorf("a rolled-back message left %d jobs and %d notifications", n, p)
	}
	if _, err := f.s.DB().ExecContext(ctx, `DROP TRIGGER refuse_audit ON audit_log`); err != nil {
		t.Fatal(err)
	}

	key := uuid.NewString()
	n := store.NewConversation{PatientID: f.maria.UserID, Subject: "Results", Body: "Normal", SubmitKey: key}
	sent, err := f.s.StartConversation(ctx, f.physician, origin, n)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.s.StartConversation(ctx, f.physician, origin, n); err != nil || !again.Duplicate {
		t.Fatalf("the same form again: %+v, %v", again, err)
	}
	start(t, f.s, f.maria, store.NewConversation{Subject: "A question"})
	if n, p := jobs(), pending(); n != 1 || p != 1 {
		t.Errorf("%d jobs and %d notifications, want one of each", n, p)
	}
	if got := count(t, f.s, `SELECT count(*) FROM notifications n JOIN river_job j ON (j.args->>'notification_id')::bigint = n.id
		WHERE n.message_id = $1 AND n.recipient_id = $2 AND n.kind = 'message'
		  AND j.state = 'scheduled' AND j.scheduled_at > now() + interval '1 minute'`, sent.MessageID, f.maria.UserID); got != 1 {
		t.Errorf("%d notifications of the message to its patient with their job after the delay, want 1", got)
	}
}

// A deactivated account cannot sign in to read what it is told of, so it is e-mailed nothing:
// its notification is skipped, and a patient's message enqueues none for deactivated staff.
func TestNoMailToDeactivatedAccounts(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	if _, err := f.s.DB().ExecContext(ctx, `UPDATE users SET deactivated_at = now() WHERE id = $1`, f.maria.UserID); err != nil {
		t.Fatal(err)
	}
	sent, err := f.s.StartConversation(ctx, f.physician, origin, store.NewConversation{PatientID: f.maria.UserID,
		Subject: "Results", Body: "Normal", SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := f.s.DB().GetContext(ctx, &id, `SELECT id FROM notifications WHERE message_id = $1`, sent.MessageID); err != nil {
		t.Fatal(err)
	}
	d, err := f.s.NextDelivery(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var state, reason string
	if err := f.s.DB().QueryRowContext(ctx, `SELECT state, reason FROM notifications WHERE id = $1`, id).Scan(&state, &reason); err != nil {
		t.Fatal(err)
	}
	if d.Send || state != "skipped" || reason != store.ReasonOff {
		t.Errorf("a deactivated patient's notification: %+v, %s/%s, want skipped, off", d, state, reason)
	}

	if _, err := f.s.DB().ExecContext(ctx, `UPDATE users SET deactivated_at = now() WHERE id = $1`, f.physician.UserID); err != nil {
		t.Fatal(err)
	}
	tom := start(t, f.s, f.tom, store.NewConversation{Subject: "A question", RequestedStaffID: f.physician.UserID})
	if n := count(t, f.s, `SELECT count(*) FROM notifications WHERE message_id = $1 AND recipient_id = $2`,
		tom.MessageID, f.physician.UserID); n != 0 {
		t.Errorf("a deactivated physician asked for by name got %d notifications", n)
	}
}
