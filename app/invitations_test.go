package app

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"securemessages/store"
)

// invitationCount is how many invitations the practice of email has, in any state.
func (e *env) invitationCount(t *testing.T, email string) int {
	t.Helper()
	var n int
	if err := e.st.DB().Get(&n, `SELECT count(*) FROM invitations WHERE practice_id = $1`, e.user(t, email).PracticeID); err != nil {
		t.Fatal(err)
	}
	return n
}

// upload posts a CSV file to the import form.
func (c *client) upload(t *testing.T, path, csv string) *response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField(csrfField, c.token(t))
	if csv != "" {
		fw, _ := w.CreateFormFile("file", "patients.csv")
		io.WriteString(fw, csv)
	}
	w.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	if c.htmx {
		req.Header.Set("HX-Request", "true")
	}
	resp, err := c.e.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: string(b), raw: resp}
}

// An administrator invites from the page, with and without JavaScript; a refused form keeps what
// was typed, says what is wrong, and sends nothing.
func TestInvitationsPage(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		addr := "new.nurse." + map[bool]string{false: "page", true: "htmx"}[htmx] + "@riverside.example"
		r := admin.get(t, "/practice/invitations")
		wantStatus(t, r, http.StatusOK)

		for _, tc := range []struct {
			name  string
			form  url.Values
			field string
		}{
			{"unknown role", url.Values{"full_name": {"Nina Park"}, "email": {addr}, "role": {"surgeon"}}, "Choose a role"},
			{"bad address", url.Values{"full_name": {"Nina Park"}, "email": {"nina at example"}, "role": {"nurse"}}, "e-mail address"},
			{"patient without a birth date", url.Values{"full_name": {"Nina Park"}, "email": {addr}, "role": {"patient"}}, "date of birth"},
			{"existing account here", url.Values{"full_name": {"Maria"}, "email": {maria}, "role": {"patient"}, "date_of_birth": {"1980-01-02"}}, "already has an account"},
		} {
			before := e.counts(t)
			tc.form.Set(csrfField, admin.token(t))
			r := admin.post(t, "/practice/invitations", tc.form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, tc.field) {
				t.Errorf("%s: the answer does not say %q:\n%s", tc.name, tc.field, r.Body)
			}
			if !strings.Contains(r.Body, `value="`+tc.form.Get("full_name")+`"`) {
				t.Errorf("%s: the name typed is not kept", tc.name)
			}
			if after := e.counts(t); after != before {
				t.Errorf("%s: a refused invitation changed something: %+v -> %+v", tc.name, before, after)
			}
		}

		form := url.Values{"full_name": {"Nina Park"}, "email": {addr}, "role": {"nurse"}, csrfField: {admin.token(t)}}
		r = admin.post(t, "/practice/invitations", form)
		if htmx {
			wantFragment(t, r, "invitations", "")
		} else {
			wantRedirect(t, r, "/practice/invitations?done=sent")
			r = admin.get(t, "/practice/invitations?done=sent")
		}
		if !strings.Contains(r.Body, addr) || !strings.Contains(r.Body, "The invitation is on its way.") {
			t.Errorf("the list does not show the invitation sent:\n%s", r.Body)
		}
		// The same address again is the pending invitation, not a second one.
		r = admin.post(t, "/practice/invitations", form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
	})
}

// An address with an account at another practice is invited like any other: the inviter is not
// told, and the list shows it sent.
func TestInvitationSaysNothingOfOtherPractices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.signIn(t, riversideAdmin)
	fresh := admin.post(t, "/practice/invitations", url.Values{"full_name": {"A B"}, "email": {"nobody.yet@example.com"},
		"role": {"nurse"}, csrfField: {admin.token(t)}})
	elsewhere := admin.post(t, "/practice/invitations", url.Values{"full_name": {"A B"}, "email": {grace},
		"role": {"nurse"}, csrfField: {admin.token(t)}})
	if fresh.Status != elsewhere.Status || fresh.Header.Get("Location") != elsewhere.Header.Get("Location") {
		t.Errorf("a fresh address: %d %q; one of another practice's patients: %d %q", fresh.Status,
			fresh.Header.Get("Location"), elsewhere.Status, elsewhere.Header.Get("Location"))
	}
}

