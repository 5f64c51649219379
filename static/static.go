// Package static owns the files browsers fetch as they are: the stylesheet and the vendored
// htmx with its SSE extension (see vendor.sh). They are embedded in the binary and served under
// names that carry a hash of their content, so a browser may keep them for a year and still
// never run an old copy after a release.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"
)

//go:embed css js
var files embed.FS

// Asset is one file, ready to serve.
type Asset struct {
	Name        string // as requested: "css/app.3f2a1c9b.css"
	ContentType string
	Body        []byte
	Gzip        []byte // the same, compressed once at start-up
}

// Assets maps logical names ("css/app.css") to hashed names and back.
type Assets struct {
	byLogical map[string]*Asset
	byName    map[string]*Asset
}

// Load hashes and compresses every embedded file.
func Load() (*Assets, error) {
	a := &Assets{byLogical: map[string]*Asset{}, byName: map[string]*Asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(p)
		asset := &Asset{
			Name:        strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:])[:10] + ext,
			ContentType: mime.TypeByExtension(ext),
			Body:        body,
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(body)
		if err := w.Close(); err != nil {
			return err
		}
		asset.Gzip = gz.Bytes()
		a.byLogical[p] = asset
		a.byName[asset.Name] = asset
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return a, nil
}

// URL is the path a page links to for a logical name. An unknown name is a programming error
// that the template load catches at start-up.
func (a *Assets) URL(logical string) (string, error) {
	asset, ok := a.byLogical[logical]
	if !ok {
		return "", fmt.Errorf("static: no file %q", logical)
	}
	return "/static/" + asset.Name, nil
}

// Lookup finds an asset by its hashed name (the path after /static/).
func (a *Assets) Lookup(name string) (*Asset, bool) {
	asset, ok := a.byName[name]
	return asset, ok
}
