// Package mailtest reads, through Mailpit's HTTP API (app/mail/localmail), every e-mail a test
// made, and holds the rule that an e-mail to a patient carries no health information: Check
// fails on anything but the fixed subject, the fixed line and the link (of a notification, or of
// a forgotten password's reset).
package mailtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"securemessages/app/mail/localmail"
)

// fixedMail is one e-mail the product sends, all it may say: its subject, its one line, where its
// link goes under the app's address, and whether a "Stop these e-mails: " line may follow
// (notifications, which one can stop). These are copies, not app/notify's constants, so that a
// change there fails here. Account e-mails (invitations, password resets) carry no health
// information either: no names, not the practice's.
type fixedMail struct {
	subject, lead string
	link          string // the path the link must start with
	stop          bool
}

// fixed are the e-mails the product sends.
var fixed = []fixedMail{
	{subject: "You have a new secure message", lead: "You have a new secure message. Sign in to read it:", link: "/", stop: true},
	// The hourly digest's.
	{subject: "You have new secure messages", lead: "You have new secure messages. Sign in to read them:", link: "/", stop: true},
	// A forgotten password's link, which is all its e-mail holds.
	{subject: "Reset your Secure Messages password",
		lead: "Someone asked to reset the password of your Secure Messages account. If it was you, follow this link within an hour:",
		link: "/password/reset/"},
	// An invitation, and the one to an address that has an account already.
	{subject: "Your secure message account",
		lead: "You are invited to send and receive secure messages. Choose your password here (the link works once, for 72 hours):",
		link: "/invitations/"},
	{subject: "Your secure message account",
		lead: "You were invited to secure messages, and this address has an account already. Sign in here:", link: "/signin"},
}

// stopLead begins the one line after the link that a notification may have: its unsubscribe
// address.
const stopLead = "Stop these e-mails: "

// Mail is one e-mail the catcher holds.
type Mail struct {
	ID        string
	MessageID string
	From      string
	FromName  string
	To        []string
	ToNames   []string
	Subject   string
	Text      string
	HTML      string
	Headers   map[string][]string
}

