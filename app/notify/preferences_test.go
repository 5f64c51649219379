package notify_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/app"
	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
	"securemessages/app/notify"
	"securemessages/app/unsubscribe"
	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
)

// digestEvery is how often the periodic test's digests go: often enough for a test to wait for
// one. The other tests keep the hour and sweep themselves (sweep), once every notification has
// been decided, so that no sweep falls between two notifications of one digest.
const digestEvery = time.Second

// sweep does what the hourly periodic job does, as two instances would at once.
func (r *rig) sweep(t *testing.T) {
	t.Helper()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := r.st.EnqueueDigests(t.Context())
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// decided waits until no notification waits for a worker: each is sent, skipped, failed or
// waiting for its digest.
func (r *rig) decided(t *testing.T) {
	t.Helper()
	storetest.WaitFor(t, 20*time.Second, "every notification decided", func() bool {
		var n int
		r.st.DB().GetContext(t.Context(), &n, `SELECT count(*) FROM notifications WHERE kind = 'message' AND state = 'pending' AND reason = ''`)
		return n == 0
	})
}

func (r *rig) user(t *testing.T, email string) store.User {
	t.Helper()
	u, err := r.st.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// staff are the practice's physician, and its nurse, who chose the digest of what waits for the
// practice.
func (r *rig) staff(t *testing.T) (doctor, nurse store.User) {
	t.Helper()
	doctor, nurse = r.user(t, "physician@riverside.example"), r.user(t, "nurse@riverside.example")
	r.prefer(t, nurse, store.KindWaiting, store.DeliveryDigest)
	return doctor, nurse
}

func (r *rig) prefer(t *testing.T, u store.User, kind store.NotificationKind, d store.Delivery) {
	t.Helper()
	if err := r.st.SetNotificationPreference(t.Context(), u.Viewer(), store.Origin{RequestID: "test"}, kind, d); err != nil {
		t.Fatal(err)
	}
}

// patientWrites starts a conversation from patient to the practice, asking for requested (0 for
// anyone).
func (r *rig) patientWrites(t *testing.T, patient store.User, requested int64, subject string) store.Sent {
	t.Helper()
	sent, err := r.st.StartConversation(t.Context(), patient.Viewer(), store.Origin{RequestID: "test"},
		store.NewConversation{Subject: subject, Body: subject + ": results are normal", RequestedStaffID: requested,
			BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

func (r *rig) open(t *testing.T, messageID int64) {
	t.Helper()
	if _, err := r.st.DB().ExecContext(t.Context(), `UPDATE messages SET opened_at = now() WHERE id = $1`, messageID); err != nil {
		t.Fatal(err)
	}
}

// states are what became of the e-mails about message id, by recipient: "sent", "skipped off"...
func (r *rig) states(t *testing.T, messageID int64) map[int64]string {
	t.Helper()
	rows, err := r.st.DB().QueryContext(t.Context(), `
		SELECT recipient_id, state, reason FROM notifications WHERE message_id = $1 AND kind = 'message'`, messageID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var state, reason string
		if err := rows.Scan(&id, &state, &reason); err != nil {
			t.Fatal(err)
		}
		out[id] = strings.TrimSpace(state + " " + reason)
	}
	return out
}

func (r *rig) waitState(t *testing.T, messageID, recipientID int64, want string) {
	t.Helper()
	storetest.WaitFor(t, 20*time.Second, "notification "+want, func() bool {
		return r.states(t, messageID)[recipientID] == want
	})
}

func (r *rig) delivery(t *testing.T, u store.User, kind store.NotificationKind) store.Delivery {
	t.Helper()
	prefs, err := r.st.NotificationPreferences(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefs {
		if p.Kind == kind {
			return p.Delivery
		}
	}
	t.Fatalf("%s has no preference for %s", u.Email, kind)
	return ""
}

// webApp is the app as main.go serves it, over the rig's database.
func (r *rig) webApp(t *testing.T) interface {
	Test(*http.Request, ...int) (*http.Response, error)
} {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": "postgres://localhost/unused", "MESSAGE_KEYS": storetest.KeySpec}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := app.New(cfg, r.st, realtime.NewHub(nil, log), log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// unsubscribeLink checks that m carries the one-click headers and the one line naming the same
// address, and returns that address.
func unsubscribeLink(t *testing.T, m mailtest.Mail) string {
	t.Helper()
	list := strings.Join(m.Headers[unsubscribe.HeaderList], "")
	if post := strings.Join(m.Headers[unsubscribe.HeaderPost], ""); post != unsubscribe.OneClick {
		t.Errorf("%s %q, want %q", unsubscribe.HeaderPost, post, unsubscribe.OneClick)
	}
	link, ok := strings.CutPrefix(list, "<")
	link, ok2 := strings.CutSuffix(link, ">")
	if !ok || !ok2 || !strings.HasPrefix(link, appURL+"/unsubscribe/") {
		t.Fatalf("%s %q, want <%s/unsubscribe/…>", unsubscribe.HeaderList, list, appURL)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n")), "\n")
	if last := lines[len(lines)-1]; last != notify.StopLead+link {
		t.Errorf("last line %q, want %q", last, notify.StopLead+link)
	}
	return link
}

// A mail client's one-click unsubscribe, as RFC 8058 has it: a POST to the header's address
// with the one-click body, no cookie, no CSRF token.
func oneClick(t *testing.T, web interface {
	Test(*http.Request, ...int) (*http.Response, error)
}, link string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", u.Path, strings.NewReader(unsubscribe.OneClick))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := web.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click POST %s: %s", u.Path, resp.Status)
	}
}

// Every e-mail carries the RFC 8058 headers and one line with the same address; a mail client's
// one-click POST to it turns that kind off, and the next message of that kind sends nothing.
func TestUnsubscribeFromTheEmail(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	first := r.write(t, r.maria, "Blood test")
	r.work(t)
	mails := mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the e-mail to Maria", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.maria.Email)) == 1
	})
	link := unsubscribeLink(t, mailtest.To(mails, r.maria.Email)[0])
	r.waitState(t, first.MessageID, r.maria.ID, "sent")
	if d := r.delivery(t, r.maria, store.KindPracticeMessage); d != store.DeliveryNow {
		t.Fatalf("before the click: %s", d)
	}
	oneClick(t, r.webApp(t), link)
	if d := r.delivery(t, r.maria, store.KindPracticeMessage); d != store.DeliveryOff {
		t.Errorf("after the click: %s, want off", d)
	}
	later := r.write(t, r.maria, "Rash")
	r.waitState(t, later.MessageID, r.maria.ID, "skipped off")
	if n := len(mailtest.To(mailtest.All(t, r.mail.WebURL), r.maria.Email)); n != 1 {
		t.Errorf("%d e-mails to Maria, want the first only", n)
	}
}

// A patient's choice: off sends nothing (skipped, "off"); digest sends no e-mail per message but
// one hourly e-mail for all that are still unopened, and nothing when nothing is; now sends one
// per message (the other tests).
func TestPatientPreferences(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	r.prefer(t, r.tom, store.KindPracticeMessage, store.DeliveryOff)
	r.prefer(t, r.maria, store.KindPracticeMessage, store.DeliveryDigest)
	toTom := r.write(t, r.tom, "Rash")
	one := r.write(t, r.maria, "Blood test")
	two := r.write(t, r.maria, "Rash")
	opened := r.write(t, r.maria, "Blood test")
	r.open(t, opened.MessageID)
	r.work(t)
	r.decided(t)
	if s := r.states(t, one.MessageID)[r.maria.ID]; s != "pending digest" {
		t.Errorf("before the digest: %s, want pending digest", s)
	}
	if n := len(mailtest.All(t, r.mail.WebURL)); n != 0 {
		t.Errorf("%d e-mails before the digest, want none", n)
	}
	r.sweep(t)
	mails := mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "Maria's digest", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.maria.Email)) == 1
	})
	digest := mailtest.To(mails, r.maria.Email)[0]
	if digest.Subject != notify.DigestSubject ||
		!strings.HasPrefix(strings.ReplaceAll(digest.Text, "\r\n", "\n"), notify.DigestLead+"\n"+appURL+"/inbox\n") {
		t.Errorf("digest %q: %q", digest.Subject, digest.Text)
	}
	link := unsubscribeLink(t, digest)
	if kind, err := r.st.UnsubscribeKind(t.Context(), strings.TrimPrefix(link, appURL+"/unsubscribe/")); err != nil ||
		kind != store.KindPracticeMessage {
		t.Errorf("the digest's link turns off %q (%v)", kind, err)
	}
	r.waitState(t, toTom.MessageID, r.tom.ID, "skipped off")
	r.waitState(t, two.MessageID, r.maria.ID, "sent")
	r.waitState(t, opened.MessageID, r.maria.ID, "skipped read")
	if s := r.states(t, one.MessageID)[r.maria.ID]; s != "sent" {
		t.Errorf("the first message told of by the digest: %s", s)
	}
	// Nothing waits: hours go by (sweeps), and nothing more is sent; nor for a message opened
	// before its digest.
	late := r.write(t, r.maria, "Rash")
	r.waitState(t, late.MessageID, r.maria.ID, "pending digest")
	r.open(t, late.MessageID)
	r.sweep(t)
	r.waitState(t, late.MessageID, r.maria.ID, "skipped read")
	r.sweep(t)
	time.Sleep(time.Second)
	if all := mailtest.All(t, r.mail.WebURL); len(all) != 1 {
		t.Errorf("%d e-mails, want Maria's one digest:%s", len(all), mailtest.Summary(all))
	}
	var reminders int
	r.st.DB().GetContext(t.Context(), &reminders, `SELECT count(*) FROM notifications WHERE kind = 'reminder'`)
	if reminders != 0 {
		t.Errorf("%d reminders: a digest earns none", reminders)
	}
}

