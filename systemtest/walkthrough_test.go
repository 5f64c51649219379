package systemtest

// The walk-through drives the whole system over real HTTP the way a browser does, and nothing
// else: it follows the links and submits the forms it finds in the HTML, with a cookie jar.
// Once as a browser without JavaScript (plain links and forms, redirects after POST), once as
// htmx does it (HX-Request, the token from hx-headers, the fragment swapped into the page).
// Everything it knows about the page it reads from what the server sent.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securemessages/realtime"
	"securemessages/store"
	"securemessages/views/htmltest"
)

// walkSystem is the binary's own wiring (main.go's serve) on a loopback port: the demo database,
// a private Redis, the hub subscribed to it, and a listener to Redis's event channel that records
// what crosses it.
type walkSystem struct {
	base   string
	st     *store.Store
	events *walkEvents
}

func startWalkSystem(t *testing.T) *walkSystem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sys := newSystem(t)
	cfg := sys.config(t)
	client, err := realtime.Connect(cfg.RedisURL, cfg.RedisTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })

	// Listen to the channel before anything is published.
	events := &walkEvents{}
	sub := client.Subscribe(ctx, realtime.Channel)
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	go events.record(sub.Channel())
	t.Cleanup(func() { sub.Close() })

	srv, err := startApp(cfg, "127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-srv.served
		if srv.serveErr != nil {
			t.Errorf("serve: %v", srv.serveErr)
		}
		srv.stopHub()
		srv.closeConnections()
	})
	return &walkSystem{base: srv.URL, st: srv.st, events: events}
}

// walkEvents is every payload published on the event channel, in order.
type walkEvents struct {
	mu       sync.Mutex
	payloads []string
	seen     int // payloads already claimed by expect
}

func (l *walkEvents) record(ch <-chan *redis.Message) {
	for m := range ch {
		l.mu.Lock()
		l.payloads = append(l.payloads, m.Payload)
		l.mu.Unlock()
	}
}

