package app

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// summaryOf checks a refused form's error summary, GOV.UK's pattern: an alert titled "There is a
// problem" at the top of the form, listing each problem once. A problem about one field is a
// plain link to that field (its id on the page, once), and the field says it again under itself
// and is described by it; a problem about the whole form has no field and is said only in the
// summary. It returns the names of the linked fields, in the summary's order.
func summaryOf(t *testing.T, page, form *htmltest.Node, formProblem string) []string {
	t.Helper()
	summary := form.First(func(n *htmltest.Node) bool { return n.Attr["role"] == "alert" && n.HasClass("errors") })
	if summary == nil {
		t.Fatalf("no error summary in the refused form:\n%s", form.TextContent())
	}
	if title := summary.First(htmltest.Tag("h3")); title == nil || title.TextContent() != "There is a problem" {
		t.Errorf("the summary's title is not %q", "There is a problem")
	}
	if summary.First(htmltest.Tag("p")) != nil {
		t.Errorf("the summary repeats problems as paragraphs: %q", summary.TextContent())
	}
	var fields []string
	for _, li := range summary.All(htmltest.Tag("li")) {
		a := li.First(htmltest.Tag("a"))
		if a == nil {
			if formProblem == "" || li.TextContent() != formProblem {
				t.Errorf("a problem without a link to its field: %q", li.TextContent())
				continue
			}
			if n := strings.Count(page.TextContent(), formProblem); n != 1 {
				t.Errorf("the form's problem %q is said %d times, want once", formProblem, n)
			}
			continue
		}
		id, ok := strings.CutPrefix(a.Attr["href"], "#")
		if !ok || id == "" || len(a.Attrs) != 1 {
			t.Errorf("summary link %v is not a plain link to a field on the page", a.Attrs)
			continue
		}
		if n := len(page.All(func(n *htmltest.Node) bool { return n.Attr["id"] == id })); n != 1 {
			t.Errorf("the summary links to #%s, which the page has %d times", id, n)
			continue
		}
		field := form.ByID(id)
		if field == nil || !slices.Contains([]string{"input", "select", "textarea"}, field.Tag) {
			t.Errorf("the summary links to #%s, which is not a field of the form", id)
			continue
		}
		fields = append(fields, field.Attr["name"])
		under := form.ByID(id + "-error")
		if under == nil || under.TextContent() != a.TextContent() {
			t.Errorf("#%s: the summary says %q, the field does not say it under itself", id, a.TextContent())
		}
		if field.Attr["aria-invalid"] != "true" || !slices.Contains(strings.Fields(field.Attr["aria-describedby"]), id+"-error") {
			t.Errorf("#%s is not marked invalid and described by its problem: %v", id, field.Attrs)
		}
	}
	if formProblem != "" && !strings.Contains(summary.TextContent(), formProblem) {
		t.Errorf("the summary does not say %q: %q", formProblem, summary.TextContent())
	}
	// Every problem under a field is in the summary too.
	if n := len(form.All(func(n *htmltest.Node) bool { return n.HasClass("field-error") })); n != len(fields) {
		t.Errorf("%d fields show a problem, the summary links to %d", n, len(fields))
	}
	return fields
}

// Every refused compose form, patient's and staff's, sums its problems up as links to fields
// that are on the page, in the form's order.
func TestComposeProblemsLinkToFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		who         string
		change      func(t *testing.T, e *env, f url.Values)
		status      int
		fields      []string
		formProblem string
	}{
		{"everything wrong, a patient", maria, func(t *testing.T, e *env, f url.Values) {
			f.Set("subject", "")
			f.Set("body", " ")
			f.Set("staff", "abc")
			f.Set("method", "fax")
			f.Del("consent")
		}, http.StatusUnprocessableEntity, []string{"subject", "body", "staff", "method", "consent"}, ""},
		{"no patient chosen, staff", physician, func(t *testing.T, e *env, f url.Values) {
			f.Set("subject", "Your results")
			f.Set("body", "")
		}, http.StatusUnprocessableEntity, []string{"patient", "body"}, ""},
		{"an expired form", maria, func(t *testing.T, e *env, f url.Values) {
			f.Set("subject", "")
			f.Set("submit_key", "not a key")
		}, http.StatusUnprocessableEntity, []string{"subject"}, "The form has expired; please send it again."},
		{"over the send limit", maria, func(t *testing.T, e *env, f url.Values) {
			e.st.LimitSends(store.SendLimits{Messages: 1, Window: 10 * time.Minute})
			e.start(t, maria, "The one allowed", "The limit counts this")
		}, http.StatusTooManyRequests, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			both(t, func(t *testing.T, htmx bool) {
				e := newEnv(t)
				c := e.signIn(t, tc.who).variant(htmx)
				form := blankCompose(t, c)
				if tc.who == maria {
					form = filledCompose(t, e, c, "My typed subject")
				}
				tc.change(t, e, form)
				r := c.sendForm(t, "/messages", form)
				wantStatus(t, r, tc.status)
				formProblem := tc.formProblem
				if tc.status == http.StatusTooManyRequests {
					formProblem = r.doc(t).First(func(n *htmltest.Node) bool { return n.HasClass("errors") }).First(htmltest.Tag("li")).TextContent()
					if !strings.HasPrefix(formProblem, "You have sent 1 messages") {
						t.Fatalf("the send limit's problem: %q", formProblem)
					}
				}
				if got := summaryOf(t, r.doc(t), composeSection(t, r, htmx), formProblem); !slices.Equal(got, tc.fields) {
					t.Errorf("the summary links to %q, want %q", got, tc.fields)
				}
			})
		})
	}
}