// All is every e-mail the Mailpit at webURL holds, oldest first.
func All(t testing.TB, webURL string) []Mail {
	t.Helper()
	var list struct {
		Total    int
		Messages []struct{ ID string }
	}
	getJSON(t, webURL+"/api/v1/messages?limit=1000", &list)
	if list.Total > len(list.Messages) {
		t.Fatalf("mailtest: %d e-mails, more than one page", list.Total)
	}
	out := make([]Mail, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m struct {
			ID, MessageID, Subject, Text, HTML string
			From                               struct{ Name, Address string }
			To                                 []struct{ Name, Address string }
		}
		id := list.Messages[i].ID
		getJSON(t, webURL+"/api/v1/message/"+url.PathEscape(id), &m)
		mail := Mail{ID: m.ID, MessageID: m.MessageID, From: m.From.Address, FromName: m.From.Name,
			Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		for _, to := range m.To {
			mail.To = append(mail.To, to.Address)
			mail.ToNames = append(mail.ToNames, to.Name)
		}
		getJSON(t, webURL+"/api/v1/message/"+url.PathEscape(id)+"/headers", &mail.Headers)
		out = append(out, mail)
	}
	return out
}

// To is the e-mails addressed to address.
func To(mails []Mail, address string) []Mail {
	var out []Mail
	for _, m := range mails {
		for _, to := range m.To {
			if strings.EqualFold(to, address) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// WaitFor polls the catcher until ok holds for its e-mails, failing after d.
func WaitFor(t testing.TB, webURL string, d time.Duration, what string, ok func([]Mail) bool) []Mail {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		mails := All(t, webURL)
		if ok(mails) {
			return mails
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: after %v: %s (%d e-mails: %s)", d, what, len(mails), Summary(mails))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Summary lists the e-mails' recipients and Message-IDs, for a failure message.
func Summary(mails []Mail) string {
	var b strings.Builder
	for _, m := range mails {
		fmt.Fprintf(&b, "\n  to %s, id %s", strings.Join(m.To, ","), m.MessageID)
	}
	return b.String()
}

// Check fails the test for every e-mail in the catcher at webURL that says anything but the
// fixed notification or account e-mail: a fixed subject, then its lead line and a link into
// appURL (for a notification, one "Stop these e-mails: " line into appURL's /unsubscribe/ may
// follow), as plain text; no display names on From or To; no header that
// is not mail plumbing. forbidden are words no e-mail may contain anywhere (names, subjects and
// text of the messages the test sent, practice names), checked in every header (but for the
// recipient's own address) and the body as a backstop. It returns how many e-mails it checked.
func Check(t testing.TB, webURL, appURL string, forbidden ...string) int {
	t.Helper()
	mails := All(t, webURL)
	for _, m := range mails {
		for _, p := range Problems(m, appURL, forbidden...) {
			t.Errorf("mailtest: e-mail %s to %v: %s", m.MessageID, m.To, p)
		}
	}
	return len(mails)
}

// allowedHeaders are the headers a notification may carry; anything else could carry words.
var allowedHeaders = map[string]bool{
	"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true, "User-Agent": true, "X-Mailer": true,
	"List-Unsubscribe": true, "List-Unsubscribe-Post": true, "Received": true, "Return-Path": true,
}

// Problems is what is wrong with m under Check's rule.
func Problems(m Mail, appURL string, forbidden ...string) []string {
	var out []string
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n"), "\n")
	var f *fixedMail
	known := false
	for i, c := range fixed {
		if m.Subject != c.subject {
			continue
		}
		known = true
		if len(lines) >= 2 && lines[0] == c.lead && isLink(lines[1], appURL) && strings.HasPrefix(lines[1], appURL+c.link) {
			f = &fixed[i]
		}
	}
	switch {
	case !known:
		out = append(out, fmt.Sprintf("subject %q is not one of the fixed subjects", m.Subject))
		f = &fixedMail{}
	case f == nil:
		out = append(out, fmt.Sprintf("body %q, want the fixed lead line then a link into %s", m.Text, appURL))
		f = &fixedMail{}
	}
	if m.HTML != "" {
		out = append(out, "has an HTML part")
	}
	if m.FromName != "" {
		out = append(out, fmt.Sprintf("From has a display name %q", m.FromName))
	}
	for _, n := range m.ToNames {
		if n != "" {
			out = append(out, fmt.Sprintf("To has a display name %q", n))
		}
	}
	for i, l := range lines[min(2, len(lines)):] {
		if rest, ok := strings.CutPrefix(l, stopLead); !f.stop || i > 0 || !ok || !isLink(rest, appURL) ||
			!strings.HasPrefix(rest, appURL+"/unsubscribe/") {
			out = append(out, fmt.Sprintf("body line %q is not the fixed text", l))
		}
	}
	for name, values := range m.Headers {
		if !allowedHeaders[http.CanonicalHeaderKey(name)] {
			out = append(out, fmt.Sprintf("header %s is not allowed", name))
		}
		for _, v := range values {
			// The recipient's own address may hold their name (demo addresses do); it has to be there.
			for _, to := range m.To {
				v = strings.ReplaceAll(strings.ToLower(v), strings.ToLower(to), "")
			}
			out = append(out, forbiddenIn("header "+name, v, forbidden)...)
		}
	}
	out = append(out, forbiddenIn("body", m.Text, forbidden)...)
	return out
}

func forbiddenIn(where, s string, forbidden []string) []string {
	var out []string
	for _, f := range forbidden {
		if f != "" && strings.Contains(strings.ToLower(s), strings.ToLower(f)) {
			out = append(out, fmt.Sprintf("%s contains %q", where, f))
		}
	}
	return out
}

// isLink reports whether s is one URL under appURL and nothing more.
func isLink(s, appURL string) bool {
	_, err := url.ParseRequestURI(s)
	return err == nil && strings.HasPrefix(s, appURL+"/") && !strings.ContainsAny(s, " \t")
}

// Start starts a private Mailpit for the test (localmail, in its own directory), and when the
// test ends checks every e-mail it caught (Check, with appURL and forbidden) before stopping it.
func Start(t testing.TB, opts localmail.Options, appURL string, forbidden ...string) *localmail.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := localmail.Start(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	t.Cleanup(func() {
		if srv.Restart(context.Background()) == nil { // a fault test may have left it down
			Check(t, srv.WebURL, appURL, forbidden...)
		}
	})
	return srv
}

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("mailtest: GET %s: %v", u, err)
	}
}
