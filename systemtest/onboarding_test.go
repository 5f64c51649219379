package systemtest

// Onboarding through the built binary, real PostgreSQL and Mailpit: the operator creates a
// practice from the command line; its administrator accepts the invitation read from Mailpit,
// invites a nurse (who accepts) and imports three patients from a CSV, each of whom gets an
// invitation. Without a mail server the command prints the one-time link instead. Every e-mail is
// checked for what it must not say when the test ends (mailtest.Start).

import (
	"bytes"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
)

func TestOnboarding(t *testing.T) {
	t.Parallel()
	bin := secBuild(t, t.TempDir())
	sys := newSecSystem(t)
	port := secFreePort(t)
	appURL := "http://127.0.0.1:" + strconv.Itoa(port)
	people := []string{"Lakeside", "Nina", "Park", "Ana", "Reyes", "Ben", "Ode", "Cy", "Twombly", "1985-02-03"}
	mail := mailtest.Start(t, localmail.Options{}, appURL, append(people, mailForbidden...)...)
	env := sys.env()
	for k, v := range map[string]string{"SMTP_URL": mail.SMTPURL, "MAIL_FROM": "messages@example.test", "APP_URL": appURL} {
		env[k] = v
	}
	web := secServe(t, bin, env, port)

	// The operator.
	out, err := secRun(t, bin, env, "practice", "create", "--name", "Lakeside Clinic", "--admin-email", "boss@lakeside.example")
	if err != nil || !strings.Contains(out, "e-mailed") {
		t.Fatalf("practice create: %v\n%s", err, out)
	}
	if out, err := secRun(t, bin, env, "practice", "create", "--name", "", "--admin-email", "nope"); err == nil ||
		!strings.Contains(out, "nothing was created") {
		t.Errorf("practice create with no name and a bad address: %v\n%s", err, out)
	}

	// The administrator, from the e-mail.
	admin := acceptFromMail(t, mail.WebURL, web.URL, appURL, "boss@lakeside.example")
	if r := admin.get(t, "/practice/settings"); r.Status != http.StatusOK {
		t.Fatalf("the new administrator's settings page: %s", r)
	}

	// A nurse.
	r := admin.post(t, "/practice/invitations", map[string][]string{"full_name": {"Nina Park"}, "email": {"nina.park@example.com"}, "role": {"nurse"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("invite the nurse: %s\n%s", r, excerpt(r.Body))
	}
	nurse := acceptFromMail(t, mail.WebURL, web.URL, appURL, "nina.park@example.com")
	if r := nurse.get(t, "/inbox"); r.Status != http.StatusOK {
		t.Errorf("the nurse's inbox: %s", r)
	}
	var role string
	if err := sys.db().Get(&role, `SELECT staff_role FROM users WHERE email = 'nina.park@example.com'`); err != nil || role != "nurse" {
		t.Errorf("the nurse's role: %q %v", role, err)
	}

	// Three patients from a CSV.
	csv := "name,email,date_of_birth\nAna Reyes,ana.reyes@example.com,1985-02-03\nBen Ode,ben.ode@example.com,1990-12-31\n" +
		"Cy Twombly,cy.twombly@example.com,1970-07-07\n"
	r = uploadCSV(t, admin, csv)
	preview := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(preview, "/practice/import/") {
		t.Fatalf("upload: %s\n%s", r, excerpt(r.Body))
	}
	if page := admin.get(t, preview); page.Status != http.StatusOK || !strings.Contains(page.Body, "Import and Invite 3") {
		t.Fatalf("preview: %s\n%s", page, excerpt(page.Body))
	}
	if r := admin.post(t, preview, nil); r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %s\n%s", r, excerpt(r.Body))
	}
	for _, p := range []string{"ana.reyes@example.com", "ben.ode@example.com", "cy.twombly@example.com"} {
		link := invitationLink(t, mail.WebURL, appURL, p)
		if page := secAnon(web.URL).get(t, link); page.Status != http.StatusOK || !strings.Contains(page.Body, p) {
			t.Errorf("%s's link: %s", p, page)
		}
	}
	// The same file again invites nobody twice.
	r = uploadCSV(t, admin, csv)
	if page := admin.get(t, r.Header.Get("Location")); strings.Contains(page.Body, "Import and Invite") {
		t.Errorf("the same file again offers to invite:\n%s", excerpt(page.Body))
	}
	time.Sleep(2 * time.Second) // a second e-mail would have gone by now
	if n := len(mailtest.All(t, mail.WebURL)); n != 5 {
		t.Errorf("%d e-mails, want 5 (administrator, nurse, three patients)", n)
	}

	// No mail server: the link is printed, and works.
	quiet := maps.Clone(env)
	delete(quiet, "SMTP_URL")
	out, err = secRun(t, bin, quiet, "practice", "create", "--name", "Quiet Clinic", "--admin-email", "quiet@example.org")
	_, link, found := strings.Cut(out, appURL)
	if err != nil || !found || !strings.HasPrefix(link, "/invitations/") {
		t.Fatalf("practice create without SMTP_URL: %v\n%s", err, out)
	}
	link = strings.TrimSpace(link)
	if page := secAnon(web.URL).get(t, link); page.Status != http.StatusOK || !strings.Contains(page.Body, "quiet@example.org") {
		t.Errorf("the printed link: %s", page)
	}
}

// invitationLink waits for the invitation e-mail to address and gives its link's path.
func invitationLink(t *testing.T, mailWeb, appURL, address string) string {
	t.Helper()
	mails := mailtest.WaitFor(t, mailWeb, 30*time.Second, "an invitation to "+address, func(m []mailtest.Mail) bool {
		return len(mailtest.To(m, address)) > 0
	})
	got := mailtest.To(mails, address)
	lines := strings.Split(strings.ReplaceAll(got[len(got)-1].Text, "\r\n", "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], appURL+"/invitations/") {
		t.Fatalf("the e-mail to %s: %q", address, got[len(got)-1].Text)
	}
	return strings.TrimPrefix(lines[1], appURL)
}

// acceptFromMail opens the invitation e-mailed to address, chooses a password, and is signed in.
func acceptFromMail(t *testing.T, mailWeb, base, appURL, address string) *secClient {
	t.Helper()
	link := invitationLink(t, mailWeb, appURL, address)
	anon := secAnon(base)
	if page := anon.get(t, link); page.Status != http.StatusOK {
		t.Fatalf("%s's link: %s", address, page)
	}
	r, err := anon.do("POST", link, map[string][]string{"password": {"a long enough password"}, "confirm": {"a long enough password"}})
	if err != nil || r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/inbox" || r.cookie("sid") == nil {
		t.Fatalf("%s accepts: %v %v\n%s", address, r, err, excerpt(r.Body))
	}
	if again, _ := anon.do("POST", link, map[string][]string{"password": {"a long enough password"}, "confirm": {"a long enough password"}}); again.Status != http.StatusNotFound {
		t.Errorf("%s's link used twice: %s", address, again)
	}
	c := secAnon(base)
	c.cookie, c.email = r.cookie("sid"), address
	return c
}

// uploadCSV posts a file to the import form, as a browser's multipart form does.
func uploadCSV(t *testing.T, c *secClient, csv string) *secResp {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("_csrf", c.token(t))
	fw, _ := w.CreateFormFile("file", "patients.csv")
	io.WriteString(fw, csv)
	w.Close()
	req, _ := http.NewRequest("POST", c.base+"/practice/import", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &secResp{Method: "POST", Path: "/practice/import", Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}
