package app

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/net/html"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// FuzzRenderMessage renders arbitrary text through the real templates, everywhere user text goes
// (a message's subject and body, its details, the reply and cancel panels, the compose form kept
// after a problem, the staff's view with a patient's and a staff member's name, the Try Again page
// after an outage, the sign-in form), parses the HTML as a browser does (golang.org/x/net/html),
// and requires the very element skeleton that plain text gives: no element, attribute, comment or
// script created from the text. `go test` runs the seeds; `go test -fuzz FuzzRenderMessage ./app`
// searches further.
func FuzzRenderMessage(f *testing.F) {
	for _, seed := range []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`' autofocus onfocus='alert(1)`,
		`" hx-get="/signout" hx-trigger="load`,
		`<div hx-on:click="alert(1)">x</div>`,
		`javascript:alert(1)`,
		`</textarea><script>alert(1)</script>`,
		`</title><svg onload=alert(1)>`,
		`<!-- x --><base href="//evil.example/">`,
		`{{.CSRFToken}}`,
		`'); DROP TABLE messages;--`,
		"\u202Eexe.pdf \u200B\uFEFF 👩‍⚕️ Z\u0337\u0321a\u0338",
		"line\r\nbreak\x00nul\x1b[31m",
		"\xff\xfe invalid UTF-8",
		strings.Repeat(`"'<>&`, 800),
		"",
	} {
		f.Add(seed, seed, seed)
	}
	engine, convs := fuzzViews(f)
	plain := map[string][]string{}
	for _, v := range renderCases(f, convs, "Plain subject", "Plain body", "Pat Plain") {
		plain[v.name] = fuzzSkeleton(f, render(f, engine, v))
	}
	f.Fuzz(func(t *testing.T, subject, body, name string) {
		// The templates leave out what is empty (no staff member requested, no patient name), so
		// empty text rightly changes the elements; it is never hostile.
		for _, s := range []*string{&subject, &body, &name} {
			if *s == "" {
				*s = "x"
			}
		}
		for _, v := range renderCases(t, convs, subject, body, name) {
			out := render(t, engine, v)
			doc, err := html.Parse(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			fuzzInert(t, v.name, doc)
			if got := fuzzSkeletonOf(doc); !slices.Equal(got, plain[v.name]) {
				t.Fatalf("%s: the text %q, %q, %q changed the page's elements:\n%s", v.name, subject, body, name, htmltest.FirstDifference(plain[v.name], got))
			}
		}
	})
}

// fuzzViews is the app's own template engine, as New loads it, and the conversations' renderer,
// keeping none.
func fuzzViews(tb testing.TB) (fiber.Views, *conversationHTML) {
	tb.Helper()
	set, convs := testViews(tb, 0)
	return set, convs
}

type renderCase struct {
	name     string
	template string
	data     any
}