// Only a practice's administrators reach its invitations and import, and one practice's
// administrator reaches nothing of another's.
func TestOnboardingForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	riverside := e.user(t, riversideAdmin)
	id, err := e.st.Invite(t.Context(), riverside, store.Origin{}, store.NewInvitation{Email: "x.y@example.com", FullName: "X Y", Role: "nurse"})
	if err != nil {
		t.Fatal(err)
	}
	upload, err := e.st.UploadPatientImport(t.Context(), riverside, []store.ImportRow{{Line: 2, Name: "P Q", Email: "p.q@example.com", DateOfBirth: "1990-01-01"}})
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*client{maria: e.signIn(t, maria), physician: e.signIn(t, physician)}
	hill := e.signIn(t, hillcrestAdmin)
	for _, c := range append([]*client{hill}, clients[maria], clients[physician]) {
		c.token(t)
	}
	before := e.counts(t)
	for _, c := range clients {
		for _, path := range []string{"/practice/invitations", "/practice/import", "/practice/import/" + upload} {
			wantStatus(t, c.get(t, path), http.StatusForbidden)
		}
		for _, path := range []string{"/practice/invitations", "/practice/invitations/" + e.ids.Invitation(id) + "/revoke",
			"/practice/import/" + upload} {
			wantStatus(t, c.post(t, path, url.Values{csrfField: {c.token(t)}, "full_name": {"Z"}, "email": {"z@example.com"}, "role": {"nurse"}}), http.StatusForbidden)
		}
	}
	wantStatus(t, hill.get(t, "/practice/import/"+upload), http.StatusNotFound)
	for _, path := range []string{"/practice/invitations/" + e.ids.Invitation(id) + "/revoke",
		"/practice/invitations/" + e.ids.Invitation(id) + "/resend", "/practice/import/" + upload} {
		wantStatus(t, hill.post(t, path, url.Values{csrfField: {hill.token(t)}}), http.StatusNotFound)
	}
	if r := hill.get(t, "/practice/invitations"); strings.Contains(r.Body, "x.y@example.com") {
		t.Error("another practice's invitation is listed")
	}
	if after := e.counts(t); after != before {
		t.Errorf("refused requests changed something: %+v -> %+v", before, after)
	}
}

// The link opens a form (reading only), sets the password once, signs in; used, it works no more.
func TestInvitationLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.user(t, riversideAdmin)
	id, err := e.st.Invite(t.Context(), admin, store.Origin{}, store.NewInvitation{Email: "Nina.Park@example.com", FullName: "Nina Park", Role: "nurse"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.st.MintInvitation(t.Context(), id, 1)
	if err != nil || m.Token == "" {
		t.Fatalf("mint: %+v, %v", m, err)
	}
	link := "/invitations/" + m.Token
	anon := e.anon()
	before := e.counts(t)
	for _, htmx := range []bool{false, true} {
		r := anon.variant(htmx).get(t, link)
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.Body, "nina.park@example.com") {
			t.Errorf("the form does not name the address:\n%s", r.Body)
		}
	}
	for _, tc := range []struct {
		password, confirm, says string
	}{
		{"short", "short", "10 to 200 characters"},
		{"long enough password", "another long password", "not the same"},
	} {
		r := anon.send(t, "POST", link, url.Values{"password": {tc.password}, "confirm": {tc.confirm}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.Body, tc.says) {
			t.Errorf("password %q/%q: the answer does not say %q", tc.password, tc.confirm, tc.says)
		}
	}
	if after := e.counts(t); after != before {
		t.Errorf("reading and refusing changed something: %+v -> %+v", before, after)
	}
	r := anon.send(t, "POST", link, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}})
	wantRedirect(t, r, "/inbox")
	if r.cookie("sid") == nil {
		t.Fatal("not signed in")
	}
	nurse := &client{e: e, cookie: r.cookie("sid")}
	wantStatus(t, nurse.get(t, "/inbox"), http.StatusOK)
	u := e.user(t, "nina.park@example.com")
	if u.Role != store.RoleStaff || u.StaffRole != store.StaffNurse || u.Administrator || u.PracticeID != admin.PracticeID {
		t.Errorf("the account made: %+v", u)
	}
	// Used: the link is no invitation any more, to read or to post.
	wantStatus(t, anon.get(t, link), http.StatusNotFound)
	r = anon.send(t, "POST", link, url.Values{"password": {"another password here"}, "confirm": {"another password here"}})
	wantStatus(t, r, http.StatusNotFound)
	if !strings.Contains(r.Body, "does not work any more") {
		t.Errorf("a used link's answer:\n%s", r.Body)
	}
	// The new password signs in.
	r = anon.send(t, "POST", "/signin", url.Values{"email": {"nina.park@example.com"}, "password": {"correct horse battery"}})
	wantRedirect(t, r, "/inbox")
}

