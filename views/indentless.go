package views

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
)

// lineBreakRun is white space that holds a line break: a template's indentation.
var lineBreakRun = regexp.MustCompile(`[ \t\r]*\n[ \t\r\n]*`)

// indentless serves the templates with every run of white space that holds a line break cut to
// one line break. The templates keep their indentation for the people who read them, and the
// pages leave it out: every page paid for it in rendering and compressing, and a phone in
// parsing. A browser shows any run of white space as one space, so
// a page looks the same; no template holds a <pre>, and its textareas' text stays on one line.
type indentless struct{ http.FileSystem }

func (s indentless) Open(name string) (http.File, error) {
	f, err := s.FileSystem.Open(name)
	if err != nil || !strings.HasSuffix(name, ".html") {
		return f, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	text, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return trimmedFile{bytes.NewReader(lineBreakRun.ReplaceAll(text, []byte("\n"))), info}, nil
}

// trimmedFile is a template's trimmed text, read as an http.File.
type trimmedFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (trimmedFile) Close() error                       { return nil }
func (trimmedFile) Readdir(int) ([]fs.FileInfo, error) { return nil, fs.ErrInvalid }
func (f trimmedFile) Stat() (fs.FileInfo, error)       { return f.info, nil }
