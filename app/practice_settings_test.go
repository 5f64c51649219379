package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

const (
	riversideAdmin = "admin@riverside.example"
	hillcrestAdmin = "admin@hillcrest.example"
)

// settingsForm is a section's form as the settings page gives it.
func settingsForm(t *testing.T, c *client, section string) url.Values {
	t.Helper()
	r := c.variant(false).get(t, "/practice/settings")
	wantStatus(t, r, http.StatusOK)
	sec := r.doc(t).ByID("settings-" + section)
	if sec == nil {
		t.Fatalf("no section %s:\n%s", section, r.Body)
	}
	return sec.First(htmltest.Tag("form")).FormValues()
}

// settingsSection is the section an answer to a section's post shows, page or fragment.
func settingsSection(t *testing.T, r *response, htmx bool, section string) *htmltest.Node {
	t.Helper()
	if htmx {
		return wantFragment(t, r, "settings-"+section, "#settings-"+section)
	}
	return wantPage(t, r).ByID("settings-" + section)
}

func (e *env) settings(t *testing.T, email string) store.PracticeSettings {
	t.Helper()
	ps, err := e.st.PracticeSettings(t.Context(), e.user(t, email).Viewer())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestSettingsPage: the administrator's page, whole or as htmx's fragment, and the header's link
// to it for administrators only.
func TestSettingsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	both(t, func(t *testing.T, htmx bool) {
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		r := admin.get(t, "/practice/settings")
		wantStatus(t, r, http.StatusOK)
		var root *htmltest.Node
		if htmx {
			root = wantFragment(t, r, "settings", "")
		} else {
			root = wantPage(t, r).ByID("settings")
		}
		for _, s := range settingsSections {
			if root.ByID("settings-"+s) == nil {
				t.Errorf("no section %s", s)
			}
		}
		if v := root.Input("fee_amount"); v == nil || v.Attr["value"] != "25.00" {
			t.Errorf("fee field: %+v", v)
		}
	})
	inbox := e.signIn(t, riversideAdmin).get(t, "/inbox")
	if !strings.Contains(inbox.Body, `href="/practice/settings"`) {
		t.Error("no link to the settings for the administrator")
	}
	if r := e.signIn(t, physician).get(t, "/inbox"); strings.Contains(r.Body, `href="/practice/settings"`) {
		t.Error("a link to the settings for staff without the right")
	}
}

// TestSettingsSaveApplies: a saved section answers saved (a redirect without JavaScript) and
// applies at once to a patient's compose form.
func TestSettingsSaveApplies(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		f := settingsForm(t, admin, "fee")
		f.Set("fee_amount", "12.50")
		f.Set("consent_text", "I accept a charge of {fee}.")
		r := admin.sendForm(t, "/practice/settings/fee", f)
		if htmx {
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(settingsSection(t, r, true, "fee").TextContent(), "Saved.") {
				t.Errorf("no saved notice:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, "/practice/settings?saved=fee#settings-fee")
		}
		l := settingsForm(t, admin, "limits")
		l.Set("max_body", "300")
		l.Set("per_day", "5")
		if r := admin.sendForm(t, "/practice/settings/limits", l); r.Status != http.StatusOK && r.Status != http.StatusSeeOther {
			t.Fatalf("limits: %d\n%s", r.Status, r.Body)
		}
		compose := e.signIn(t, maria).get(t, "/messages/new")
		doc := compose.doc(t)
		if label := doc.First(func(n *htmltest.Node) bool { return n.Tag == "label" && n.Attr["for"] == "consent" }); label == nil || label.TextContent() != "I accept a charge of $12.50." {
			t.Errorf("consent label: %v", label)
		}
		if body := doc.ByID("body"); body == nil || body.Attr["maxlength"] != "300" {
			t.Errorf("body field: %+v", body)
		}
		ps := e.settings(t, maria)
		if ps.Fee.Cents != 1250 || ps.Limits.PerDay != 5 {
			t.Errorf("settings: %+v", ps)
		}
	})
}

