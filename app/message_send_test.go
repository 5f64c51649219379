package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// blankCompose is the compose form as the page gives it (CSRF token, submit key), unfilled.
func blankCompose(t *testing.T, c *client) url.Values {
	t.Helper()
	r := c.variant(false).get(t, "/messages/new")
	wantStatus(t, r, http.StatusOK)
	form := r.doc(t).ByID("compose").First(htmltest.Tag("form"))
	return form.FormValues()
}

// filledCompose is a compose form Maria can send: to the physician, by phone, with consent.
func filledCompose(t *testing.T, e *env, c *client, subject string) url.Values {
	t.Helper()
	f := blankCompose(t, c)
	f.Set("subject", subject)
	f.Set("body", "Since Tuesday my ankle is swollen after walking.\nIt does not hurt at rest.")
	f.Set("staff", e.uid(e.user(t, physician).ID))
	f.Set("method", "phone")
	f.Set("consent", "yes")
	return f
}

// sendForm posts a form as the page would; for htmx the token travels in the header, as
// hx-headers sends it, and the form field is dropped.
func (c *client) sendForm(t *testing.T, path string, form url.Values) *response {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if c.htmx {
		token := f.Get(csrfField)
		f.Del(csrfField)
		return c.send(t, "POST", path, f, csrfHeader, token)
	}
	return c.send(t, "POST", path, f)
}

// after follows a redirect for the page variant and returns the inbox that results; the htmx
// variant already has it.
func after(t *testing.T, c *client, r *response, location string) *htmltest.Node {
	t.Helper()
	if c.htmx {
		wantStatus(t, r, http.StatusOK)
		inbox := inboxOf(t, r, true)
		// The address bar shows the inbox, without the one-off notice.
		u, err := url.Parse(location)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Del("notice")
		u.RawQuery = q.Encode()
		if got := r.Header.Get("HX-Push-Url"); got != u.String() {
			t.Errorf("HX-Push-Url %q, want %q", got, u.String())
		}
		return inbox
	}
	wantRedirect(t, r, location)
	page := c.get(t, location)
	wantStatus(t, page, http.StatusOK)
	return inboxOf(t, page, false)
}

func TestMessageSend(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		patient := e.signIn(t, maria).variant(htmx)
		before := e.counts(t)
		const subject = "Swollen ankle after walking"
		r := patient.sendForm(t, "/messages", filledCompose(t, e, patient, subject))
		inbox := after(t, patient, r, "/inbox?notice=sent")

		if got := notice(t, inbox); got != "Your message was sent." {
			t.Errorf("notice %q", got)
		}
		first := inbox.First(func(n *htmltest.Node) bool { return strings.HasPrefix(n.Attr["id"], "conversation-") })
		if first == nil || first.First(func(n *htmltest.Node) bool { return n.HasClass("subject") }).TextContent() != subject {
			t.Fatalf("the new message is not at the top of the inbox")
		}
		if inbox.ByID("compose").Tag == "section" {
			t.Error("the compose form stays open after sending")
		}
		got := e.counts(t)
		if got.Messages != before.Messages+1 || got.Conversations != before.Conversations+1 || got.Events != before.Events+1 {
			t.Errorf("counts %+v -> %+v: want one more message, conversation and event", before, got)
		}

		// What was chosen is kept with it.
		sent := e.msg(t, maria, subject, maria)
		details := patient.variant(false).get(t, "/messages/"+e.mid(sent.ID))
		text := details.doc(t).ByID("slot-" + e.mid(sent.ID)).TextContent()
		for _, want := range []string{"Since Tuesday my ankle is swollen", "Requested staff member Dr. Amelia Chen",
			"Response method Phone call", "Billing consent Agreed to be billed $25.00"} {
			if !strings.Contains(text, want) {
				t.Errorf("details lack %q: %s", want, text)
			}
		}
	})
}

func TestMessageSendTwiceMakesOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	before := e.counts(t)
	form := filledCompose(t, e, patient, "Sent twice by a double click")
	wantRedirect(t, patient.sendForm(t, "/messages", form), "/inbox?notice=sent")
	wantRedirect(t, patient.sendForm(t, "/messages", form), "/inbox?notice=sent")
	if got := e.counts(t); got.Messages != before.Messages+1 {
		t.Errorf("messages %d -> %d, want one more", before.Messages, got.Messages)
	}
}

func TestMessageSendNoResponseNeededArchives(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		patient := e.signIn(t, maria).variant(htmx)
		form := filledCompose(t, e, patient, "Just letting you know")
		form.Set("no_response", "yes")
		inbox := after(t, patient, patient.sendForm(t, "/messages", form), "/inbox?notice=sent")
		if strings.Contains(inbox.TextContent(), "Just letting you know") {
			t.Error("a no-response-needed message is listed among the open conversations")
		}
		all := inboxOf(t, patient.variant(false).get(t, "/inbox?all=1"), false)
		sent := e.msg(t, maria, "Just letting you know", maria)
		if li := all.ByID("conversation-" + e.cid(sent.ConversationID)); li == nil || !li.HasClass("archived") {
			t.Error("a no-response-needed conversation is not archived")
		}
	})
}

func TestMessageSendWithoutFeeNeedsNoConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, grace)
	form := blankCompose(t, patient)
	form.Set("subject", "Fever since last night")
	form.Set("body", "38.5 this morning.")
	wantRedirect(t, patient.sendForm(t, "/messages", form), "/inbox?notice=sent")
	e.msg(t, grace, "Fever since last night", grace)
}

func TestMessageSendRefusesBadInput(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name    string
		change  func(t *testing.T, e *env, f url.Values)
		field   string // the field whose error is shown
		problem string
	}{
		{"empty subject", func(t *testing.T, e *env, f url.Values) { f.Set("subject", "   ") }, "subject", "Subject is required."},
		{"subject over 150", func(t *testing.T, e *env, f url.Values) { f.Set("subject", long(151)) }, "subject",
			"Subject must be at most 150 characters (it is 151)."},
		{"empty body", func(t *testing.T, e *env, f url.Values) { f.Set("body", "") }, "body", "Complaints / Questions / Symptoms is required."},
		{"body over 4000", func(t *testing.T, e *env, f url.Values) { f.Set("body", long(4001)) }, "body",
			"Complaints / Questions / Symptoms must be at most 4000 characters (it is 4001)."},
		{"unknown staff", func(t *testing.T, e *env, f url.Values) { f.Set("staff", "999999") }, "staff", "Choose a staff member from the list."},
		{"another practice's staff", func(t *testing.T, e *env, f url.Values) {
			f.Set("staff", e.uid(e.user(t, "physician@hillcrest.example").ID))
		},
			"staff", "Choose a staff member from the list."},
		{"a patient as staff", func(t *testing.T, e *env, f url.Values) { f.Set("staff", e.uid(e.user(t, tom).ID)) }, "staff",
			"Choose a staff member from the list."},
		{"malformed staff", func(t *testing.T, e *env, f url.Values) { f.Set("staff", "abc") }, "staff", "Choose a staff member from the list."},
		{"negative staff", func(t *testing.T, e *env, f url.Values) { f.Set("staff", "-2") }, "staff", "Choose a staff member from the list."},
		{"unknown method", func(t *testing.T, e *env, f url.Values) { f.Set("method", "fax") }, "method", "Choose a response method from the list."},
		{"no consent", func(t *testing.T, e *env, f url.Values) { f.Del("consent") }, "consent",
			"Riverside Family Medicine charges $25.00 for message time: tick the box to agree before sending."},
	}
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		patient := e.signIn(t, maria).variant(htmx)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				form := filledCompose(t, e, patient, "My typed subject")
				tc.change(t, e, form)
				before := e.counts(t)
				r := patient.sendForm(t, "/messages", form)
				wantStatus(t, r, http.StatusUnprocessableEntity)
				compose := composeSection(t, r, htmx)
				if got := e.counts(t); got != before {
					t.Errorf("a refused message changed the database: %+v -> %+v", before, got)
				}
				errorText := compose.ByID(tc.field + "-error")
				if errorText == nil || errorText.TextContent() != tc.problem {
					t.Errorf("%s error: want %q next to the field:\n%s", tc.field, tc.problem, compose.TextContent())
				}
				if alert := compose.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" }); alert == nil ||
					!strings.Contains(alert.TextContent(), tc.problem) {
					t.Errorf("the problem is not in the form's alert")
				}
				// What was typed is all still there.
				kept := compose.First(htmltest.Tag("form")).FormValues()
				for _, field := range []string{"subject", "body", "staff", "method", "consent", "submit_key"} {
					if (field == "staff" || field == "method") && field == tc.field {
						continue // a drop-down cannot show a choice that is not in it
					}
					if kept.Get(field) != form.Get(field) {
						t.Errorf("%s not kept: sent %.40q, form now has %.40q", field, form.Get(field), kept.Get(field))
					}
				}
			})
		}
	})
}

