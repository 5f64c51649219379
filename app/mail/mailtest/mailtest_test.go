package mailtest

import (
	"strings"
	"testing"
)

// The rule fails on each way an e-mail could leak: a test of it that could not fail would let
// every other suite's e-mails through.
func TestProblems(t *testing.T) {
	const (
		app           = "https://messages.example.test"
		subject       = "You have a new secure message"
		lead          = "You have a new secure message. Sign in to read it:"
		digestSubject = "You have new secure messages"
		digestLead    = "You have new secure messages. Sign in to read them:"
		stop          = "Stop these e-mails: " + app + "/unsubscribe/abc\n"
		resetSubject  = "Reset your Secure Messages password"
		resetLead     = "Someone asked to reset the password of your Secure Messages account. If it was you, follow this link within an hour:"
	)
	good := Mail{To: []string{"maria.lopez@riverside.example"}, Subject: subject,
		Text:    lead + "\n" + app + "/inbox\n",
		Headers: map[string][]string{"To": {"<maria.lopez@riverside.example>"}, "Subject": {subject}}}
	cases := []struct {
		name   string
		change func(*Mail)
		want   string // in the problems; "" for none
	}{
		{"the fixed e-mail", func(*Mail) {}, ""},
		{"with its unsubscribe line", func(m *Mail) { m.Text += stop }, ""},
		{"the digest", func(m *Mail) { m.Subject, m.Text = digestSubject, digestLead+"\n"+app+"/inbox\n"+stop }, ""},
		{"the digest's subject, one message's line", func(m *Mail) { m.Subject = digestSubject }, "want"},
		{"a count in the subject", func(m *Mail) { m.Subject = "You have 3 new secure messages" }, "subject"},
		{"two unsubscribe lines", func(m *Mail) { m.Text += stop + stop }, "not the fixed text"},
		{"other words before the unsubscribe link", func(m *Mail) { m.Text += "Rash: " + app + "/unsubscribe/abc\n" }, "not the fixed text"},
		{"a stop line to another page", func(m *Mail) { m.Text += "Stop these e-mails: " + app + "/inbox\n" }, "not the fixed text"},
		{"a message subject", func(m *Mail) { m.Subject = "Blood test results" }, "subject"},
		{"message text", func(m *Mail) { m.Text += "Your results are normal\n" }, "not the fixed text"},
		{"a link elsewhere", func(m *Mail) { m.Text = lead + "\nhttps://evil.example/inbox\n" }, "want"},
		{"a practice name", func(m *Mail) { m.Headers["From"] = []string{"Riverside <a@b>"} }, `contains "Riverside"`},
		{"a display name", func(m *Mail) { m.ToNames = []string{"Maria Lopez"} }, "display name"},
		{"an HTML part", func(m *Mail) { m.HTML = "<p>hi</p>" }, "HTML"},
		{"a header of its own", func(m *Mail) { m.Headers["X-Patient"] = []string{"7"} }, "not allowed"},
		{"an invitation", func(m *Mail) {
			m.Subject, m.Text = fixed[3].subject, fixed[3].lead+"\n"+app+"/invitations/tok\n"
		}, ""},
		{"the sign-in advice", func(m *Mail) { m.Subject, m.Text = fixed[4].subject, fixed[4].lead+"\n"+app+"/signin\n" }, ""},
		{"an invitation's lead with another link", func(m *Mail) {
			m.Subject, m.Text = fixed[3].subject, fixed[3].lead+"\n"+app+"/inbox\n"
		}, "want"},
		{"an invitation with an unsubscribe line", func(m *Mail) {
			m.Subject, m.Text = fixed[3].subject, fixed[3].lead+"\n"+app+"/invitations/tok\n"+stop
		}, "not the fixed text"},
		{"a lead under another's subject", func(m *Mail) { m.Text = fixed[3].lead + "\n" + app + "/invitations/tok\n" }, "want"},
		{"a password reset", func(m *Mail) {
			m.Subject, m.Text = resetSubject, resetLead+"\n"+app+"/password/reset/abc\n"
		}, ""},
		{"a password reset linking elsewhere in the app", func(m *Mail) {
			m.Subject, m.Text = resetSubject, resetLead+"\n"+app+"/inbox\n"
		}, "want"},
		{"a password reset with more to say", func(m *Mail) {
			m.Subject, m.Text = resetSubject, resetLead+"\n"+app+"/password/reset/abc\nDear Maria\n"
		}, "not the fixed text"},
		{"a password reset with an unsubscribe line", func(m *Mail) {
			m.Subject, m.Text = resetSubject, resetLead+"\n"+app+"/password/reset/abc\n"+stop
		}, "not the fixed text"},
	}
	for _, tc := range cases {
		m := good
		m.Headers = map[string][]string{}
		for k, v := range good.Headers {
			m.Headers[k] = v
		}
		tc.change(&m)
		got := strings.Join(Problems(m, app, "Maria", "Riverside"), "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want one saying %q", tc.name, got, tc.want)
		}
	}
}
