package app

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"securemessages/views/htmltest"
)

// composeSection checks an answer that shows the compose form, and returns #compose.
func composeSection(t *testing.T, r *response, htmx bool) *htmltest.Node {
	t.Helper()
	if htmx {
		return wantFragment(t, r, "compose", "#compose")
	}
	section := wantPage(t, r).ByID("compose")
	if section == nil || section.Tag != "section" {
		t.Fatalf("no open compose form in the page:\n%s", r.Body)
	}
	return section
}

func TestComposeShow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []struct {
		email   string
		charges bool
		staff   []string // the practice's responding staff, as listed
		others  string   // a name from the other practice, never listed
	}{
		{maria, true, []string{"Dr. Amelia Chen (Physician)", "Jordan Patel, RN (Nurse)", "Sam Rivera (Front desk)"}, "Owen Brooks"},
		{grace, false, []string{"Dr. Owen Brooks (Physician)", "Lena Fischer (Front desk)", "Priya Nair, RN (Nurse)"}, "Amelia Chen"},
	} {
		c := e.signIn(t, p.email)
		t.Run(p.email, func(t *testing.T) {
			both(t, func(t *testing.T, htmx bool) {
				r := c.variant(htmx).get(t, "/messages/new")
				wantStatus(t, r, http.StatusOK)
				compose := composeSection(t, r, htmx)
				form := compose.First(htmltest.Tag("form"))
				if form == nil || form.Attr["action"] != "/messages" || form.Attr["method"] != "post" || form.Attr["hx-post"] != "/messages" {
					t.Fatalf("no compose form posting to /messages:\n%s", r.Body)
				}
				values := form.FormValues()
				for _, name := range []string{"_csrf", "submit_key", "subject", "body", "staff", "method", "no_response"} {
					if form.Input(name) == nil {
						t.Errorf("compose form has no %q field", name)
					}
				}
				if values.Get("_csrf") == "" || values.Get("submit_key") == "" {
					t.Error("compose form carries no CSRF token or submit key")
				}
				if !strings.Contains(compose.TextContent(), "Complaints / Questions / Symptoms") {
					t.Error("the body field is not labelled Complaints / Questions / Symptoms")
				}
				var staff []string
				for _, o := range form.Input("staff").All(htmltest.Tag("option"))[1:] {
					staff = append(staff, o.TextContent())
				}
				if !slices.Equal(staff, p.staff) {
					t.Errorf("staff listed %q, want %q", staff, p.staff)
				}
				if strings.Contains(r.Body, p.others) {
					t.Errorf("another practice's staff member %q is offered", p.others)
				}
				consent := form.Input("consent")
				if p.charges {
					if consent == nil || !strings.Contains(compose.TextContent(), "I agree to be billed $25.00 for this message.") {
						t.Errorf("no consent box with the $25.00 fee:\n%s", compose.TextContent())
					}
				} else if consent != nil || strings.Contains(compose.TextContent(), "billed") || strings.Contains(compose.TextContent(), "$") {
					t.Errorf("a consent box where the practice charges nothing:\n%s", compose.TextContent())
				}
				if !htmx && !strings.Contains(r.Body, "For non-urgent requests only.") {
					t.Error("the non-urgent notice is missing from the compose page")
				}
			})
		})
	}
}

// Staff write to a patient: the form asks for the patient, a subject and the message, in the
// practice's words, and none of the patient's own questions (whom they want to answer, how, the
// fee). A refused send comes back in the same words.
func TestComposeShowStaff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.signIn(t, physician)
	labels := func(compose *htmltest.Node) []string {
		var got []string
		for _, l := range compose.All(htmltest.Tag("label")) {
			got = append(got, l.TextContent())
		}
		return got
	}
	wantLabels := []string{"Patient", "Subject", "Message", "No reply needed from the patient (the conversation is archived as it is sent)"}
	patientWords := []string{"Complaints / Questions / Symptoms", "Anyone on my care team", "How should we respond?",
		"Staff member to respond", "No response needed", "billed"}
	checkForm := func(t *testing.T, compose *htmltest.Node) {
		t.Helper()
		if got := labels(compose); !slices.Equal(got, wantLabels) {
			t.Errorf("the staff compose form's labels are %q, want %q", got, wantLabels)
		}
		for _, words := range patientWords {
			if strings.Contains(compose.TextContent(), words) {
				t.Errorf("the staff compose form uses the patient's words %q:\n%s", words, compose.TextContent())
			}
		}
		form := compose.First(htmltest.Tag("form"))
		for _, name := range []string{"staff", "method", "consent"} {
			if form.Input(name) != nil {
				t.Errorf("the staff compose form has the patient's %q field", name)
			}
		}
		var patients []string
		for _, o := range form.Input("patient").All(htmltest.Tag("option")) {
			patients = append(patients, o.TextContent())
		}
		if want := []string{"Choose a patient", "Maria Lopez", "Tom Becker"}; !slices.Equal(patients, want) {
			t.Errorf("patients offered %q, want %q", patients, want)
		}
	}
	both(t, func(t *testing.T, htmx bool) {
		r := c.variant(htmx).get(t, "/messages/new")
		wantStatus(t, r, http.StatusOK)
		checkForm(t, composeSection(t, r, htmx))

		f := blankCompose(t, c)
		f.Set("patient", e.uid(e.user(t, maria).ID))
		f.Set("subject", "Your results are in")
		r = c.variant(htmx).sendForm(t, "/messages", f)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		compose := composeSection(t, r, htmx)
		checkForm(t, compose)
		if !strings.Contains(compose.TextContent(), "Message is required.") {
			t.Errorf("an empty message is not refused with %q:\n%s", "Message is required.", compose.TextContent())
		}
	})
}