// Every refused Reply and Send Follow-Up form does the same, its ids made unique on the page by
// its message's id.
func TestReplyProblemsLinkToFields(t *testing.T) {
	t.Parallel()
	const archived = "This conversation can no longer be answered here: it was archived or the message was removed. Your text is kept below; Re-Open the conversation to send it."
	cases := []struct {
		name        string
		message     func(m demoInbox) *store.Message
		change      func(t *testing.T, e *env, m demoInbox, f url.Values)
		status      int
		fields      []string
		formProblem string
	}{
		{"a reply, empty and without consent", func(m demoInbox) *store.Message { return m.refillDr },
			func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("body", ""); f.Del("consent") },
			http.StatusUnprocessableEntity, []string{"body", "consent"}, ""},
		{"a follow-up, empty and without consent", func(m demoInbox) *store.Message { return m.refillMe },
			func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("body", " "); f.Del("consent") },
			http.StatusUnprocessableEntity, []string{"body", "consent"}, ""},
		{"a follow-up too long", func(m demoInbox) *store.Message { return m.lab },
			func(t *testing.T, e *env, m demoInbox, f url.Values) { f.Set("body", strings.Repeat("b", 4001)) },
			http.StatusUnprocessableEntity, []string{"body"}, ""},
		{"a reply, its thread archived meanwhile", func(m demoInbox) *store.Message { return m.refillDr },
			func(t *testing.T, e *env, m demoInbox, f url.Values) {
				if _, err := e.st.Archive(t.Context(), e.user(t, physician).Viewer(), store.Origin{}, m.refill.ConversationID); err != nil {
					t.Fatal(err)
				}
			}, http.StatusConflict, nil, archived},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			both(t, func(t *testing.T, htmx bool) {
				e := newEnv(t)
				m := e.mariasInbox(t)
				msg := tc.message(m)
				patient := e.signIn(t, maria).variant(htmx)
				form := replyFormFor(t, patient, msg.ID)
				form.Set("body", "Typed before the problem.")
				form.Set("consent", "yes")
				tc.change(t, e, m, form)
				r := patient.sendForm(t, "/messages/"+e.mid(msg.ID)+"/replies", form)
				wantStatus(t, r, tc.status)
				if got := summaryOf(t, r.doc(t), e.slotOf(t, r, htmx, msg.ID), tc.formProblem); !slices.Equal(got, tc.fields) {
					t.Errorf("the summary links to %q, want %q", got, tc.fields)
				}
			})
		})
	}
}

// TestProblemsSummaryOrder: the summary follows the form, the form's own problem first, and only
// a field's problem links to it.
func TestProblemsSummaryOrder(t *testing.T) {
	t.Parallel()
	p := Problems{"consent": "c", "form": "f", "body": "b", "subject": "s", "zeta": "z"}
	want := []ProblemLink{{"f", ""}, {"s", "subject-7"}, {"b", "body-7"}, {"c", "consent-7"}, {"z", "zeta-7"}}
	if got := p.Summary("-7"); !slices.Equal(got, want) {
		t.Errorf("Summary = %v, want %v", got, want)
	}
	if got := Problems(nil).Summary(""); len(got) != 0 {
		t.Errorf("no problems: Summary = %v", got)
	}
}

// The sign-in, code and two-step settings pages sum up their problem the same way: a wrong code
// or password links to its field; a failed sign-in is about the pair, and says so once.
func TestSigninProblemsLinkToFields(t *testing.T) {
	t.Parallel()
	section := func(t *testing.T, r *response, title string) (*htmltest.Node, *htmltest.Node) {
		t.Helper()
		doc := wantPage(t, r)
		s := doc.First(func(n *htmltest.Node) bool { return n.Tag == "section" && n.Attr["aria-labelledby"] == title })
		if s == nil {
			t.Fatalf("no section %s:\n%s", title, r.Body)
		}
		return doc, s
	}
	e := newEnv(t)

	t.Run("sign-in", func(t *testing.T) {
		t.Parallel()
		r := e.anon().submit(t, "/signin", "/signin", url.Values{"email": {maria}, "password": {"not-the-password"}})
		wantStatus(t, r, http.StatusUnauthorized)
		doc, s := section(t, r, "signin-title")
		if got := summaryOf(t, doc, s, signinProblem); len(got) != 0 {
			t.Errorf("a failed sign-in links to %q, want no field", got)
		}
	})
	t.Run("code step", func(t *testing.T) {
		t.Parallel()
		e.totpOn(t, physician)
		r := e.passwordStep(t, physician).submit(t, "/signin/code", "/signin/code", url.Values{"code": {"000000"}})
		wantStatus(t, r, http.StatusUnauthorized)
		doc, s := section(t, r, "code-title")
		if got := summaryOf(t, doc, s, ""); !slices.Equal(got, []string{"code"}) {
			t.Errorf("a wrong code links to %q, want the code", got)
		}
	})
	for _, tc := range []struct {
		name, step, password, code string
		want                       []string
	}{
		{"turning on, wrong password", "turn on", "not-the-password", "000000", []string{"password"}},
		{"turning on, wrong code", "turn on", store.DemoPassword, "000000", []string{"code"}},
		{"turning off, wrong code", "turn off", store.DemoPassword, "000000", []string{"code"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			step := totpSteps[tc.step]
			c := e.signIn(t, tom)
			step.ready(t, e, c, tom)
			r := c.post(t, step.action, url.Values{"password": {tc.password}, "code": {tc.code}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			doc, s := section(t, r, "security-title")
			if got := summaryOf(t, doc, s, ""); !slices.Equal(got, tc.want) {
				t.Errorf("the summary links to %q, want %q", got, tc.want)
			}
		})
	}
}
