package localmail_test

import (
	"testing"

	"securemessages/app/mail"
	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
)

// A private Mailpit catches what Send sends over SMTP; killed and restarted it keeps what it
// caught, and a second Start on its directory reuses it rather than starting another.
func TestStartKillRestartReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := localmail.Start(t.Context(), dir, localmail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	cfg, err := mail.ParseConfig(srv.SMTPURL, "messages@example.test")
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{To: "someone@example.test", Subject: "You have a new secure message",
		Text: "You have a new secure message. Sign in to read it:\nhttp://app.test/inbox\n", ID: "notification-1",
		Headers: map[string]string{"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
	if err := mail.NewSender(cfg).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	// smtp:// without tls=none requires STARTTLS, which this catcher does not offer: nothing goes
	// in clear.
	plain := cfg
	plain.TLS = mail.StartTLS
	if err := mail.NewSender(plain).Send(t.Context(), m); err == nil {
		t.Error("sent in clear to a server without STARTTLS")
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := mail.NewSender(cfg).Send(t.Context(), m); err == nil {
		t.Error("sent to a server that is down")
	} else if _, permanent := mail.Permanent(err); permanent {
		t.Errorf("a server that is down counts as a refusal for good: %v", err)
	}
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	again, err := localmail.Start(t.Context(), dir, localmail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.SMTPPort != srv.SMTPPort || again.WebPort != srv.WebPort {
		t.Errorf("a second Start on the directory: ports %d/%d, want the running server's %d/%d",
			again.SMTPPort, again.WebPort, srv.SMTPPort, srv.WebPort)
	}
	again.Stop() // not its own: leaves the server running
	mails := mailtest.All(t, srv.WebURL)
	if len(mails) != 1 || mails[0].MessageID != "notification-1@example.test" || mails[0].Headers["List-Unsubscribe-Post"] == nil {
		t.Fatalf("caught %+v, want the one e-mail, with its Message-ID and extra header", mails)
	}
	if n := mailtest.Check(t, srv.WebURL, "http://app.test"); n != 1 {
		t.Errorf("checked %d e-mails", n)
	}
}
