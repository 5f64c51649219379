// Package views owns the HTML: pages, and the partials that htmx swaps in. Each partial owns one
// DOM id and renders on its own, so a full page and an htmx fragment come from the very same
// template. Pages are composed from partials rather than wrapped in a layout, because the
// template engine serialises every render that names a layout.
//
// Nothing here turns user text into template.HTML, and no user text goes into hx-on, hx-vals or
// hx-headers: html/template escapes for the context it sees, and it does not see into those. The
// one template.HTML a page writes is each conversation's <li>, partials/conversation's own
// escaped output, kept whole by the app's conversation cache.
package views

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"

	"github.com/gofiber/template/html/v2"
)

//go:embed pages partials
var files embed.FS

// Set is the parsed templates. gofiber/template/html loads and parses them; Set executes them
// itself, because the engine's Render adds a function to the template set on every call, even
// with no layout (html v2.1.3, the last of v2). That write takes the lock of the set's function
// table, which every function call of every other render takes to read, so concurrent renders
// queued behind one another (docs/performance.md). Executing the looked-up template writes
// nothing shared, so renders run side by side.
type Set struct {
	templates *template.Template
}

// New parses every template now, so a mistake stops start-up instead of a request.
func New(funcs template.FuncMap) (*Set, error) {
	engine := html.NewFileSystem(indentless{http.FS(files)}, ".html")
	engine.AddFuncMap(funcs)
	if err := engine.Load(); err != nil {
		return nil, err
	}
	return &Set{templates: engine.Templates}, nil
}

// Lookup is the template called name, or nil.
func (s *Set) Lookup(name string) *template.Template {
	return s.templates.Lookup(name)
}

// Load is fiber.Views' loader: New has parsed every template already.
func (s *Set) Load() error { return nil }

// Render writes the template called name for data into w: fiber.Views' renderer. Pages call
// their partials themselves, so a layout is a mistake (CONVENTIONS 8).
func (s *Set) Render(w io.Writer, name string, data any, layout ...string) error {
	if len(layout) > 0 && layout[0] != "" {
		return errors.New("views: pages are composed from partials, not wrapped in a layout")
	}
	t := s.Lookup(name)
	if t == nil {
		return fmt.Errorf("views: no template %s", name)
	}
	return t.Execute(w, data)
}
