// Package htmltest reads the HTML our templates write, for tests that look at pages the way a
// browser would: by element, id, link text and form, rather than by substring. It parses with
// encoding/xml in its lenient HTML mode (void elements, attributes without values, HTML
// entities), which is enough for markup that html/template wrote and that closes its elements;
// it is not a general HTML parser, and nothing outside tests may use it. ParseDocument and
// ParseFragment read any HTML, the way browsers do, with golang.org/x/net/html (the parser the
// HTML specification's algorithm is written for), into the same tree: for tests that must see
// a page exactly as a browser would build it, whatever was injected into it.
package htmltest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Node is an element, a run of text (Tag empty) or, from ParseDocument and ParseFragment, a
// comment (Tag "#comment", its text in Text).
type Node struct {
	Tag    string
	Attr   map[string]string // by name; the first of attributes written twice
	Attrs  []Attr            // every attribute as written, in order, repeats included
	Text   string            // text and comment nodes only
	Kids   []*Node
	Parent *Node
}

// Attr is one attribute as written.
type Attr struct{ Key, Val string }

// Comment is the tag of comment nodes.
const Comment = "#comment"

// ParseDocument reads a whole page as a browser does (html, head and body are implied when
// missing), under a root node whose Tag is "#root".
func ParseDocument(s string) (*Node, error) {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("htmltest: %w", err)
	}
	root := &Node{Tag: "#root"}
	for c := doc.FirstChild; c != nil; c = c.NextSibling {
		adopt(root, c)
	}
	return root, nil
}

// ParseFragment reads an htmx fragment the way htmx does: as the content of a <body>.
func ParseFragment(s string) (*Node, error) {
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		return nil, fmt.Errorf("htmltest: %w", err)
	}
	root := &Node{Tag: "#root"}
	for _, n := range nodes {
		adopt(root, n)
	}
	return root, nil
}

// adopt appends h, and everything under it, to parent's children (doctypes left out).
func adopt(parent *Node, h *html.Node) {
	var n *Node
	switch h.Type {
	case html.ElementNode:
		n = &Node{Tag: h.Data, Attr: map[string]string{}}
		for _, a := range h.Attr {
			key := a.Key
			if a.Namespace != "" {
				key = a.Namespace + ":" + a.Key
			}
			n.Attrs = append(n.Attrs, Attr{key, a.Val})
			if _, seen := n.Attr[key]; !seen {
				n.Attr[key] = a.Val
			}
		}
	case html.TextNode:
		n = &Node{Text: h.Data}
	case html.CommentNode:
		n = &Node{Tag: Comment, Text: h.Data}
	default:
		return
	}
	n.Parent = parent
	parent.Kids = append(parent.Kids, n)
	for c := h.FirstChild; c != nil; c = c.NextSibling {
		adopt(n, c)
	}
}

// Parse reads a whole page or a fragment (several top-level elements) into a tree under a root
// node whose Tag is "#root".
func Parse(s string) (*Node, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &Node{Tag: "#root"}
	cur := root
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("htmltest: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &Node{Tag: strings.ToLower(name(t.Name)), Attr: map[string]string{}, Parent: cur}
			for _, a := range t.Attr {
				key := strings.ToLower(name(a.Name))
				n.Attrs = append(n.Attrs, Attr{key, a.Value})
				n.Attr[key] = a.Value
			}
			cur.Kids = append(cur.Kids, n)
			cur = n
		case xml.EndElement:
			if cur.Parent == nil || cur.Tag != strings.ToLower(name(t.Name)) {
				return nil, fmt.Errorf("htmltest: </%s> closes <%s>", name(t.Name), cur.Tag)
			}
			cur = cur.Parent
		case xml.CharData:
			cur.Kids = append(cur.Kids, &Node{Text: string(t), Parent: cur})
		}
	}
	if cur != root {
		return nil, fmt.Errorf("htmltest: <%s> is never closed", cur.Tag)
	}
	return root, nil
}

