package app

import (
	"compress/gzip"
	"io"
	"net/http"
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