// A patient writes asking for the physician: the physician hears at once (the default); the
// nurse, who chose the digest of what waits for the practice, gets one digest; the rest of the
// staff (default off), the administrator and the automatic account get nothing. A message
// someone on staff opened before its e-mail sends none, and the patient's reply is enqueued for
// the physician too.
func TestStaffRequestedAndWaiting(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	doctor, nurse := r.staff(t)
	desk := r.user(t, "front.desk@riverside.example")
	// The practice's automatic account (made by its first automatic reply), set to hear of
	// everything at once, as no real account of it could be: it still gets nothing.
	if _, err := r.st.DB().ExecContext(t.Context(), `
		WITH a AS (INSERT INTO users (practice_id, role, email, password_hash, full_name, initials, automatic)
		           VALUES ($1, 'staff', 'automatic-reply@practice.invalid', '!', 'Automatic reply', 'AR', true) RETURNING id)
		INSERT INTO notification_preferences (user_id, kind, delivery) SELECT id, 'waiting', 'now' FROM a`,
		r.maria.PracticeID); err != nil {
		t.Fatal(err)
	}
	asked := r.patientWrites(t, r.maria, doctor.ID, "Blood test")
	seen := r.patientWrites(t, r.tom, 0, "Rash")
	r.open(t, seen.MessageID)
	r.work(t)
	r.decided(t)
	r.sweep(t)
	mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the physician's e-mail and the nurse's digest", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, doctor.Email)) == 1 && len(mailtest.To(m, nurse.Email)) == 1
	})
	r.waitState(t, asked.MessageID, nurse.ID, "sent")
	r.waitState(t, seen.MessageID, nurse.ID, "skipped read")
	mails := mailtest.All(t, r.mail.WebURL)
	if m := mailtest.To(mails, doctor.Email)[0]; m.Subject != notify.Subject {
		t.Errorf("the physician got %q, want the e-mail at once", m.Subject)
	} else if kind, _ := r.st.UnsubscribeKind(t.Context(), strings.TrimPrefix(unsubscribeLink(t, m), appURL+"/unsubscribe/")); kind != store.KindRequested {
		t.Errorf("the physician's link turns off %q, want %q", kind, store.KindRequested)
	}
	if m := mailtest.To(mails, nurse.Email)[0]; m.Subject != notify.DigestSubject {
		t.Errorf("the nurse got %q, want the digest", m.Subject)
	} else if kind, _ := r.st.UnsubscribeKind(t.Context(), strings.TrimPrefix(unsubscribeLink(t, m), appURL+"/unsubscribe/")); kind != store.KindWaiting {
		t.Errorf("the nurse's link turns off %q, want %q", kind, store.KindWaiting)
	}
	want := map[int64]string{doctor.ID: "sent", nurse.ID: "sent"}
	if got := r.states(t, asked.MessageID); len(got) != len(want) || got[doctor.ID] != "sent" || got[nurse.ID] != "sent" {
		t.Errorf("notifications of the message asking for the physician %v, want %v (no row for %d, off)", got, want, desk.ID)
	}
	reply, err := r.st.SendReply(t.Context(), r.maria.Viewer(), store.Origin{RequestID: "test"},
		store.NewReply{ParentID: asked.MessageID, Body: "Blood test: results are normal", BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.states(t, reply.MessageID); got[doctor.ID] == "" || got[nurse.ID] == "" || len(got) != 2 {
		t.Errorf("the follow-up's notifications %v, want the physician's and the nurse's", got)
	}
	r.waitState(t, reply.MessageID, nurse.ID, "pending digest")
	r.sweep(t)
	mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the nurse's second digest", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, nurse.Email)) == 2
	})
	if n := len(mailtest.To(mailtest.All(t, r.mail.WebURL), doctor.Email)); n != 1 {
		t.Errorf("%d e-mails to the physician, want 1 within the hour", n)
	}
	if s := r.states(t, reply.MessageID)[doctor.ID]; s != "pending" {
		t.Errorf("the physician's e-mail of the follow-up: %s, want pending until the hour is up", s)
	}
}

