package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

const nurse = "nurse@riverside.example"

// personPath is a person's page, by their sign-in address.
func (e *env) personPath(t *testing.T, email string) string {
	t.Helper()
	return "/practice/people/" + e.uid(e.user(t, email).ID)
}

// personPart is the person's part of an answer, page or fragment.
func personPart(t *testing.T, r *response, htmx bool) *htmltest.Node {
	t.Helper()
	if htmx {
		return wantFragment(t, r, "person", "#person")
	}
	return wantPage(t, r).ByID("person")
}

// TestPeoplePage: the administrator's list of their practice's staff and patients, whole or as
// htmx's fragment, and the header's link to it for administrators only.
func TestPeoplePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	both(t, func(t *testing.T, htmx bool) {
		r := e.signIn(t, riversideAdmin).variant(htmx).get(t, "/practice/people")
		wantStatus(t, r, http.StatusOK)
		var root *htmltest.Node
		if htmx {
			root = wantFragment(t, r, "people", "")
		} else {
			root = wantPage(t, r).ByID("people")
		}
		text := root.TextContent()
		for _, want := range []string{"Dr. Amelia Chen", "Alex Morgan", "Maria Lopez", "Tom Becker"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %s in the list", want)
			}
		}
		if strings.Contains(text, "Grace Kim") || strings.Contains(text, "hillcrest") {
			t.Error("another practice's people are listed")
		}
		if root.First(func(n *htmltest.Node) bool { return n.Attr["href"] == e.personPath(t, maria) }) == nil {
			t.Error("no link to Maria's page")
		}
	})
	if r := e.signIn(t, riversideAdmin).get(t, "/inbox"); !strings.Contains(r.Body, `href="/practice/people"`) {
		t.Error("no link to the people for the administrator")
	}
	if r := e.signIn(t, physician).get(t, "/inbox"); strings.Contains(r.Body, `href="/practice/people"`) {
		t.Error("a link to the people for staff without the right")
	}
}

