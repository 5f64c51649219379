// Package views owns the HTML: pages, and the partials that htmx swaps in. Each partial owns one
// DOM id and renders on its own, so a full page and an htmx fragment come from the very same
// template. Pages are composed from partials rather than wrapped in a layout, because the
// template engine serialises every render that names a layout.
//
// Nothing here turns user text into template.HTML, and no user text goes into hx-on, hx-vals or
// hx-headers: html/template escapes for the context it sees, and it does not see into those. The
// one template.HTML a page writes is a conversation's messages ({{thread .Messages}}), which is
// partials/thread's own escaped output, kept by the app's thread cache.
package views

import (
	"embed"
	"html/template"
	"net/http"

	"github.com/gofiber/template/html/v2"
)

//go:embed pages partials
var files embed.FS

// New parses every template now, so a mistake stops start-up instead of a request.
func New(funcs template.FuncMap) (*html.Engine, error) {
	engine := html.NewFileSystem(http.FS(files), ".html")
	engine.AddFuncMap(funcs)
	if err := engine.Load(); err != nil {
		return nil, err
	}
	return engine, nil
}
