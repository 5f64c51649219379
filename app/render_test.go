package app

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// brokenViews writes half of "pages/broken" and fails; any other template writes its name.
type brokenViews struct{}

func (brokenViews) Load() error { return nil }

func (brokenViews) Render(w io.Writer, name string, _ any, _ ...string) error {
	if name == "pages/broken" {
		io.WriteString(w, "<p>half of a page")
		return errors.New("the template failed halfway")
	}
	_, err := io.WriteString(w, "<p>"+name)
	return err
}

// TestRenderWritesNothingOfAFailedTemplate: render writes straight into the response, so a
// template that fails halfway must leave nothing of itself behind the error page.
func TestRenderWritesNothingOfAFailedTemplate(t *testing.T) {
	a := &App{views: brokenViews{}, log: slog.New(slog.DiscardHandler)}
	f := fiber.New(fiber.Config{ErrorHandler: a.handleError, DisableStartupMessage: true})
	f.Get("/broken", func(c *fiber.Ctx) error { return a.render(c, view{page: "pages/broken"}) })
	f.Get("/fine", func(c *fiber.Ctx) error { return a.render(c, view{page: "pages/fine"}) })

	for path, want := range map[string]struct {
		status int
		body   string
	}{
		"/broken": {fiber.StatusInternalServerError, "<p>pages/error"},
		"/fine":   {fiber.StatusOK, "<p>pages/fine"},
	} {
		res, err := f.Test(httptest.NewRequest(fiber.MethodGet, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != want.status || string(body) != want.body {
			t.Errorf("GET %s: %d %q, want %d %q", path, res.StatusCode, body, want.status, want.body)
		}
		if ct := res.Header.Get(fiber.HeaderContentType); ct != fiber.MIMETextHTMLCharsetUTF8 {
			t.Errorf("GET %s: Content-Type %q, want %q", path, ct, fiber.MIMETextHTMLCharsetUTF8)
		}
	}
}