// A patient over the send limit gets 429 and the form back as typed, saying when the message can
// be sent and whom to call meanwhile; nothing is stored. Another patient, and staff, send on.
func TestMessageSendIsLimited(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		cfg := testConfig(t)
		cfg.SendLimits = store.SendLimits{Messages: 2, Window: 10 * time.Minute}
		e := newEnvWith(t, cfg)
		patient := e.signIn(t, maria).variant(htmx)
		for i := range cfg.SendLimits.Messages {
			r := patient.sendForm(t, "/messages", filledCompose(t, e, patient, fmt.Sprintf("Allowed %d", i)))
			after(t, patient, r, "/inbox?notice=sent")
		}
		form := filledCompose(t, e, patient, "My typed subject, over the limit")
		form.Set("no_response", "yes")
		before := e.counts(t)
		r := patient.sendForm(t, "/messages", form)
		wantStatus(t, r, http.StatusTooManyRequests)
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 600 {
			t.Errorf("Retry-After %q, want the seconds until the next send is allowed", r.Header.Get("Retry-After"))
		}
		compose := composeSection(t, r, htmx)
		if got := e.counts(t); got != before {
			t.Errorf("a limited message changed the database: %+v -> %+v", before, got)
		}
		alert := compose.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" })
		if alert == nil || !strings.Contains(alert.TextContent(), "You have sent 2 messages in the last 10 minutes") ||
			!strings.Contains(alert.TextContent(), "you can send it in ") ||
			!strings.Contains(alert.TextContent(), "For anything urgent, call Riverside Family Medicine.") {
			t.Errorf("the form does not say when to send again and whom to call:\n%s", compose.TextContent())
		}
		kept := compose.First(htmltest.Tag("form")).FormValues()
		for _, field := range []string{"subject", "body", "staff", "method", "no_response", "consent", "submit_key"} {
			if kept.Get(field) != form.Get(field) {
				t.Errorf("%s not kept: sent %.40q, form now has %.40q", field, form.Get(field), kept.Get(field))
			}
		}

		// Tom, at the same practice, is not held up by Maria.
		other := e.signIn(t, tom).variant(htmx)
		after(t, other, other.sendForm(t, "/messages", filledCompose(t, e, other, "Tom's own")), "/inbox?notice=sent")
		// Staff are never limited.
		staff := e.signIn(t, physician).variant(htmx)
		for i := range cfg.SendLimits.Messages + 2 {
			f := blankCompose(t, staff)
			f.Set("patient", e.uid(e.user(t, maria).ID))
			f.Set("subject", fmt.Sprintf("From the physician %d", i))
			f.Set("body", "Please book a visit.")
			after(t, staff, staff.sendForm(t, "/messages", f), "/inbox?notice=sent")
		}
	})
}