// Two workers share the queue: every e-mail, at once or digest, goes once.
func TestNothingSentTwiceAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	doctor, nurse := r.staff(t)
	r.prefer(t, r.maria, store.KindPracticeMessage, store.DeliveryDigest)
	const n = 4
	for range n {
		r.write(t, r.tom, "Rash")
		r.write(t, r.maria, "Blood test")
		r.patientWrites(t, r.tom, doctor.ID, "Rash")
	}
	r.work(t)
	r.work(t)
	r.decided(t)
	r.sweep(t)
	r.sweep(t)
	mailtest.WaitFor(t, r.mail.WebURL, 30*time.Second, "every e-mail", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.tom.Email)) >= n && len(mailtest.To(m, doctor.Email)) >= n &&
			len(mailtest.To(m, r.maria.Email)) >= 1 && len(mailtest.To(m, nurse.Email)) >= 1
	})
	r.decided(t)
	time.Sleep(time.Second)
	mails := mailtest.All(t, r.mail.WebURL)
	for who, want := range map[string]int{r.tom.Email: n, doctor.Email: n, r.maria.Email: 1, nurse.Email: 1} {
		if got := len(mailtest.To(mails, who)); got != want {
			t.Errorf("%d e-mails to %s, want %d", got, who, want)
		}
	}
	if len(mails) != 2*n+2 {
		t.Errorf("%d e-mails, want %d:%s", len(mails), 2*n+2, mailtest.Summary(mails))
	}
}