// TestSettingsRefusedKeepsValues: bad values answer 422 with each field's problem, keep what was
// typed, and change nothing.
func TestSettingsRefusedKeepsValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		section, field, value, problem string
	}{
		{"fee", "fee_amount", "-5", "cannot be negative"},
		{"fee", "fee_amount", "ten", "in dollars"},
		{"limits", "per_day", "0", "between 1 and 100"},
		{"limits", "max_body", "99999", "between 100 and 4000"},
		{"hours", "time_zone", "Mars/Olympus", "Choose a time zone"},
		{"notice", "notice", " ", "required"},
	} {
		both(t, func(t *testing.T, htmx bool) {
			admin := e.signIn(t, riversideAdmin).variant(htmx)
			before := e.settings(t, riversideAdmin)
			f := settingsForm(t, admin, tc.section)
			f.Set(tc.field, tc.value)
			r := admin.sendForm(t, "/practice/settings/"+tc.section, f)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			sec := settingsSection(t, r, htmx, tc.section)
			if !strings.Contains(sec.TextContent(), tc.problem) {
				t.Errorf("%s=%q: no clear problem:\n%s", tc.field, tc.value, r.Body)
			}
			if in := sec.Input(tc.field); in == nil || in.Attr["value"] != tc.value {
				t.Errorf("%s: the typed value is not kept: %+v", tc.field, in)
			}
			if after := e.settings(t, riversideAdmin); !sameSettings(before, after) {
				t.Errorf("%s: settings changed: %+v -> %+v", tc.field, before, after)
			}
		})
	}
}

func sameSettings(a, b store.PracticeSettings) bool {
	return a.Fee == b.Fee && a.Limits == b.Limits && a.Notice == b.Notice && a.Hours.TimeZone == b.Hours.TimeZone
}

// TestSettingsForbidden: staff without the right and patients get 403 for the page and every
// section; another practice's administrator reaches only their own practice's settings.
func TestSettingsForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	paths := []string{"/practice/settings/fee", "/practice/settings/limits", "/practice/settings/compose",
		"/practice/settings/notice", "/practice/settings/hours", "/practice/settings/auto_reply"}
	for _, who := range []string{physician, maria} {
		both(t, func(t *testing.T, htmx bool) {
			c := e.signIn(t, who).variant(htmx)
			wantNotice(t, c.get(t, "/practice/settings"), htmx, http.StatusForbidden, "administrators")
			for _, p := range paths {
				wantNotice(t, c.post(t, p, url.Values{"max_body": {"100"}, "fee_amount": {"1.00"}}), htmx, http.StatusForbidden, "administrators")
			}
		})
	}
	before := e.settings(t, maria)
	foreign := e.signIn(t, hillcrestAdmin)
	f := settingsForm(t, foreign, "limits")
	f.Set("per_day", "1")
	wantRedirect(t, foreign.sendForm(t, "/practice/settings/limits", f), "/practice/settings?saved=limits#settings-limits")
	if e.settings(t, grace).Limits.PerDay != 1 {
		t.Error("Hillcrest's administrator did not change Hillcrest's limits")
	}
	if after := e.settings(t, maria); !sameSettings(before, after) {
		t.Errorf("Hillcrest's administrator changed Riverside's settings: %+v", after)
	}
	// The settings page never lists another practice's staff.
	if r := foreign.get(t, "/practice/settings"); strings.Contains(r.Body, "Amelia Chen") {
		t.Error("Hillcrest's settings list Riverside's staff")
	}
}

// TestAutoReplyShows: with the practice closed every day, a patient's message is answered at once,
// the answer marked as automatic in her inbox, and her message can still be cancelled.
func TestAutoReplyShows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.user(t, riversideAdmin)
	if err := e.st.UpdateAutoReply(t.Context(), admin, store.Origin{}, store.AutoReplySettings{On: true, Text: "Closed now; we read it tomorrow."}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateHours(t.Context(), admin, store.Origin{}, store.HoursSettings{TimeZone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(t, maria)
	wantRedirect(t, c.sendForm(t, "/messages", filledCompose(t, e, c, "Written at night")), "/inbox?notice=sent")
	inbox := c.get(t, "/inbox").doc(t)
	auto := inbox.First(func(n *htmltest.Node) bool {
		return n.Attr["aria-label"] == "Actions for Automatic reply: Re: Written at night"
	})
	if auto == nil {
		t.Fatalf("no automatic reply in the inbox:\n%s", inbox.ByID("inbox").TextContent())
	}
	sent := e.msg(t, maria, "Written at night", maria)
	if !store.Allowed(e.user(t, maria).Viewer(), sent.Facts()).Cancel {
		t.Error("the automatic reply ended Cancel")
	}
}