// expect waits for the next published event of kind, and checks that it is ids and a kind only.
func (l *walkEvents) expect(t *testing.T, kind string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(secWait)
	for {
		l.mu.Lock()
		for l.seen < len(l.payloads) {
			payload := l.payloads[l.seen]
			l.seen++
			var e map[string]any
			if err := json.Unmarshal([]byte(payload), &e); err != nil {
				l.mu.Unlock()
				t.Fatalf("unreadable event %q: %v", payload, err)
			}
			for k, v := range e {
				_, number := v.(float64)
				if !(number && slices.Contains([]string{"id", "practice_id", "patient_id", "conversation_id", "message_id"}, k)) && k != "kind" {
					t.Errorf("event %s carries %q: %v; only ids and a kind may cross Redis", payload, k, v)
				}
			}
			if e["kind"] == kind {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s event published", kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// all is every payload so far, joined, for checking that no text crossed Redis.
func (l *walkEvents) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.payloads, "\n")
}

// walker is one browser tab with its cookie jar: the address bar and the document shown.
type walker struct {
	t     *testing.T
	sys   *walkSystem
	http  *http.Client
	htmx  bool // htmx on: links and forms with hx-* attributes swap fragments
	swaps int  // fragments swapped in

	url *url.URL
	doc *htmltest.Node
}

func (s *walkSystem) newWalker(t *testing.T, htmx bool) *walker {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &walker{t: t, sys: s, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}, htmx: htmx}
}

// request sends what the browser would: same-origin headers, and the form, if any.
func (w *walker) request(method, target string, form url.Values, header http.Header) *http.Response {
	w.t.Helper()
	u, err := url.Parse(w.sys.base)
	if err != nil {
		w.t.Fatal(err)
	}
	if w.url != nil {
		u = w.url
	}
	ref, err := u.Parse(target)
	if err != nil {
		w.t.Fatalf("link %q: %v", target, err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, ref.String(), body)
	if err != nil {
		w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if method != http.MethodGet {
		req.Header.Set("Origin", w.sys.base)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, ref, err)
	}
	return resp
}

// load shows a whole page: the address bar moves to where redirects ended.
func (w *walker) load(method, target string, form url.Values) int {
	w.t.Helper()
	resp := w.request(method, target, form, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	if !strings.Contains(string(b), "<html") {
		w.t.Fatalf("%s %s: status %d, not a page:\n%s", method, target, resp.StatusCode, b)
	}
	doc, err := htmltest.Parse(string(b))
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, target, err)
	}
	w.url, w.doc = resp.Request.URL, doc
	return resp.StatusCode
}

// swap does what htmx does for an element with hx-get or hx-post: it sends the request with
// HX-Request and the page's hx-headers, and puts the fragment in place of the target.
func (w *walker) swap(el *htmltest.Node, method, target string, form url.Values) int {
	w.t.Helper()
	header := http.Header{"Hx-Request": {"true"}, "Hx-Current-Url": {w.url.String()}}
	var inherited map[string]string
	if err := json.Unmarshal([]byte(w.doc.First(htmltest.Tag("body")).Attr["hx-headers:inherited"]), &inherited); err != nil {
		w.t.Fatalf("the page's hx-headers: %v", err)
	}
	for k, v := range inherited {
		header.Set(k, v)
	}
	resp := w.request(method, target, form, header)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	if to := resp.Header.Get("HX-Redirect"); to != "" {
		return w.load(http.MethodGet, to, nil)
	}
	if resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode
	}
	if strings.Contains(string(b), "<html") {
		w.t.Fatalf("%s %s with HX-Request: a whole page instead of a fragment", method, target)
	}
	into := el.HX("hx-target")
	if rt := resp.Header.Get("HX-Retarget"); rt != "" {
		into = rt
	}
	how := el.HX("hx-swap")
	if rs := resp.Header.Get("HX-Reswap"); rs != "" {
		how = rs
	}
	if how != "outerHTML" {
		w.t.Fatalf("%s %s: swap %q into %q; the walker knows only outerHTML", method, target, how, into)
	}
	var old *htmltest.Node
	switch {
	case strings.HasPrefix(into, "#"):
		old = w.doc.ByID(into[1:])
	case strings.HasPrefix(into, "next ."):
		class := strings.TrimPrefix(into, "next .")
		old = el.Next(func(n *htmltest.Node) bool { return n.HasClass(class) })
	default:
		w.t.Fatalf("%s %s: swap into %q; the walker knows an id and \"next .class\"", method, target, into)
	}
	if old == nil || old.Attr["id"] == "" {
		w.t.Fatalf("%s %s: the page has no %s with an id to swap into", method, target, into)
	}
	frag, err := htmltest.Parse(string(b))
	if err != nil {
		w.t.Fatal(err)
	}
	// What the fragment swaps out of band (the heading's count of new messages) replaces the
	// element of its id wherever it is, as htmx does, before the rest is swapped in.
	var roots []*htmltest.Node
	for _, e := range frag.Elements() {
		if e.Attr["hx-swap-oob"] != "true" {
			roots = append(roots, e)
			continue
		}
		there := w.doc.ByID(e.Attr["id"])
		if there == nil {
			w.t.Fatalf("%s %s: the fragment swaps #%s out of band, which the page lacks", method, target, e.Attr["id"])
		}
		delete(e.Attr, "hx-swap-oob")
		there.ReplaceWith(e)
	}
	if len(roots) != 1 || roots[0].Attr["id"] != old.Attr["id"] {
		w.t.Fatalf("%s %s: fragment for #%s is not one element with that id:\n%s", method, target, old.Attr["id"], b)
	}
	old.ReplaceWith(roots...)
	w.swaps++
	push := resp.Header.Get("HX-Push-Url")
	if push == "" && el.HX("hx-push-url") == "true" {
		push = target
	} else if p := el.HX("hx-push-url"); push == "" && p != "" && p != "false" {
		push = p
	}
	if push != "" {
		u, err := w.url.Parse(push)
		if err != nil {
			w.t.Fatal(err)
		}
		w.url = u
	}
	return resp.StatusCode
}

// click follows a link: with htmx, its hx-get swap; without, its href.
func (w *walker) click(a *htmltest.Node) {
	w.t.Helper()
	var status int
	if get := a.Attr["hx-get"]; w.htmx && get != "" {
		status = w.swap(a, http.MethodGet, get, nil)
	} else {
		status = w.load(http.MethodGet, a.Attr["href"], nil)
	}
	if status != http.StatusOK {
		w.t.Fatalf("following %q: status %d", a.TextContent(), status)
	}
}

// submit sends a form as filled in: with htmx, its hx-post swap; without, a plain POST.
func (w *walker) submit(f *filled) {
	w.t.Helper()
	var status int
	if post := f.form.Attr["hx-post"]; w.htmx && post != "" {
		values := copyForm(f.values)
		values.Del("_csrf") // htmx sends the page's token in the header
		status = w.swap(f.form, http.MethodPost, post, values)
	} else {
		status = w.load(http.MethodPost, f.form.Attr["action"], f.values)
	}
	if status != http.StatusOK {
		w.t.Fatalf("submitting %s: status %d\n%s", f.form.Attr["action"], status, w.doc.TextContent())
	}
}

func copyForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// filled is a form being filled in, only through the controls it has.
type filled struct {
	t      *testing.T
	form   *htmltest.Node
	values url.Values
}

func (w *walker) fill(form *htmltest.Node) *filled {
	w.t.Helper()
	if form == nil || form.Tag != "form" {
		w.t.Fatal("no form")
	}
	return &filled{t: w.t, form: form, values: form.FormValues()}
}

// typeIn types into the text field or textarea labelled label.
func (f *filled) typeIn(label, text string) *filled {
	f.t.Helper()
	f.values.Set(f.labelled(label).Attr["name"], text)
	return f
}

// choose picks the option shown as option in the drop-down labelled label.
func (f *filled) choose(label, option string) *filled {
	f.t.Helper()
	sel := f.labelled(label)
	o := sel.First(htmltest.TagText("option", option))
	if o == nil {
		f.t.Fatalf("%q offers no %q", label, option)
	}
	f.values.Set(sel.Attr["name"], o.Attr["value"])
	return f
}

// tick ticks the checkbox labelled label.
func (f *filled) tick(label string) *filled {
	f.t.Helper()
	box := f.labelled(label)
	f.values.Set(box.Attr["name"], box.Attr["value"])
	return f
}

// labelled finds a control by its label's visible text (the start of it).
func (f *filled) labelled(label string) *htmltest.Node {
	f.t.Helper()
	l := f.form.First(func(n *htmltest.Node) bool { return n.Tag == "label" && strings.HasPrefix(n.TextContent(), label) })
	if l == nil {
		f.t.Fatalf("the form has no field labelled %q", label)
	}
	control := f.form.ByID(l.Attr["for"])
	if control == nil {
		f.t.Fatalf("label %q is for nothing", label)
	}
	return control
}

// link is the link with this text under within.
func (w *walker) link(within *htmltest.Node, text string) *htmltest.Node {
	w.t.Helper()
	a := within.First(htmltest.TagText("a", text))
	if a == nil {
		w.t.Fatalf("no %q link in:\n%s", text, within.TextContent())
	}
	return a
}

// buttonForm is the form of the button with this text under within, as the button submits it.
func (w *walker) buttonForm(within *htmltest.Node, text string) *htmltest.Node {
	w.t.Helper()
	b := within.First(htmltest.TagText("button", text))
	if b == nil {
		w.t.Fatalf("no %q button in:\n%s", text, within.TextContent())
	}
	return b.Submits()
}

// message is the message shown with this subject whose flag names who ("Sent by you",
// "From Dr. Amelia Chen"); nil if there is none.
func (w *walker) message(subject, who string) *htmltest.Node {
	for _, li := range w.doc.All(func(n *htmltest.Node) bool { return n.HasClass("msg") }) {
		row := li.First(func(n *htmltest.Node) bool { return n.HasClass("msg-row") })
		s := row.First(func(n *htmltest.Node) bool { return n.HasClass("subject") })
		f := row.First(func(n *htmltest.Node) bool { return n.HasClass("flag") })
		if s != nil && f != nil && s.TextContent() == subject && strings.Contains(f.TextContent(), who) {
			return li
		}
	}
	return nil
}

// mustMessage is message, failing the test when it is not shown.
func (w *walker) mustMessage(subject, who string) *htmltest.Node {
	w.t.Helper()
	li := w.message(subject, who)
	if li == nil {
		w.t.Fatalf("no message %q (%s) shown; the page says:\n%s", subject, who, w.doc.TextContent())
	}
	return li
}

// msgActions is a message's own actions, without its replies'.
func msgActions(li *htmltest.Node) *htmltest.Node {
	return li.First(func(n *htmltest.Node) bool { return n.HasClass("actions") })
}

// msgSlot is the panel under a message.
func msgSlot(li *htmltest.Node) *htmltest.Node {
	return li.First(func(n *htmltest.Node) bool { return n.HasClass("slot") })
}

// conversations are the conversations listed, top to bottom.
func (w *walker) conversations() []*htmltest.Node {
	return w.doc.All(func(n *htmltest.Node) bool { return strings.HasPrefix(n.Attr["id"], "conversation-") })
}

