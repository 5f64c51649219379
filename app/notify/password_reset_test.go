package notify_test

import (
	"strings"
	"testing"
	"time"

	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
	"securemessages/app/notify"
	"securemessages/store"
)

// TestPasswordResetEmail: a reset request e-mails its link once, the fixed words only (checked
// when the test ends), and the link's token opens the form; a request for an address without an
// account e-mails nobody.
func TestPasswordResetEmail(t *testing.T) {
	t.Parallel()
	r := newRig(t, localmail.Options{}, 0)
	for _, email := range []string{r.maria.Email, "nobody@riverside.example"} {
		if err := r.st.RequestPasswordReset(t.Context(), email, store.Origin{RequestID: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	r.work(t)
	mails := mailtest.WaitFor(t, r.mail.WebURL, 20*time.Second, "the reset e-mail", func(m []mailtest.Mail) bool { return len(m) >= 1 })
	time.Sleep(time.Second) // nothing more may come
	if mails = mailtest.All(t, r.mail.WebURL); len(mails) != 1 || len(mailtest.To(mails, r.maria.Email)) != 1 {
		t.Fatalf("e-mails:%s", mailtest.Summary(mails))
	}
	m := mails[0]
	m.Text = strings.ReplaceAll(m.Text, "\r\n", "\n")
	if m.Subject != notify.ResetSubject || !strings.HasPrefix(m.Text, notify.ResetLead+"\n"+appURL+"/password/reset/") {
		t.Errorf("e-mail %q: %q", m.Subject, m.Text)
	}
	token := strings.TrimSpace(strings.TrimPrefix(m.Text, notify.ResetLead+"\n"+appURL+"/password/reset/"))
	if err := r.st.CheckPasswordReset(t.Context(), token); err != nil {
		t.Errorf("the e-mailed link: %v", err)
	}
}
