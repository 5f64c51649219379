package views

import (
	"html/template"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

func read(t *testing.T, fs http.FileSystem, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || info.Name() != name[strings.LastIndex(name, "/")+1:] {
		t.Fatalf("Stat of %s: %v, %v", name, info, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndentlessCutsTheTemplatesIndentationNotTheirText(t *testing.T) {
	fs := indentless{http.FS(fstest.MapFS{
		"partials/list.html": {Data: []byte("<ul>\r\n  <li>{{.}}</li>\n\t\n  <li>two  words</li> \n</ul>\n")},
		"static/notes.txt":   {Data: []byte("  kept\n    as it is\n")},
	})}

	got := read(t, fs, "partials/list.html")
	if want := "<ul>\n<li>{{.}}</li>\n<li>two  words</li>\n</ul>\n"; got != want {
		t.Errorf("template text %q, want %q", got, want)
	}
	if got := read(t, fs, "static/notes.txt"); got != "  kept\n    as it is\n" {
		t.Errorf("a file that is not a template changed: %q", got)
	}

	// What a user typed is data, not template text: it is written as typed.
	var out strings.Builder
	typed := "Dose:\n    morning 10 mg\n    evening 5 mg"
	if err := template.Must(template.New("").Parse(got)).Execute(&out, typed); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "<li>"+typed+"</li>") {
		t.Errorf("the data's own line breaks and spaces were changed: %q", out.String())
	}
}