// msgConversation is the conversation a message is in.
func msgConversation(li *htmltest.Node) *htmltest.Node {
	return li.Closest(func(n *htmltest.Node) bool { return strings.HasPrefix(n.Attr["id"], "conversation-") })
}

// wantNotice checks the notice at the top of the inbox.
func (w *walker) wantNotice(text string) {
	w.t.Helper()
	n := w.doc.ByID("notice")
	if n == nil || n.TextContent() != text {
		got := "(none)"
		if n != nil {
			got = n.TextContent()
		}
		w.t.Fatalf("notice %q, want %q", got, text)
	}
}

// wantPath checks the address bar.
func (w *walker) wantPath(path string) {
	w.t.Helper()
	if got := w.url.RequestURI(); got != path {
		w.t.Errorf("address %q, want %q", got, path)
	}
}

func (w *walker) signIn(email string) {
	w.t.Helper()
	w.load(http.MethodGet, "/", nil)
	w.wantPath("/signin")
	form := w.doc.First(htmltest.Tag("form"))
	status := w.load(http.MethodPost, form.Attr["action"],
		w.fill(form).typeIn("Email", email).typeIn("Password", store.DemoPassword).values)
	if status != http.StatusOK {
		w.t.Fatalf("sign in as %s: status %d", email, status)
	}
	w.wantPath("/inbox")
}

func TestWalkThroughWithoutJavaScript(t *testing.T) {
	t.Parallel()
	walkThrough(t, false)
}

func TestWalkThroughWithHTMX(t *testing.T) {
	t.Parallel()
	walkThrough(t, true)
}