// name puts back the colon of attributes such as hx-headers:inherited, which encoding/xml
// reads as a namespace prefix.
func name(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// All returns every element under n (n itself included) that match accepts, in document order.
func (n *Node) All(match func(*Node) bool) []*Node {
	var out []*Node
	var walk func(*Node)
	walk = func(m *Node) {
		if m.Tag != "" && match(m) {
			out = append(out, m)
		}
		for _, k := range m.Kids {
			walk(k)
		}
	}
	walk(n)
	return out
}

// First is the first element under n that match accepts, or nil.
func (n *Node) First(match func(*Node) bool) *Node {
	if all := n.All(match); len(all) > 0 {
		return all[0]
	}
	return nil
}

// ByID is the element with that id, or nil.
func (n *Node) ByID(id string) *Node {
	return n.First(func(m *Node) bool { return m.Attr["id"] == id })
}

// Tag matches elements by tag name.
func Tag(tag string) func(*Node) bool {
	return func(m *Node) bool { return m.Tag == tag }
}

// TagText matches elements by tag name and visible text, compared with spaces collapsed.
func TagText(tag, text string) func(*Node) bool {
	return func(m *Node) bool { return m.Tag == tag && m.TextContent() == text }
}

// TextContent is the text under n with runs of white space collapsed to one space.
func (n *Node) TextContent() string {
	var b strings.Builder
	n.eachText(func(text string) {
		b.WriteString(text)
		b.WriteByte(' ')
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// eachText calls f with each run of text under n, in document order.
func (n *Node) eachText(f func(text string)) {
	if n.Tag == "" {
		f(n.Text)
	}
	for _, k := range n.Kids {
		k.eachText(f)
	}
}

// Contains reports whether m is n or lies under it.
func (n *Node) Contains(m *Node) bool {
	for ; m != nil; m = m.Parent {
		if m == n {
			return true
		}
	}
	return false
}

// Closest is the nearest element at or above n that match accepts, or nil.
func (n *Node) Closest(match func(*Node) bool) *Node {
	for m := n; m != nil; m = m.Parent {
		if m.Tag != "" && m.Tag != "#root" && match(m) {
			return m
		}
	}
	return nil
}

// Form is a control's form owner, as a browser finds it: the form its form attribute names,
// else the form it lies in; nil if neither.
func (n *Node) Form() *Node {
	if id := n.Attr["form"]; id != "" {
		root := n
		for root.Parent != nil {
			root = root.Parent
		}
		if f := root.ByID(id); f != nil && f.Tag == "form" {
			return f
		}
		return nil
	}
	return n.Closest(Tag("form"))
}

// Submits is the form as pressing the submit button n sends it: a copy of n's form owner
// (Form) whose action is the button's formaction, where it has one, as a browser takes it, and
// whose hx-post, hx-target, hx-swap and hx-push-url are the button's, where it has them, as
// htmx 4 takes them (it ignores formaction); nil if n has no form. The copy shares the form's
// children, so FormValues reads the fields as they are.
func (n *Node) Submits() *Node {
	f := n.Form()
	if f == nil {
		return nil
	}
	form := *f
	form.Attr = map[string]string{}
	for k, v := range f.Attr {
		form.Attr[k] = v
	}
	if a, ok := n.Attr["formaction"]; ok {
		form.Attr["action"] = a
	}
	for _, name := range []string{"hx-post", "hx-target", "hx-swap", "hx-push-url"} {
		if v, ok := n.Attr[name]; ok {
			form.Attr[name] = v
		}
	}
	return &form
}

// HX is the htmx attribute name of n as htmx 4 reads it: n's own, else the nearest ancestor's
// name:inherited (htmx 4 inherits only what is marked so); "" if none.
func (n *Node) HX(name string) string {
	if v, ok := n.Attr[name]; ok {
		return v
	}
	for m := n.Parent; m != nil; m = m.Parent {
		if v, ok := m.Attr[name+":inherited"]; ok {
			return v
		}
	}
	return ""
}

// Next is the first element after n in document order, outside n, that match accepts (what
// htmx 4's "next <selector>" target finds); nil if none.
func (n *Node) Next(match func(*Node) bool) *Node {
	root := n
	for root.Parent != nil {
		root = root.Parent
	}
	passed := false
	for _, m := range root.All(func(*Node) bool { return true }) {
		switch {
		case m == n:
			passed = true
		case passed && !n.Contains(m) && match(m):
			return m
		}
	}
	return nil
}

// HasClass reports whether the element's class attribute lists c.
func (n *Node) HasClass(c string) bool {
	for _, f := range strings.Fields(n.Attr["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// FormValues are the values a browser would submit for a form: named inputs (checkboxes and
// radios only when checked), textareas, and each select's selected option (else its first).
// The submit button itself has no name in our forms, so it adds nothing.
func (n *Node) FormValues() url.Values {
	v := url.Values{}
	for _, el := range n.All(func(m *Node) bool {
		return m.Tag == "input" || m.Tag == "textarea" || m.Tag == "select"
	}) {
		name, ok := el.Attr["name"]
		if !ok || name == "" {
			continue
		}
		_, disabled := el.Attr["disabled"]
		if disabled {
			continue
		}
		switch el.Tag {
		case "input":
			switch el.Attr["type"] {
			case "checkbox", "radio":
				if _, checked := el.Attr["checked"]; !checked {
					continue
				}
				value, ok := el.Attr["value"]
				if !ok {
					value = "on"
				}
				v.Add(name, value)
			case "submit", "button", "reset", "image", "file":
			default:
				v.Add(name, el.Attr["value"])
			}
		case "textarea":
			// The HTML parser drops one newline right after <textarea>; so does a browser.
			v.Add(name, strings.TrimPrefix(el.TextContentRaw(), "\n"))
		case "select":
			options := el.All(Tag("option"))
			var chosen *Node
			for _, o := range options {
				if _, sel := o.Attr["selected"]; sel {
					chosen = o
				}
			}
			if chosen == nil && len(options) > 0 {
				chosen = options[0]
			}
			if chosen != nil {
				value, ok := chosen.Attr["value"]
				if !ok {
					value = chosen.TextContent()
				}
				v.Add(name, value)
			}
		}
	}
	return v
}

// TextContentRaw is the text under n exactly as written, white space kept.
func (n *Node) TextContentRaw() string {
	var b strings.Builder
	n.eachText(func(text string) { b.WriteString(text) })
	return b.String()
}

// Input is the form's input, textarea or select named name, or nil.
func (n *Node) Input(name string) *Node {
	return n.First(func(m *Node) bool {
		return (m.Tag == "input" || m.Tag == "textarea" || m.Tag == "select") && m.Attr["name"] == name
	})
}

// ReplaceWith puts nodes where n is, as htmx's outerHTML swap does.
func (n *Node) ReplaceWith(nodes ...*Node) {
	p := n.Parent
	for i, k := range p.Kids {
		if k != n {
			continue
		}
		kids := append([]*Node(nil), p.Kids[:i]...)
		for _, m := range nodes {
			m.Parent = p
			kids = append(kids, m)
		}
		p.Kids = append(kids, p.Kids[i+1:]...)
		n.Parent = nil
		return
	}
}

// Elements are n's child elements, without the text between them.
func (n *Node) Elements() []*Node {
	var out []*Node
	for _, k := range n.Kids {
		if k.Tag != "" {
			out = append(out, k)
		}
	}
	return out
}