// The import previews every row with its problem, imports the good rows once on confirmation, and
// the same file again invites nobody.
func TestPatientImport(t *testing.T) {
	t.Parallel()
	const csv = "name,email,date_of_birth\n" +
		"Ana Reyes,ana.reyes@example.com,1985-02-03\n" +
		",no.name@example.com,1985-02-03\n" +
		"Bad Mail,not-an-address,1985-02-03\n" +
		"Bad Date,bad.date@example.com,03/02/1985\n" +
		"Ana Again,ANA.REYES@example.com,1985-02-03\n" +
		"Maria Lopez," + maria + ",1980-01-01\n" +
		"Ben Ode,ben.ode@example.com,1990-12-31\n"
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		admin := e.signIn(t, riversideAdmin).variant(htmx)
		for _, bad := range []struct{ file, says string }{
			{"", "Choose a CSV file"},
			{"email,name\nx@y.z,X\n", "date_of_birth"},
			{"name,email,date_of_birth\n\"unclosed,a@b.c,1990-01-01\n", "not valid CSV"},
			{"name,email,date_of_birth\nA,a@b.co\n", "three columns"},
			{"name,email,date_of_birth\n", "no patients"},
		} {
			before := e.counts(t)
			r := admin.upload(t, "/practice/import", bad.file)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, bad.says) {
				t.Errorf("file %q: the answer does not say %q:\n%s", bad.file, bad.says, r.Body)
			}
			if after := e.counts(t); after != before {
				t.Errorf("file %q: refused, yet kept: %+v -> %+v", bad.file, before, after)
			}
		}
		r := admin.upload(t, "/practice/import", csv)
		wantStatus(t, r, http.StatusSeeOther)
		preview := r.Header.Get("Location")
		r = admin.get(t, preview)
		wantStatus(t, r, http.StatusOK)
		for _, says := range []string{"The name is missing.", "The e-mail address is not valid.", "The date of birth is not a date",
			"on line 2 already", "Already invited or has an account", "Import and Invite"} {
			if !strings.Contains(r.Body, says) {
				t.Errorf("the preview does not say %q:\n%s", says, r.Body)
			}
		}
		before := e.invitationCount(t, riversideAdmin)
		r = admin.post(t, preview, url.Values{csrfField: {admin.token(t)}})
		if htmx {
			wantFragment(t, r, "import", "")
			if !strings.Contains(r.Body, "Imported: 2 patients were invited.") {
				t.Errorf("the confirmation says:\n%s", r.Body)
			}
		} else {
			wantRedirect(t, r, preview+"?invited=2")
		}
		if n := e.invitationCount(t, riversideAdmin) - before; n != 2 {
			t.Errorf("%d invited, want 2 (Ana Reyes and Ben Ode)", n)
		}
		r = admin.post(t, preview, url.Values{csrfField: {admin.token(t)}})
		wantStatus(t, r, http.StatusConflict)
		// The same file again: nobody is left to invite.
		r = admin.upload(t, "/practice/import", csv)
		again := admin.get(t, r.Header.Get("Location"))
		if strings.Contains(again.Body, "Import and Invite") || strings.Count(again.Body, "Already invited or has an account") != 3 {
			t.Errorf("the same file again offers to invite:\n%s", again.Body)
		}
		if n := e.invitationCount(t, riversideAdmin) - before; n != 2 {
			t.Errorf("%d invited after the second upload, want 2", n)
		}
	})
}