// The digest goes by itself: River's periodic job sweeps every DigestEvery, and a person with a
// message waiting gets one digest.
func TestDigestIsPeriodic(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	r.prefer(t, r.maria, store.KindPracticeMessage, store.DeliveryDigest)
	sent := r.write(t, r.maria, "Blood test")
	r.work(t, digestEvery)
	mailtest.WaitFor(t, r.mail.WebURL, 30*time.Second, "Maria's digest", func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, r.maria.Email)) == 1
	})
	r.waitState(t, sent.MessageID, r.maria.ID, "sent")
	time.Sleep(3 * digestEvery)
	if n := len(mailtest.All(t, r.mail.WebURL)); n != 1 {
		t.Errorf("%d e-mails after more sweeps, want the one digest", n)
	}
}

// A staff member's address refused for good fails their notification, and is not shown as the
// patient's problem on the patient's message.
func TestStaffAddressRefusedIsNotThePatients(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{AllowedRecipients: `^maria\.`}, 0)
	doctor := r.user(t, "physician@riverside.example")
	sent := r.patientWrites(t, r.maria, doctor.ID, "Blood test")
	r.work(t)
	r.waitState(t, sent.MessageID, doctor.ID, "failed address rejected")
	if p, err := r.st.NotificationProblem(t.Context(), doctor.Viewer(), sent.MessageID); err != nil || p != "" {
		t.Errorf("the patient's message shows %q (%v), want nothing", p, err)
	}
}
