package app

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// TestAuditReviewPage: the administrator's review, whole or as htmx's fragment: the lists, a
// search by patient that shows what was done to her messages (never their subjects), and the
// header's link, for administrators only.
func TestAuditReviewPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mariaID := e.uid(e.user(t, maria).ID)
	e.signIn(t, physician).get(t, "/messages/"+e.mid(e.msg(t, physician, subjLab, maria).ID))
	both(t, func(t *testing.T, htmx bool) {
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		path := "/practice/audit?patient=" + mariaID + "&action=message_read"
		r := admin.get(t, path)
		wantStatus(t, r, http.StatusOK)
		if push := r.Header.Get("HX-Push-Url"); htmx && push != path {
			t.Errorf("HX-Push-Url %q, want the search's own address %q", push, path)
		}
		var root *htmltest.Node
		if htmx {
			root = wantFragment(t, r, "audit", "#audit")
		} else {
			root = wantPage(t, r).ByID("audit")
		}
		if root == nil {
			t.Fatalf("no #audit:\n%s", r.Body)
		}
		text := root.TextContent()
		for _, want := range []string{"Opened a message's details", "Dr. Amelia Chen", "Maria Lopez", "Export as CSV"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %q in the results", want)
			}
		}
		if strings.Contains(r.Body, subjLab) || strings.Contains(r.Body, "Grace Kim") {
			t.Errorf("a subject or another practice's patient on the review:\n%s", r.Body)
		}
		if sel := root.Input("patient"); sel == nil {
			t.Error("no patient list")
		}
		if !strings.Contains(r.Body, `href="/practice/audit/patients/`+mariaID+`"`) {
			t.Error("no link to who opened Maria's messages")
		}
		form := root.First(func(n *htmltest.Node) bool { return n.Tag == "form" && n.Attr["method"] == "get" })
		if form == nil || form.Attr["hx-push-url"] != "true" || form.Attr["hx-get"] != "/practice/audit" {
			t.Errorf("search form: %+v", form)
		}
	})
	if r := e.signIn(t, riversideAdmin).get(t, "/inbox"); !strings.Contains(r.Body, `href="/practice/audit"`) {
		t.Error("no link to the review for the administrator")
	}
	if r := e.signIn(t, physician).get(t, "/inbox"); strings.Contains(r.Body, `href="/practice/audit"`) {
		t.Error("a link to the review for staff without the right")
	}
}

// TestAuditReviewRefusesBadInput: an unknown action, a bad date, from after to and another
// practice's patient are refused with 422, the problem said and what was typed kept.
func TestAuditReviewRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	graceID := e.uid(e.user(t, grace).ID)
	for _, c := range []struct {
		query, field, text, kept string
	}{
		{"action=drop_table&from=2026-12-01", "action", "Choose an action from the list.", "2026-12-01"},
		{"from=2026-13-01", "from", "Enter a date such as 2026-12-01.", "2026-13-01"},
		{"from=2026-12-03&to=2026-12-01", "to", "The end date must be on or after the start date.", "2026-12-03"},
		{"patient=" + graceID, "patient", "Choose a patient of this practice from the list.", ""},
		{"staff=nonsense&to=2026-12-01", "staff", "Choose a staff member of this practice from the list.", "2026-12-01"},
	} {
		both(t, func(t *testing.T, htmx bool) {
			r := e.signIn(t, riversideAdmin).variant(htmx).get(t, "/practice/audit?"+c.query)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if htmx {
				wantFragment(t, r, "audit", "#audit")
			}
			if !strings.Contains(r.Body, c.text) || !strings.Contains(r.Body, `aria-invalid="true"`) {
				t.Errorf("%s: no clear problem:\n%s", c.query, r.Body)
			}
			if c.kept != "" && !strings.Contains(r.Body, `value="`+c.kept+`"`) {
				t.Errorf("%s: %q not kept", c.query, c.kept)
			}
			if strings.Contains(r.Body, "Export as CSV") {
				t.Errorf("%s: an export offered for a refused search", c.query)
			}
		})
	}
}

// TestAuditReviewForbidden: staff without the right and patients get 403 for every route of the
// review, and no export is recorded for them.
func TestAuditReviewForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mariaID := e.uid(e.user(t, maria).ID)
	before := exports(t, e)
	for _, who := range []string{physician, maria} {
		both(t, func(t *testing.T, htmx bool) {
			c := e.signIn(t, who).variant(htmx)
			wantNotice(t, c.get(t, "/practice/audit"), htmx, http.StatusForbidden, "administrators")
			wantNotice(t, c.get(t, "/practice/audit/patients/"+mariaID), htmx, http.StatusForbidden, "administrators")
			wantNotice(t, c.post(t, "/practice/audit/export", url.Values{}), htmx, http.StatusForbidden, "administrators")
		})
	}
	if after := exports(t, e); after != before {
		t.Errorf("%d exports recorded for people without the right", after-before)
	}
}

