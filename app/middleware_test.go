package app

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPagesAreGzippedForEveryBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	plain := patient.get(t, "/inbox")
	wantStatus(t, plain, http.StatusOK)
	if enc := plain.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q", enc)
	}
	// What browsers send today, and what an old one sends.
	for _, accept := range []string{"gzip, deflate, br, zstd", "br, gzip", "gzip"} {
		zipped := patient.get(t, "/inbox", "Accept-Encoding", accept)
		wantStatus(t, zipped, http.StatusOK)
		if enc := zipped.Header.Values("Content-Encoding"); len(enc) != 1 || enc[0] != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip", accept, enc)
			continue
		}
		if !strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: Vary %q, want Accept-Encoding in it", accept, zipped.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(strings.NewReader(zipped.Body))
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		page, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		if len(zipped.Body) >= len(page)/4 {
			t.Errorf("Accept-Encoding %q: %d bytes sent for %d of HTML", accept, len(zipped.Body), len(page))
		}
		if withoutToken(string(page)) != withoutToken(plain.Body) {
			t.Errorf("Accept-Encoding %q: the page unpacks to other HTML than the uncompressed one", accept)
		}
	}
}

// The request log carries the status that was sent, also when a handler returned an error that
// the error handler turned into the answer: a 404 for another patient's message, a 500 when the
// database refuses a statement, and a 422 for a form that comes back to be fixed.
func TestRequestLogHasTheStatusSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	toms := e.start(t, tom, "Tom's question", "Tom's text")
	notFound := patient.get(t, "/messages/"+itoa(toms.MessageID))
	wantStatus(t, notFound, http.StatusNotFound)
	bad := anyForm()
	bad.Set("subject", " ")
	unfit := patient.post(t, "/messages", bad)
	wantStatus(t, unfit, http.StatusUnprocessableEntity)
	// A fault on our side: the table of failed sign-ins is gone from under the app.
	if _, err := e.st.DB().Exec(`ALTER TABLE signin_failures RENAME TO signin_failures_gone`); err != nil {
		t.Fatal(err)
	}
	failed := e.anon().send(t, "POST", "/signin", url.Values{"email": {maria}, "password": {"wrong"}})
	wantStatus(t, failed, http.StatusInternalServerError)

	for _, tc := range []struct {
		r      *response
		route  string
		status float64
	}{{notFound, "/messages/:id", 404}, {unfit, "/messages", 422}, {failed, "/signin", 500}} {
		id := tc.r.Header.Get("X-Request-Id")
		var found []map[string]any
		for _, line := range e.log.lines(t) {
			if line["msg"] == "request" && line["request_id"] == id {
				found = append(found, line)
			}
		}
		if len(found) != 1 || found[0]["status"] != tc.status || found[0]["route"] != tc.route {
			t.Errorf("request %s (%s, %d): logged %v, want one line with status %v", id, tc.route, tc.r.Status, found, tc.status)
		}
	}
}
