package app

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// notificationsForm is the preferences form of a page or fragment, and the choices it shows as
// "kind=delivery", in the page's order.
func notificationsForm(t *testing.T, r *response, htmx bool) (*htmltest.Node, []string) {
	t.Helper()
	var root *htmltest.Node
	if htmx {
		root = wantFragment(t, r, "notifications", "#notifications")
	} else {
		root = wantPage(t, r).ByID("notifications")
	}
	if root == nil {
		t.Fatalf("no #notifications:\n%s", r.Body)
	}
	form := root.First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["action"] == "/account/notifications" })
	if form == nil || form.HX("hx-post") != "/account/notifications" || form.Input("_csrf") == nil {
		t.Fatalf("no form posting to /account/notifications, plain and with htmx, with the CSRF token:\n%s", r.Body)
	}
	var chosen []string
	for _, fs := range form.All(htmltest.Tag("fieldset")) {
		var labels []string
		for _, in := range fs.All(htmltest.Tag("input")) {
			if _, ok := in.Attr["checked"]; ok {
				chosen = append(chosen, in.Attr["name"]+"="+in.Attr["value"])
			}
			labels = append(labels, form.First(func(n *htmltest.Node) bool { return n.Tag == "label" && n.Attr["for"] == in.Attr["id"] }).TextContent())
		}
		if want := []string{"At once", "Hourly digest", "Off"}; !slices.Equal(labels, want) {
			t.Errorf("choices %q, want %q", labels, want)
		}
		if fs.First(htmltest.Tag("legend")) == nil {
			t.Errorf("a radio group without a legend:\n%s", r.Body)
		}
	}
	return form, chosen
}

func (e *env) prefs(t *testing.T, email string) []string {
	t.Helper()
	prefs, err := e.st.NotificationPreferences(t.Context(), e.user(t, email).ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range prefs {
		out = append(out, string(p.Kind)+"="+string(p.Delivery))
	}
	return out
}

// The page shows a patient their one kind, and staff their two, each with its current choice;
// every signed-in page links to it; signed out, it asks to sign in.
func TestNotificationsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	both(t, func(t *testing.T, htmx bool) {
		for email, want := range map[string][]string{
			maria:     {"practice_message=now"},
			physician: {"requested=now", "waiting=off"},
		} {
			c := e.signIn(t, email)
			_, chosen := notificationsForm(t, c.variant(htmx).get(t, "/account/notifications"), htmx)
			if !slices.Equal(chosen, want) {
				t.Errorf("%s sees %q, want %q", email, chosen, want)
			}
			inbox := wantPage(t, c.get(t, "/inbox"))
			if inbox.First(func(n *htmltest.Node) bool { return n.Tag == "a" && n.Attr["href"] == "/account/notifications" }) == nil {
				t.Errorf("the inbox does not link to the notifications page")
			}
		}
		if htmx {
			wantStatus(t, e.anon().hx().get(t, "/account/notifications"), http.StatusUnauthorized)
		} else {
			wantRedirect(t, e.anon().get(t, "/account/notifications"), "/signin")
		}
	})
}

// Saving: without JavaScript a redirect to the page with a notice, with htmx the form again with
// it; either way the choices are stored and shown. Fields of the other role's kinds are ignored.
func TestNotificationsSave(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		c := e.signIn(t, physician).variant(htmx)
		r := c.post(t, "/account/notifications", url.Values{"requested": {"digest"}, "waiting": {"now"}, "practice_message": {"off"}})
		if !htmx {
			wantRedirect(t, r, "/account/notifications?notice=saved")
			r = c.get(t, r.Header.Get("Location"))
		}
		wantStatus(t, r, http.StatusOK)
		_, chosen := notificationsForm(t, r, htmx)
		if want := []string{"requested=digest", "waiting=now"}; !slices.Equal(chosen, want) {
			t.Errorf("the page shows %q after saving, want %q", chosen, want)
		}
		if !strings.Contains(r.Body, "Your e-mail choices are saved.") {
			t.Errorf("no notice that the choices were saved:\n%s", r.Body)
		}
		if got, want := e.prefs(t, physician), []string{"requested=digest", "waiting=now"}; !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
		if got := e.prefs(t, "nurse@riverside.example"); !slices.Equal(got, []string{"requested=now", "waiting=off"}) {
			t.Errorf("a colleague's choices changed: %q", got)
		}
		// Without the CSRF token, refused.
		wantStatus(t, c.send(t, "POST", "/account/notifications", url.Values{"requested": {"off"}, "waiting": {"off"}}), http.StatusForbidden)
		if got := e.prefs(t, physician); !slices.Equal(got, []string{"requested=digest", "waiting=now"}) {
			t.Errorf("a post without the CSRF token changed the choices to %q", got)
		}
	})
}

// A value that is not a choice, or none, is refused with 422 and a clear message by its group;
// the form keeps what was chosen for the other kinds, and nothing is saved.
func TestNotificationsRefused(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		c := e.signIn(t, physician).variant(htmx)
		before := e.counts(t)
		for _, form := range []url.Values{
			{"requested": {"digest"}, "waiting": {"weekly"}},
			{"requested": {"digest"}},
		} {
			r := c.post(t, "/account/notifications", form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			f, chosen := notificationsForm(t, r, htmx)
			if want := []string{"requested=digest", "waiting=off"}; !slices.Equal(chosen, want) {
				t.Errorf("posted %v: the form shows %q, want %q (the good choice kept, the bad one as stored)", form, chosen, want)
			}
			msg := "Choose At once, Hourly digest or Off for other patient messages waiting for the practice."
			if p := f.ByID("waiting-error"); p == nil || p.TextContent() != msg {
				t.Errorf("posted %v: no %q by the group:\n%s", form, msg, r.Body)
			}
			if link := r.doc(t).First(func(n *htmltest.Node) bool { return n.Tag == "a" && n.Attr["href"] == "#waiting" }); link == nil || f.ByID("waiting") == nil {
				t.Errorf("posted %v: the summary does not link to the group's first choice", form)
			}
		}
		if after := e.counts(t); after != before {
			t.Errorf("a refused form changed something: %+v -> %+v", before, after)
		}
	})
}

// unsubscribeToken is a fresh unsubscribe token for the account's own kind (the first it has).
func (e *env) unsubscribeToken(t *testing.T, email string) string {
	t.Helper()
	u := e.user(t, email)
	token, err := e.st.NewUnsubscribeToken(t.Context(), nil, u.ID, store.NotificationKinds(u.Role)[0])
	if err != nil {
		t.Fatal(err)
	}
	return token
}