// renderCases are the screens user text appears on, filled with subject, body and name.
func renderCases(tb testing.TB, convs *conversationHTML, subject, body, name string) []renderCase {
	sent := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	user := &store.User{ID: 7, FullName: "Maria Lopez", Role: store.RolePatient}
	base := func(title string) *ViewData {
		return &ViewData{Title: title, User: user, Practice: store.Practice{Name: "Riverside"}, CSRFToken: "token",
			CSRFHeaders: csrfHeaders("token")}
	}
	inbox := func(staff bool) (*ViewData, *MessageNode) {
		vd := base("Messages")
		iv := &InboxView{Staff: staff, CSRFToken: "token", LiveAfter: testIDs.Event(9), Page: 1, ids: testIDs,
			Compose: &ComposeForm{Subject: subject, Body: body, SubmitKey: "k", Fee: "$25.00", MaxSubject: 150, MaxBody: 4000,
				Staff: []Person{{ID: testIDs.User(3), FullName: name, Title: name}}, Methods: store.ResponseMethods,
				Problems: map[string]string{"subject": "Subject is too long."}}}
		flag := Flag{Text: "Me", Label: "Sent by you", Who: "You", Mine: true}
		if staff {
			flag = Flag{Text: "ML", Label: "From " + name, Who: name}
		}
		node := func(id int64, slot *Slot, actions store.Actions) *MessageNode {
			return &MessageNode{ID: testIDs.Message(id), ConversationID: testIDs.Conversation(1), Subject: subject, Sent: stamp(sent, sent),
				Flag: flag, Actions: actions, Links: linksFor(testIDs.Message(id), testIDs.Conversation(1), actions, iv.Q()), Slot: slot, Inbox: iv}
		}
		all := store.Actions{ShowDetails: true, FollowUp: true, Reply: true, Archive: true, Cancel: true}
		first := node(11, &Slot{Kind: SlotDetails, Details: &store.Details{Body: body, RequestedStaffName: name,
			Instructions: store.Instructions{ResponseMethod: "phone", FeeCents: 2500, BillingConsent: true}}}, all)
		first.Replies = []*MessageNode{
			node(12, &Slot{Kind: SlotReply, Form: &ReplyForm{FollowUp: !staff, Body: body, SubmitKey: "k", Fee: "$25.00",
				Problems: map[string]string{"body": "Message is required."}}}, all),
			node(13, &Slot{Kind: SlotCancel}, all),
			node(14, nil, store.Actions{ShowDetails: true, Reopen: true}),
		}
		cv := &ConversationView{ID: testIDs.Conversation(1), Messages: []*MessageNode{first}}
		if staff {
			cv.PatientName, cv.RequestedStaffName, cv.Awaiting = name, name, true
			cv.Instructions = store.Instructions{ResponseMethod: "portal", FeeCents: 2500}
		}
		for _, cv := range []*ConversationView{cv, {ID: testIDs.Conversation(2), Archived: true, PatientName: name,
			Messages: []*MessageNode{node(21, nil, store.Actions{ShowDetails: true, Reopen: true})}}} {
			h, err := convs.HTML(htmlKey{}, false, func() *ConversationView { return cv })
			if err != nil {
				tb.Fatal(err)
			}
			iv.Conversations = append(iv.Conversations, h)
		}
		vd.Inbox = iv
		return vd, first
	}
	retry := base("Something went wrong")
	retry.Error = &ErrorView{Status: 503, Message: "We cannot reach our records right now.", Retry: &RetryForm{
		Action: "/messages", Body: body, Fields: []RetryField{{Name: "subject", Value: subject}, {Name: name, Value: body}}}}
	signin := &ViewData{Title: "Sign in", SignIn: &SignInView{Email: subject, Problems: Problems{"form": "That email and password do not match an account."},
		Demo: []store.DemoSignIn{{Name: name, Email: subject}}}}
	patient, patientFirst := inbox(false)
	staff, staffFirst := inbox(true)
	return []renderCase{
		{"patient inbox page", "pages/inbox", patient},
		{"staff inbox page", "pages/inbox", staff},
		{"inbox fragment", "partials/inbox", staff},
		{"compose fragment", "partials/compose", patient.Inbox},
		{"details fragment", "partials/slot", patientFirst},
		{"reply fragment", "partials/slot", patientFirst.Replies[0]},
		{"cancel fragment", "partials/slot", staffFirst.Replies[1]},
		{"try again page", "pages/error", retry},
		{"sign-in page", "pages/signin", signin},
	}
}

func render(tb testing.TB, engine fiber.Views, v renderCase) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := engine.Render(&b, v.template, v.data); err != nil {
		tb.Fatalf("render %s: %v", v.name, err)
	}
	return b.Bytes()
}

func fuzzSkeleton(tb testing.TB, out []byte) []string {
	tb.Helper()
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		tb.Fatal(err)
	}
	return fuzzSkeletonOf(doc)
}

// textAttributes carry user text by design; their values are compared as text is, not at all.
var textAttributes = map[string]bool{"value": true, "aria-label": true, "title": true, "name": true}

// fuzzSkeletonOf lists every element with its attributes, and every comment, in document order.
func fuzzSkeletonOf(doc *html.Node) []string {
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			var attrs []string
			for _, a := range n.Attr {
				v := a.Val
				if textAttributes[a.Key] {
					v = "*"
				}
				attrs = append(attrs, a.Key+"="+v)
			}
			sort.Strings(attrs)
			out = append(out, "<"+n.Data+" "+strings.Join(attrs, " ")+">")
		case html.CommentNode:
			out = append(out, "<!--"+n.Data+"-->")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode {
			out = append(out, "</"+n.Data+">")
		}
	}
	walk(doc)
	return out
}

// fuzzInert checks what a skeleton comparison alone would let through if plain text already had
// it: inline scripts, event handlers, javascript: URLs.
func fuzzInert(t *testing.T, name string, doc *html.Node) {
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" && n.FirstChild != nil {
				t.Fatalf("%s: an inline script", name)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(a.Key, "hx-on") {
					t.Fatalf("%s: <%s %s>", name, n.Data, a.Key)
				}
				if !textAttributes[a.Key] && strings.Contains(strings.ToLower(a.Val), "javascript:") {
					t.Fatalf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}