// walkThrough takes Maria Lopez, a Riverside patient, through everything the help page promises,
// and looks at each page as she would; then Dr. Chen checks the practice's side.
func walkThrough(t *testing.T, htmx bool) {
	const (
		patientEmail   = "maria.lopez@riverside.example"
		physicianEmail = "physician@riverside.example"
		me             = "Sent by you"
		drChen         = "From Dr. Amelia Chen"
		refill         = "Re: Refill for my blood pressure medication"
		checkup        = "Your annual check-up is due"
		lab            = "Question about my lab results"
		subject        = "Dizzy when I stand up"
		body           = "Since I started the new tablets I feel dizzy for a few seconds when I stand up."
		followUp       = "It happened again this morning, twice."
		reply          = "Yes, my readings have stayed around 125/78."
	)
	sys := startWalkSystem(t)
	w := sys.newWalker(t, htmx)
	// reload loads the current address as a whole page, as a reload or a return visit does.
	reload := func() { w.load(http.MethodGet, w.url.RequestURI(), nil) }

	w.signIn(patientEmail)
	if !strings.Contains(w.doc.TextContent(), "Signed in as Maria Lopez") ||
		!strings.Contains(w.doc.TextContent(), "For non-urgent requests only.") {
		t.Fatalf("the inbox does not greet Maria with the non-urgent notice:\n%s", w.doc.TextContent())
	}

	// Compose, from the green button at the top of the inbox.
	compose := w.link(w.doc.ByID("inbox"), "Compose Message")
	if !compose.HasClass("btn-go") {
		t.Error("Compose Message is not the green button")
	}
	w.click(compose)
	w.wantPath("/messages/new")
	section := w.doc.ByID("compose")
	if section == nil || section.Tag != "section" {
		t.Fatal("the compose form did not open")
	}
	if !strings.Contains(section.TextContent(), "I agree to be billed $25.00 for this message.") {
		t.Error("no consent box with Riverside's fee")
	}
	w.submit(w.fill(section.First(htmltest.Tag("form"))).
		typeIn("Subject", subject).
		typeIn("Complaints / Questions / Symptoms", body).
		choose("Staff member to respond", "Dr. Amelia Chen (Physician)").
		choose("How should we respond?", "Phone call").
		tick("I agree to be billed"))
	w.wantNotice("Your message was sent.")
	mine := w.mustMessage(subject, me)
	if first := w.conversations()[0]; first != msgConversation(mine) || first.First(func(n *htmltest.Node) bool { return n.HasClass("msg") }) != mine {
		t.Error("the new message is not at the top of the inbox")
	}
	sent := sys.events.expect(t, store.EventMessageSent)
	if "message-"+sys.ids(t).Message(idOf(sent["message_id"])) != mine.Attr["id"] {
		t.Errorf("message_sent event %v is not for %s", sent, mine.Attr["id"])
	}

	// Its details, then closed again.
	w.click(w.link(msgActions(mine), "Show Details"))
	mine = w.mustMessage(subject, me)
	details := msgSlot(mine).TextContent()
	for _, want := range []string{body, "Requested staff member Dr. Amelia Chen", "Response method Phone call",
		"Billing consent Agreed to be billed $25.00"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q: %s", want, details)
		}
	}
	w.click(w.link(msgSlot(mine), "Close"))
	if text := msgSlot(w.mustMessage(subject, me)).TextContent(); text != "" {
		t.Errorf("the details stay open after Close: %q", text)
	}

	// A follow-up under it.
	w.click(w.link(msgActions(w.mustMessage(subject, me)), "Send Follow-Up"))
	form := msgSlot(w.mustMessage(subject, me)).First(htmltest.Tag("form"))
	w.submit(w.fill(form).typeIn("Message", followUp).tick("I agree to be billed"))
	w.wantNotice("Your message was sent.")
	mine = w.mustMessage(subject, me)
	fu := w.mustMessage("Re: "+subject, me)
	if !mine.Contains(fu) {
		t.Error("the follow-up is not nested under the message it follows")
	}
	if slices.Contains(actionLabels(msgActions(mine)), "Cancel") {
		t.Error("a message with a follow-up under it still offers Cancel")
	}
	if !slices.Contains(actionLabels(msgActions(fu)), "Cancel") {
		t.Error("the new follow-up, which nobody has acted on, offers no Cancel")
	}
	sys.events.expect(t, store.EventMessageSent)

	// A reply to Dr. Chen's question in the refill thread.
	drs := w.mustMessage(refill, drChen)
	w.click(w.link(msgActions(drs), "Reply"))
	form = msgSlot(w.mustMessage(refill, drChen)).First(htmltest.Tag("form"))
	if h := form.First(htmltest.Tag("h3")); h == nil || h.TextContent() != "Reply: "+refill {
		t.Error("the reply form does not say what it answers")
	}
	w.submit(w.fill(form).typeIn("Message", reply).tick("I agree to be billed"))
	w.wantNotice("Your message was sent.")
	drs = w.mustMessage(refill, drChen)
	var answered *htmltest.Node
	for _, li := range drs.All(func(n *htmltest.Node) bool { return n.HasClass("msg") && n != drs }) {
		if strings.Contains(li.First(func(n *htmltest.Node) bool { return n.HasClass("flag") }).TextContent(), me) &&
			li.Parent.Parent == drs {
			answered = li
		}
	}
	if answered == nil {
		t.Fatal("the reply is not nested right under Dr. Chen's message")
	}
	if w.conversations()[0] != msgConversation(drs) {
		t.Error("the refill thread, just answered, is not at the top")
	}
	sys.events.expect(t, store.EventMessageSent)
	// What she sees after a reload is what she saw after the swap.
	reload()
	w.mustMessage(refill, drChen)
	w.mustMessage("Re: "+subject, me)

	// Archive the check-up conversation: it leaves the open list.
	w.submit(w.fill(w.buttonForm(msgActions(w.mustMessage(checkup, "From Sam Rivera")), "Archive")))
	w.wantNotice("The conversation was archived.")
	if w.message(checkup, "From Sam Rivera") != nil {
		t.Error("the archived conversation is still listed")
	}
	archived := sys.events.expect(t, store.EventConversationArchived)

	// Show All Conversations: there it is, drawn archived, and it can only be read or re-opened.
	w.click(w.link(w.doc.ByID("inbox"), "Show All Conversations"))
	w.wantPath("/inbox?all=1")
	desk := w.mustMessage(checkup, "From Sam Rivera")
	conv := msgConversation(desk)
	if !conv.HasClass("archived") || !strings.HasPrefix(conv.Attr["aria-label"], "Archived conversation") {
		t.Error("the archived conversation is not drawn archived")
	}
	if conv.Attr["id"] != "conversation-"+sys.ids(t).Conversation(idOf(archived["conversation_id"])) {
		t.Errorf("archive event %v is not for %s", archived, conv.Attr["id"])
	}
	if got := actionLabels(msgActions(desk)); !slices.Equal(got, []string{"Show Details", "Re-Open"}) {
		t.Errorf("an archived message offers %q", got)
	}

	// Re-Open it, and it is open again, also in the open list.
	w.submit(w.fill(w.buttonForm(msgActions(desk), "Re-Open")))
	w.wantNotice("The conversation was re-opened.")
	if msgConversation(w.mustMessage(checkup, "From Sam Rivera")).HasClass("archived") {
		t.Error("the re-opened conversation is still drawn archived")
	}
	sys.events.expect(t, store.EventConversationReopened)
	w.click(w.link(w.doc.ByID("inbox"), "Show Open Conversations"))
	w.wantPath("/inbox")
	if got := actionLabels(msgActions(w.mustMessage(checkup, "From Sam Rivera"))); !slices.Contains(got, "Reply") {
		t.Errorf("the re-opened conversation offers %q", got)
	}

	// Cancel her follow-up, which nobody has acted on, through the question that comes first.
	w.click(w.link(msgActions(w.mustMessage("Re: "+subject, me)), "Cancel"))
	question := msgSlot(w.mustMessage("Re: "+subject, me))
	if !strings.Contains(question.TextContent(), "It will be deleted permanently, for you and for the care team.") {
		t.Fatalf("no confirmation before cancelling: %q", question.TextContent())
	}
	fuID := w.mustMessage("Re: "+subject, me).Attr["id"]
	w.submit(w.fill(w.buttonForm(question, "Cancel Message")))
	w.wantNotice("Your message was cancelled and deleted.")
	if w.message("Re: "+subject, me) != nil {
		t.Error("the cancelled follow-up is still shown")
	}
	w.mustMessage(subject, me) // what it followed stays
	cancelled := sys.events.expect(t, store.EventMessageCancelled)
	if "message-"+sys.ids(t).Message(idOf(cancelled["message_id"])) != fuID {
		t.Errorf("cancel event %v is not for %s", cancelled, fuID)
	}

	// Cancel the lab question, the only message of its conversation: the conversation goes too.
	w.click(w.link(msgActions(w.mustMessage(lab, me)), "Cancel"))
	w.submit(w.fill(w.buttonForm(msgSlot(w.mustMessage(lab, me)), "Cancel Message")))
	w.wantNotice("Your message was cancelled and deleted.")
	if w.message(lab, me) != nil {
		t.Error("the cancelled lab question is still shown")
	}
	sys.events.expect(t, store.EventMessageCancelled)
	reload()
	if w.message(lab, me) != nil || w.message("Re: "+subject, me) != nil {
		t.Error("cancelled messages come back on reload")
	}

	// Dr. Chen's side: Maria's message and reply are there; what she cancelled is gone for her too.
	dr := sys.newWalker(t, htmx)
	dr.signIn(physicianEmail)
	dr.load(http.MethodGet, "/inbox?all=1", nil)
	staffView := dr.doc.ByID("inbox").TextContent()
	for _, gone := range []string{lab, "Re: " + subject, followUp} {
		if strings.Contains(staffView, gone) {
			t.Errorf("the physician still sees %q, which Maria cancelled", gone)
		}
	}
	theirs := dr.mustMessage(subject, "From Maria Lopez")
	if !strings.Contains(msgConversation(theirs).TextContent(), "Maria Lopez") {
		t.Error("the staff view does not say whose conversation it is")
	}
	drsOwn := dr.mustMessage(refill, me)
	if dr.message(refill, "From Maria Lopez") == nil || !drsOwn.Contains(dr.message(refill, "From Maria Lopez")) {
		t.Error("Maria's reply is not under Dr. Chen's message on the staff side")
	}

	// With htmx, every step above was a swap: no link or form fell back to a whole page.
	if want := map[bool]int{false: 0, true: 16}[htmx]; w.swaps != want {
		t.Errorf("%d fragments swapped in, want %d", w.swaps, want)
	}

	// Nothing but ids and kinds crossed Redis.
	published := sys.events.all()
	for _, text := range []string{subject, body, followUp, reply, "Maria", "Lopez", "Chen", "Refill", lab} {
		if strings.Contains(published, text) {
			t.Errorf("%q was published on Redis:\n%s", text, published)
		}
	}
}

// actionLabels are the action labels a message offers.
func actionLabels(actions *htmltest.Node) []string {
	var out []string
	for _, n := range actions.All(func(n *htmltest.Node) bool { return n.Tag == "a" || n.Tag == "button" }) {
		out = append(out, n.TextContent())
	}
	return out
}

// idOf is an id from a decoded event (internal: what crosses Redis), which the page writes as a
// public one (walkSystem.ids).
func idOf(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// ids are the public ids the app writes pages with.
func (s *walkSystem) ids(t *testing.T) *store.PublicIDs { return idsAt(t, s.base) }
