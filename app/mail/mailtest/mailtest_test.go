package mailtest

import (
	"strings"
	"testing"
)

// The rule fails on each way an e-mail could leak: a test of it that could not fail would let
// every other suite's e-mails through.
func TestProblems(t *testing.T) {
	const app = "https://messages.example.test"
	subject, lead := fixed[0].subject, fixed[0].lead
	good := Mail{To: []string{"maria.lopez@riverside.example"}, Subject: subject,
		Text:    lead + "\n" + app + "/inbox\n",
		Headers: map[string][]string{"To": {"<maria.lopez@riverside.example>"}, "Subject": {subject}}}
	cases := []struct {
		name   string
		change func(*Mail)
		want   string // in the problems; "" for none
	}{
		{"the fixed e-mail", func(*Mail) {}, ""},
		{"with an unsubscribe line", func(m *Mail) { m.Text += "Unsubscribe: " + app + "/unsubscribe/abc\n" }, ""},
		{"a message subject", func(m *Mail) { m.Subject = "Blood test results" }, "subject"},
		{"message text", func(m *Mail) { m.Text += "Your results are normal\n" }, "not the fixed text"},
		{"a link elsewhere", func(m *Mail) { m.Text = lead + "\nhttps://evil.example/inbox\n" }, "not a fixed lead"},
		{"an invitation", func(m *Mail) {
			m.Subject, m.Text = fixed[1].subject, fixed[1].lead+"\n"+app+"/invitations/tok\n"
		}, ""},
		{"the sign-in advice", func(m *Mail) { m.Subject, m.Text = fixed[2].subject, fixed[2].lead+"\n"+app+"/signin\n" }, ""},
		{"an invitation's lead with another link", func(m *Mail) {
			m.Subject, m.Text = fixed[1].subject, fixed[1].lead+"\n"+app+"/inbox\n"
		}, "not a fixed lead"},
		{"a lead under another's subject", func(m *Mail) { m.Text = fixed[1].lead + "\n" + app + "/invitations/tok\n" }, "not a fixed lead"},
		{"a practice name", func(m *Mail) { m.Headers["From"] = []string{"Riverside <a@b>"} }, `contains "Riverside"`},
		{"a display name", func(m *Mail) { m.ToNames = []string{"Maria Lopez"} }, "display name"},
		{"an HTML part", func(m *Mail) { m.HTML = "<p>hi</p>" }, "HTML"},
		{"a header of its own", func(m *Mail) { m.Headers["X-Patient"] = []string{"7"} }, "not allowed"},
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