// TestPeopleForbidden: staff without the right and patients get 403 for every people route; an
// administrator of another practice gets 404 for a person of this one, as for nobody; nothing
// changes.
func TestPeopleForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tomPage := e.personPath(t, tom)
	before := e.counts(t)
	changes := func() int {
		var n int
		if err := e.st.DB().Get(&n, `SELECT count(*) FROM account_changes`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, who := range []string{maria, physician, hillcrestAdmin} {
		c := e.signIn(t, who)
		want := http.StatusForbidden
		if who == hillcrestAdmin {
			want = http.StatusNotFound
		}
		for _, htmx := range []bool{false, true} {
			if who != hillcrestAdmin {
				if r := c.variant(htmx).get(t, "/practice/people"); r.Status != http.StatusForbidden {
					t.Errorf("%s GET the list: %d", who, r.Status)
				}
			}
			if r := c.variant(htmx).get(t, tomPage); r.Status != want {
				t.Errorf("%s GET Tom's page (htmx %t): %d, want %d", who, htmx, r.Status, want)
			}
			for _, change := range []string{"name", "role", "deactivate", "reactivate", "second_factor"} {
				form := url.Values{"full_name": {"Changed"}, "initials": {"CH"}, "staff_role": {"nurse"}}
				if r := c.variant(htmx).post(t, tomPage+"/"+change, form); r.Status != want {
					t.Errorf("%s POST %s (htmx %t): %d, want %d", who, change, htmx, r.Status, want)
				}
			}
		}
	}
	if after := e.counts(t); after.Sessions < before.Sessions || changes() != 0 {
		t.Errorf("refused requests changed something: %d account changes", changes())
	}
	if u := e.user(t, tom); u.FullName != "Tom Becker" {
		t.Errorf("Tom is now %q", u.FullName)
	}
}

// TestPersonChangesKeepWhatWasTyped: a refused form answers 422 with the problem by its field
// and what was typed kept, nothing changed; a good one saves (a redirect without JavaScript).
func TestPersonChangesKeepWhatWasTyped(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		path := e.personPath(t, nurse)
		r := admin.post(t, path+"/name", url.Values{"full_name": {"Nora Quinn"}, "initials": {"N4"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		part := personPart(t, r, htmx)
		if v := part.Input("full_name"); v == nil || v.Attr["value"] != "Nora Quinn" {
			t.Errorf("the name typed is not kept: %+v", v)
		}
		if v := part.Input("initials"); v == nil || v.Attr["value"] != "N4" || v.Attr["aria-invalid"] != "true" {
			t.Errorf("the initials typed are not kept, or not marked: %+v", v)
		}
		r = admin.post(t, path+"/role", url.Values{"staff_role": {"surgeon"}, "administrator": {"yes"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		part = personPart(t, r, htmx)
		if !strings.Contains(part.TextContent(), "Choose a role from the list") {
			t.Errorf("no problem for the unknown role:\n%s", r.Body)
		}
		if v := part.Input("administrator"); v == nil || !hasAttr(v, "checked") {
			t.Errorf("the administrator box ticked is not kept: %+v", v)
		}
		if u := e.user(t, nurse); u.FullName == "Nora Quinn" || u.Administrator || u.StaffRole != store.StaffNurse {
			t.Fatalf("a refused change changed %+v", u)
		}

		r = admin.post(t, path+"/role", url.Values{"staff_role": {"physician"}})
		if htmx {
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(personPart(t, r, true).TextContent(), "The role was saved.") {
				t.Errorf("no saved notice:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, path+"?done=role")
			if !strings.Contains(admin.get(t, path+"?done=role").Body, "The role was saved.") {
				t.Error("the page does not say the role was saved")
			}
		}
		if u := e.user(t, nurse); u.StaffRole != store.StaffPhysician {
			t.Errorf("role %q", u.StaffRole)
		}
	})
}

func hasAttr(n *htmltest.Node, name string) bool { _, ok := n.Attr[name]; return ok }

// TestDeactivateAndLastAdministrator: a deactivated patient is signed out at once and cannot
// sign in; reactivated, they can. The last administrator has no Deactivate button, and a post
// of it anyway is refused (409) with the reason.
func TestDeactivateAndLastAdministrator(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		toms := e.signIn(t, tom)
		path := e.personPath(t, tom)
		r := admin.post(t, path+"/deactivate", url.Values{})
		if htmx {
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(personPart(t, r, true).TextContent(), "Reactivate Tom Becker") {
				t.Errorf("no Reactivate after deactivating:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, path+"?done=deactivated")
		}
		if r := toms.get(t, "/inbox"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/signin" {
			t.Errorf("a deactivated person's session still works: %d %s", r.Status, r.Header.Get("Location"))
		}
		signin := e.anon().send(t, "POST", "/signin", url.Values{"email": {tom}, "password": {store.DemoPassword}})
		if signin.Status != http.StatusUnauthorized || !strings.Contains(signin.Body, signinProblem) {
			t.Errorf("a deactivated person signed in: %d", signin.Status)
		}
		if r := admin.post(t, path+"/reactivate", url.Values{}); r.Status != http.StatusOK && r.Status != http.StatusSeeOther {
			t.Fatalf("reactivate: %d\n%s", r.Status, r.Body)
		}
		e.signIn(t, tom) // fails the test unless he can

		self := e.personPath(t, riversideAdmin)
		page := admin.get(t, self)
		if strings.Contains(page.Body, "Deactivate Alex Morgan") {
			t.Error("the last administrator is offered Deactivate")
		}
		r = admin.post(t, self+"/deactivate", url.Values{})
		wantStatus(t, r, http.StatusConflict)
		if !strings.Contains(personPart(t, r, htmx).TextContent(), "at least one active administrator") {
			t.Errorf("no reason given:\n%s", r.Body)
		}
		if _, err := e.st.UserByEmail(t.Context(), riversideAdmin); err != nil {
			t.Errorf("the last administrator was deactivated: %v", err)
		}

		// With a second administrator, one may deactivate themself, and is signed out with it.
		if r := admin.post(t, e.personPath(t, physician)+"/role", url.Values{"staff_role": {"physician"}, "administrator": {"yes"}}); r.Status != http.StatusOK && r.Status != http.StatusSeeOther {
			t.Fatalf("granting the right: %d\n%s", r.Status, r.Body)
		}
		r = admin.post(t, self+"/deactivate", url.Values{})
		if htmx {
			if r.Status != http.StatusNoContent || r.Header.Get("HX-Redirect") != "/signin" {
				t.Errorf("deactivating oneself: %d, HX-Redirect %q", r.Status, r.Header.Get("HX-Redirect"))
			}
		} else {
			wantRedirect(t, r, "/signin")
		}
		if r := admin.variant(false).get(t, "/inbox"); r.Status != http.StatusSeeOther {
			t.Errorf("the administrator's session outlived deactivating themself: %d", r.Status)
		}
	})
}