// TestAuditReviewForeignIDs: who opened another practice's patient's messages, or those of an id
// that names no patient, is not found, and names nobody.
func TestAuditReviewForeignIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{e.uid(e.user(t, grace).ID), e.uid(e.user(t, physician).ID), e.mid(1), "nonsense"} {
		both(t, func(t *testing.T, htmx bool) {
			r := e.signIn(t, riversideAdmin).variant(htmx).get(t, "/practice/audit/patients/"+id)
			wantNotice(t, r, htmx, http.StatusNotFound, "That patient was not found at this practice.")
			if strings.Contains(r.Body, "Grace Kim") {
				t.Errorf("another practice's patient named:\n%s", r.Body)
			}
		})
	}
}

// TestAuditPatientOpeners: who opened a patient's messages, page and fragment.
func TestAuditPatientOpeners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signIn(t, physician).get(t, "/messages/"+e.mid(e.msg(t, physician, subjLab, maria).ID))
	both(t, func(t *testing.T, htmx bool) {
		r := e.signIn(t, riversideAdmin).variant(htmx).get(t, "/practice/audit/patients/"+e.uid(e.user(t, maria).ID))
		wantStatus(t, r, http.StatusOK)
		var text string
		if htmx {
			text = wantFragment(t, r, "audit-patient", "").TextContent()
		} else {
			text = wantPage(t, r).ByID("audit-patient").TextContent()
		}
		for _, want := range []string{"Who opened Maria Lopez's messages", "Dr. Amelia Chen", "First opened", "Last opened"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %q in:\n%s", want, text)
			}
		}
	})
}

// TestAuditExport: the export is a CSV download of every matching row, recorded in the audit log
// with its filters, safe to open in a spreadsheet; a bad filter exports and records nothing; and
// it needs the CSRF token.
func TestAuditExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A patient whose name a spreadsheet would take for a formula.
	m := e.user(t, maria)
	evil, err := e.st.CreateUser(t.Context(), store.User{PracticeID: m.PracticeID, Role: store.RolePatient, Email: "evil@riverside.example",
		PasswordHash: m.PasswordHash, FullName: "=HYPERLINK(\"http://x.example\")", Initials: "EV"})
	if err != nil {
		t.Fatal(err)
	}
	e.signIn(t, evil.Email) // writes a row about her
	admin := e.signIn(t, riversideAdmin)
	before := exports(t, e)
	r := admin.post(t, "/practice/audit/export", url.Values{"patient": {e.uid(evil.ID)}})
	wantStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="audit-log-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("%v:\n%s", err, r.Body)
	}
	if len(records) < 3 || records[0][0] != "time" {
		t.Fatalf("CSV:\n%s", r.Body)
	}
	var signedIn, exported bool
	for _, rec := range records[1:] {
		patient := rec[7]
		if strings.HasPrefix(patient, "=") || !strings.HasPrefix(patient, "'=HYPERLINK") {
			t.Errorf("patient cell %q: not made safe", patient)
		}
		signedIn = signedIn || rec[4] == "signed_in"
		exported = exported || (rec[4] == store.ActionAuditExported && rec[5] == "Exported the audit log" && rec[2] == "Alex Morgan")
	}
	if !signedIn || !exported {
		t.Errorf("CSV lacks the sign-in (%v) or the export's own row (%v):\n%s", signedIn, exported, r.Body)
	}
	if after := exports(t, e); after != before+1 {
		t.Errorf("%d exports recorded, want 1", after-before)
	}

	// A bad filter: the review's problem, 422, nothing recorded.
	both(t, func(t *testing.T, htmx bool) {
		r := admin.variant(htmx).post(t, "/practice/audit/export", url.Values{"action": {"nope"}, "from": {"2026-12-01"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if htmx {
			wantFragment(t, r, "audit", "")
		}
		if !strings.Contains(r.Body, "Choose an action from the list.") || !strings.Contains(r.Body, `value="2026-12-01"`) {
			t.Errorf("no clear problem, or the typed date lost:\n%s", r.Body)
		}
	})
	// Without the CSRF token: refused, nothing recorded.
	if r := admin.send(t, "POST", "/practice/audit/export", url.Values{}); r.Status != http.StatusForbidden {
		t.Errorf("export without a CSRF token: %d", r.Status)
	}
	if after := exports(t, e); after != before+1 {
		t.Errorf("refused exports were recorded: %d", after-before-1)
	}
	// The chain holds after the export's rows.
	if _, broken, err := e.st.VerifyAudit(t.Context()); err != nil || broken != nil {
		t.Errorf("chain after exports: %+v, %v", broken, err)
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"Maria Lopez": "Maria Lopez", "": "", "a=b": "a=b", "'=x": "'=x",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func exports(t *testing.T, e *env) int {
	t.Helper()
	var n int
	if err := e.st.DB().Get(&n, `SELECT count(*) FROM audit_log WHERE action = $1`, store.ActionAuditExported); err != nil {
		t.Fatal(err)
	}
	return n
}
