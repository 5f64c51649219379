package app

import (
	"net/http"
	"strings"
	"testing"

	"securemessages/views/htmltest"
)

// payload tries to break out of text, of a quoted attribute, and into htmx attributes.
const payload = `<script>alert(1)</script>"'><img src=x onerror=alert(1)> hx-get="/x"`

// wantEscaped fails if the payload reached the page as markup rather than text.
func wantEscaped(t *testing.T, r *response) *htmltest.Node {
	t.Helper()
	for _, raw := range []string{"<script>alert", "<img", `hx-get="/x"`, "onerror=alert(1)>"} {
		if strings.Contains(r.Body, raw) {
			t.Errorf("%s: %q appears unescaped", r.raw.Request.URL, raw)
		}
	}
	doc := r.doc(t)
	if n := doc.First(func(n *htmltest.Node) bool {
		return n.Tag == "img" || n.Attr["hx-get"] == "/x" || (n.Tag == "script" && n.Attr["src"] == "")
	}); n != nil {
		t.Errorf("%s: the payload made a <%s> element", r.raw.Request.URL, n.Tag)
	}
	return doc
}

func TestUserTextIsEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	form := filledCompose(t, e, patient, payload)
	form.Set("body", payload)
	wantRedirect(t, patient.sendForm(t, "/messages", form), "/inbox?notice=sent")
	sent := e.msg(t, maria, payload, maria)
	e.reply(t, physician, sent.ID, payload)
	id := e.mid(sent.ID)

	// The payload shows, as text, where a subject or body is shown.
	for _, c := range []*client{patient, patient.hx(), e.signIn(t, physician)} {
		for _, path := range []string{"/inbox", "/inbox?all=1", "/messages/" + id, "/messages/" + id + "/reply", "/messages/" + id + "/cancel"} {
			r := c.get(t, path)
			if r.Status != http.StatusOK && r.Status != http.StatusConflict {
				t.Fatalf("GET %s: status %d", path, r.Status)
			}
			doc := wantEscaped(t, r)
			if !strings.Contains(doc.TextContent(), payload) {
				t.Errorf("GET %s: the subject is not shown as typed", path)
			}
		}
	}

	// And in a form that comes back with a problem, in an attribute and in a textarea.
	bad := filledCompose(t, e, patient, payload)
	bad.Set("body", payload)
	bad.Del("consent")
	for _, c := range []*client{patient, patient.hx()} {
		r := c.sendForm(t, "/messages", bad)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		kept := wantEscaped(t, r).ByID("compose").First(htmltest.Tag("form")).FormValues()
		if kept.Get("subject") != payload || kept.Get("body") != payload {
			t.Errorf("the typed text does not come back as typed: %q / %q", kept.Get("subject"), kept.Get("body"))
		}
	}
}
