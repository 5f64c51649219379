package systemtest

import (
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
)

// The browser suite drives the system's Chromium the way patients and staff use the inbox, and
// checks what the page shows after each step. Things are found by what a person sees: button and
// link names, labels, roles and accessible names (xControl, xField, xActions), never CSS classes.
//
// Each flow runs twice: with JavaScript, where every step must be an htmx swap in the same
// document (a mark set on the window survives), and with JavaScript disabled, where the same
// step must complete with plain forms and links and a whole new page.

// swapWait bounds how long a step may take to show its result.
const swapWait = 15 * time.Second

// patientFlow is one thing a patient does, from a freshly signed-in inbox.
type patientFlow struct {
	name string
	who  string // the demo account
	run  func(t *testing.T, p *tab)
}

var patientFlows = []patientFlow{
	{"compose at Riverside, first without then with billing consent", maria, composeWithConsent},
	{"compose at Hillcrest, which asks no consent", grace, composeWithoutFee},
	{"show details and close them", maria, showDetails},
	{"send a follow-up under my own message", maria, sendFollowUp},
	{"reply to the practice's message", maria, replyToPractice},
	{"reply at Hillcrest, which asks no consent", grace, replyWithoutFee},
	{"archive a conversation", maria, archive},
	{"show all conversations and back", maria, showAll},
	{"re-open an archived conversation", maria, reopen},
	{"cancel my message after confirming", maria, cancelMessage},
	{"send with no response needed: archived, and no Cancel", grace, sendNoResponseNeeded},
	{"turn e-mail about the care team's messages off", maria, chooseNotifications},
}

func TestBrowserPatientFlows(t *testing.T) {
	runPatientFlows(t, desktop)
}

func TestBrowserPatientFlowsWithoutJavaScript(t *testing.T) {
	noJS := desktop
	noJS.noScript = true
	runPatientFlows(t, noJS)
}

func runPatientFlows(t *testing.T, dev device) {
	for _, f := range patientFlows {
		t.Run(f.name, func(t *testing.T) {
			in := newSystem(t).start(t)
			p := openPage(t, "patient", in.URL, dev)
			flow(t)
			p.signIn(t, f.who)
			if dev.noScript {
				var htmx string
				p.js(t, `typeof window.htmx`, &htmx)
				if htmx != "undefined" {
					t.Fatalf("JavaScript is meant to be off, but htmx is %s", htmx)
				}
			}
			f.run(t, p)
		})
	}
}

// after waits until the page shows what a step should have led to, and checks how it got there:
// with JavaScript by a swap in the same document, without it by a whole new page.
func (p *tab) after(t *testing.T, what, cond string) {
	t.Helper()
	if p.dev.noScript {
		p.waitFor(t, what+" (on a new page)", "window.__marker === undefined && document.readyState === 'complete' && ("+cond+")", swapWait)
		p.mark(t)
		return
	}
	p.waitFor(t, what, cond, swapWait)
	p.noReload(t, what)
}

// expectText fails unless the text of what xpath finds contains every one of want.
func (p *tab) expectText(t *testing.T, xpath string, want ...string) {
	t.Helper()
	got := p.text(t, xpath)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q does not show %q", p.name, got, w)
		}
	}
}

func (p *tab) expectNotice(t *testing.T, want string) {
	t.Helper()
	if got := p.notice(t); got != want {
		t.Errorf("%s: status line %q, want %q", p.name, got, want)
	}
}

func (p *tab) expectGone(t *testing.T, what, xpath string) {
	t.Helper()
	if p.has(t, xpath) {
		t.Errorf("%s: %s is still on the page", p.name, what)
	}
}

// xConversationWith is the conversation (a list item labelled "Conversation" or "Archived
// conversation") whose first message has this subject.
func xConversationWith(subject string) string {
	return xMessage(subject, 1) + "/ancestor::li[contains(@aria-label, 'onversation')][1]"
}

// xReplyUnder is a direct reply (in the nested list right under the message) with this subject.
func xReplyUnder(parent, subject string, nth int) string {
	return xMessage(parent, nth) + "/ul/li[./*/*[@role='group' and @aria-label=" + xq("Actions for "+subject) + "]]"
}

// xCompose is the compose form's section.
const xCompose = `//section[@aria-labelledby=//h2[normalize-space()='New message']/@id]`

func composeWithConsent(t *testing.T, p *tab) {
	const subject = "Ankle still swollen after the sprain"
	p.click(t, xControl("", "Compose Message"))
	p.after(t, "the compose form", exists(xField(xCompose, "Subject")))
	fee := xField(xCompose, "I agree to be billed $25.00 for this message.")
	if !p.has(t, fee) {
		t.Fatalf("Riverside charges $25.00, but the compose form asks no consent to the fee")
	}
	p.typeInto(t, xCompose, "Subject", subject)
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "It is still swollen two weeks on. Should I get an X-ray?")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "the consent problem", exists(xCompose+`//*[@role='alert' and contains(., 'tick the box')]`))
	p.expectGone(t, "a message sent without consent", xActions(subject, 1))
	// The summary says it once, as a link that takes the reader to the box, which says it again.
	if got := p.text(t, xCompose+`//*[@role='alert']`); strings.Count(got, "tick the box") != 1 || !strings.HasPrefix(got, "There is a problem") {
		t.Errorf("the problem summary reads %q, want its title and the problem once", got)
	}
	p.click(t, xCompose+`//*[@role='alert']//a[contains(., 'tick the box')]`)
	p.waitFor(t, "focus on the box the problem is about", `document.activeElement && document.activeElement.type === 'checkbox' && document.activeElement.name === 'consent'`, swapWait)
	p.check(t, xCompose, "I agree to be billed $25.00 for this message.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "the new conversation", exists(xActions(subject, 1)))
	p.expectNotice(t, "Your message was sent.")
	p.expectGone(t, "the compose form", xCompose)
	p.expectText(t, xMessage(subject, 1), "Sent by you")
	if loc := p.location(t); loc != "/inbox?notice=sent" && loc != "/inbox" {
		t.Errorf("after sending, the address is %s, want the inbox", loc)
	}
	// Newest activity first.
	p.expectText(t, `(//*[@role='group' and starts-with(@aria-label, 'Actions for')])[1]/..`, subject)
}

func composeWithoutFee(t *testing.T, p *tab) {
	const subject = "Fever since last night"
	p.click(t, xControl("", "Compose Message"))
	p.after(t, "the compose form", exists(xField(xCompose, "Subject")))
	if p.has(t, xCompose+`//label[contains(., 'billed')]`) {
		t.Errorf("Hillcrest charges nothing, but the compose form asks consent to a fee")
	}
	p.typeInto(t, xCompose, "Subject", subject)
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "38.4 °C this morning, drinking well.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "the new conversation", exists(xActions(subject, 1)))
	p.expectNotice(t, "Your message was sent.")
	p.expectText(t, xMessage(subject, 1), "Sent by you")
}

func showDetails(t *testing.T, p *tab) {
	p.click(t, xControl(xActions(subjRefill, 1), "Show Details"))
	details := xDetails(subjRefill)
	p.after(t, "the message's details", exists(details)+" && location.pathname.startsWith('/messages/')")
	p.expectText(t, details, "lisinopril 10 mg", "Dr. Amelia Chen", "Agreed to be billed $25.00")
	if loc := p.location(t); !strings.HasPrefix(loc, "/messages/") {
		t.Errorf("with details open the address is %s, want the message's own", loc)
	}
	p.click(t, xControl(details, "Close"))
	p.after(t, "the details closed", missing(details)+" && location.pathname === '/inbox'")
	if loc := p.location(t); !strings.HasPrefix(loc, "/inbox") {
		t.Errorf("after closing the details the address is %s, want the inbox", loc)
	}
}

// xDetails is the details panel of the first message with this subject.
func xDetails(subject string) string {
	return `//*[h3[normalize-space()=` + xq("Details of "+subject) + `]]`
}

// xReplyForm is the inline Send Follow-Up or Reply form of a message.
func xReplyForm(kind, subject string) string {
	return `//form[h3[normalize-space()=` + xq(kind+": "+subject) + `]]`
}

func sendFollowUp(t *testing.T, p *tab) {
	sendUnder(t, p, subjLab, "Send Follow-Up", "I forgot to say: I am fasting for the next test on Friday.")
	// Once followed up, the first message can no longer be cancelled.
	p.expectGone(t, "Cancel on a message with a follow-up", xControl(xActions(subjLab, 1), "Cancel"))
}

func replyToPractice(t *testing.T, p *tab) {
	sendUnder(t, p, subjCheckup, "Reply", "Tuesday mornings suit me best.")
	p.expectText(t, xMessage(subjCheckup, 1), "From Sam Rivera")
}

// sendUnder opens the inline form that button opens under the first message with this subject,
// writes text, agrees to Riverside's fee and sends: the new message must stand nested under the
// first one as the patient's own, with the status line saying it was sent.
func sendUnder(t *testing.T, p *tab, subject, button, text string) {
	t.Helper()
	p.click(t, xControl(xActions(subject, 1), button))
	form := xReplyForm(button, subject)
	p.after(t, "the "+button+" form", exists(form))
	p.typeInto(t, form, "Message", text)
	p.check(t, form, "I agree to be billed $25.00 for this message.")
	p.click(t, xControl(form, "Send Message"))
	reply := xReplyUnder(subject, "Re: "+subject, 1)
	p.after(t, "the "+button+" message nested under "+subject, exists(reply))
	p.expectText(t, reply, "Sent by you")
	p.expectNotice(t, "Your message was sent.")
}

func replyWithoutFee(t *testing.T, p *tab) {
	p.click(t, xControl(xActions(subjCheckup, 1), "Reply"))
	form := xReplyForm("Reply", subjCheckup)
	p.after(t, "the reply form", exists(form))
	if p.has(t, form+`//label[contains(., 'billed')]`) {
		t.Errorf("Hillcrest charges nothing, but the reply form asks consent to a fee")
	}
	p.typeInto(t, form, "Message", "Any afternoon next week works for us.")
	p.click(t, xControl(form, "Send Message"))
	p.after(t, "the reply nested under the practice's message", exists(xReplyUnder(subjCheckup, "Re: "+subjCheckup, 1)))
}

func archive(t *testing.T, p *tab) {
	p.click(t, xControl(xActions(subjRefill, 1), "Archive"))
	p.after(t, "the conversation gone from the open list", missing(xActions(subjRefill, 1)))
	p.expectNotice(t, "The conversation was archived.")
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xControl("", "Show Open Conversations")))
	if got := p.attr(t, xConversationWith(subjRefill), "aria-label"); got != "Archived conversation" {
		t.Errorf("the archived conversation is labelled %q, want %q", got, "Archived conversation")
	}
}

func showAll(t *testing.T, p *tab) {
	p.expectGone(t, "the archived conversation in the open list", xActions(subjRash, 1))
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xActions(subjRash, 1)))
	if got := p.attr(t, xConversationWith(subjRash), "aria-label"); got != "Archived conversation" {
		t.Errorf("the archived conversation is labelled %q, want %q", got, "Archived conversation")
	}
	if got := p.attr(t, xConversationWith(subjRefill), "aria-label"); got != "Conversation" {
		t.Errorf("an open conversation is labelled %q, want %q", got, "Conversation")
	}
	// Drawn darker than open ones.
	var darker bool
	p.js(t, `(() => { const lum = e => { const m = getComputedStyle(e).backgroundColor.match(/\d+/g).map(Number); return m.length > 3 && m[3] === 0 ? 255 : (m[0] + m[1] + m[2]) / 3; };
		return lum($x(`+jsString(xConversationWith(subjRash))+`)) < lum($x(`+jsString(xConversationWith(subjRefill))+`)); })()`, &darker)
	if !darker {
		t.Errorf("the archived conversation is not drawn darker than the open ones")
	}
	if loc := p.location(t); loc != "/inbox?all=1" {
		t.Errorf("showing all, the address is %s, want /inbox?all=1", loc)
	}
	p.click(t, xControl("", "Show Open Conversations"))
	p.after(t, "open conversations only", missing(xActions(subjRash, 1))+" && "+exists(xControl("", "Show All Conversations")))
}

func reopen(t *testing.T, p *tab) {
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xActions(subjRash, 1)))
	p.click(t, xControl(xActions(subjRash, 1), "Re-Open"))
	p.after(t, "the conversation re-opened", exists(xControl(xActions(subjRash, 1), "Archive")))
	p.expectNotice(t, "The conversation was re-opened.")
	if got := p.attr(t, xConversationWith(subjRash), "aria-label"); got != "Conversation" {
		t.Errorf("the re-opened conversation is labelled %q", got)
	}
	p.click(t, xControl("", "Show Open Conversations"))
	p.after(t, "open conversations", exists(xControl("", "Show All Conversations")))
	if !p.has(t, xActions(subjRash, 1)) {
		t.Errorf("the re-opened conversation is not among the open ones")
	}
}

func cancelMessage(t *testing.T, p *tab) {
	// Asking first; Close keeps the message.
	p.click(t, xControl(xActions(subjLab, 1), "Cancel"))
	question := xMessage(subjLab, 1) + `//form[.//*[@role='alert' and contains(., 'deleted permanently')]]`
	p.after(t, "the question before cancelling", exists(question))
	p.click(t, xControl(question, "Close"))
	p.after(t, "the question closed", missing(question))
	if !p.has(t, xActions(subjLab, 1)) {
		t.Fatalf("closing the question removed the message")
	}
	p.click(t, xControl(xActions(subjLab, 1), "Cancel"))
	p.after(t, "the question before cancelling", exists(question))
	p.click(t, xControl(question, "Cancel Message"))
	p.after(t, "the message gone", missing(xActions(subjLab, 1)))
	p.expectNotice(t, "Your message was cancelled and deleted.")
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xControl("", "Show Open Conversations")))
	p.expectGone(t, "the cancelled conversation, among all", xActions(subjLab, 1))
}

// sendNoResponseNeeded: the thread is archived as the message is sent, and that archive ends
// Cancel like any other, so among all conversations the message offers Re-Open but no Cancel.
func sendNoResponseNeeded(t *testing.T, p *tab) {
	const subject = "Blood pressure log for May"
	p.click(t, xControl("", "Compose Message"))
	p.after(t, "the compose form", exists(xField(xCompose, "Subject")))
	p.typeInto(t, xCompose, "Subject", subject)
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "For your records: 128/82 on average.")
	p.check(t, xCompose, "No response needed (the conversation is archived as it is sent)")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "the compose form gone", missing(xCompose))
	p.expectNotice(t, "Your message was sent.")
	p.expectGone(t, "the no-response-needed conversation in the open list", xActions(subject, 1))
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xActions(subject, 1)))
	if got := p.attr(t, xConversationWith(subject), "aria-label"); got != "Archived conversation" {
		t.Errorf("the no-response-needed conversation is labelled %q, want %q", got, "Archived conversation")
	}
	if !p.has(t, xControl(xActions(subject, 1), "Re-Open")) {
		t.Errorf("the no-response-needed message offers no Re-Open")
	}
	p.expectGone(t, "Cancel on a message sent with no response needed", xControl(xActions(subject, 1), "Cancel"))
}

// chooseNotifications: from the header to the notifications page, Off chosen and saved, and still
// chosen when the page is opened again.
func chooseNotifications(t *testing.T, p *tab) {
	p.click(t, xControl("//header", "Notifications"))
	p.waitFor(t, "the notifications page", "window.__marker === undefined && document.readyState === 'complete' && "+
		exists(`//h2[normalize-space()='E-mail notifications']`), swapWait)
	p.mark(t)
	form := `//form[.//legend[normalize-space()='Messages and replies from your care team']]`
	if !p.isChecked(t, xField(form, "At once")) {
		t.Errorf("At once is not chosen before any choice")
	}
	p.check(t, form, "Off")
	p.click(t, xControl(form, "Save Choices"))
	p.after(t, "the choices saved", exists(`//*[@role='status' and normalize-space()='Your e-mail choices are saved.']`))
	p.navigate(t, "/account/notifications")
	if !p.isChecked(t, xField(form, "Off")) {
		t.Errorf("Off is not chosen when the page is opened again")
	}
}

// isChecked reports whether the radio or checkbox the XPath finds is checked.
func (p *tab) isChecked(t *testing.T, xpath string) bool {
	t.Helper()
	var on bool
	p.js(t, `!!($x(`+jsString(xpath)+`) || {}).checked`, &on)
	return on
}

// attr reads an attribute of what the XPath finds.
func (p *tab) attr(t *testing.T, xpath, name string) string {
	t.Helper()
	var s string
	p.js(t, `(($x(`+jsString(xpath)+`) || {getAttribute: () => null}).getAttribute(`+jsString(name)+`) || '')`, &s)
	return s
}

// --- Hover, keyboard and touch -------------------------------------------------------------------

// opacity is the computed opacity of a message's actions.
func (p *tab) opacity(t *testing.T, subject string) string {
	t.Helper()
	var s string
	p.js(t, `getComputedStyle($x(`+jsString(xActions(subject, 1))+`)).opacity`, &s)
	return s
}

// On a desktop the actions appear when the mouse points at a message, and a click on one works.
func TestBrowserActionsOnHover(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	p.moveMouseAway(t)
	if got := p.opacity(t, subjLab); got != "0" {
		t.Fatalf("before pointing at it, the message's actions have opacity %s, want hidden (0)", got)
	}
	p.hover(t, xRow(subjLab, 1))
	if got := p.opacity(t, subjLab); got != "1" {
		t.Fatalf("pointing at the message, its actions have opacity %s, want 1", got)
	}
	if got := p.opacity(t, subjCheckup); got != "0" {
		t.Errorf("pointing at one message shows another's actions (opacity %s)", got)
	}
	p.click(t, xControl(xActions(subjLab, 1), "Show Details"))
	p.after(t, "the details", exists(xDetails(subjLab)))
}

// The keyboard alone: Tab reaches a message's actions (which then show), Enter opens details.
func TestBrowserKeyboardOnly(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	p.moveMouseAway(t)
	// Start from the first link of the page, as after loading it.
	p.js(t, `document.querySelector('a').focus()`, nil)
	if got := p.activeName(t); got != "Skip to messages" {
		t.Errorf("the first link is %q, want the skip link", got)
	}
	presses := p.tabTo(t, "Show Details", 20)
	t.Logf("Tab pressed %d times to reach the first Show Details", presses)
	var group string
	p.js(t, `document.activeElement.closest('[role=group]').getAttribute('aria-label')`, &group)
	subject := strings.TrimPrefix(group, "Actions for ")
	if got := p.opacity(t, subject); got != "1" {
		t.Errorf("with keyboard focus in them, the actions have opacity %s, want 1", got)
	}
	p.press(t, kb.Enter)
	p.after(t, "the details opened by Enter", exists(xDetails(subject)))
	// Focus moved into the details, so the next Tab reaches their Close link.
	p.tabTo(t, "Close", 3)
	p.press(t, kb.Enter)
	p.after(t, "the details closed by Enter", missing(xDetails(subject)))
}

// On a phone (touch, no hover, 320 px wide) no message shows its actions until it is tapped, and
// a tap on an action then works.
func TestBrowserTouchPhone(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, phone)
	flow(t)
	p.signIn(t, maria)
	var media struct{ NoHover, Coarse bool }
	p.js(t, `({NoHover: matchMedia('(hover: none)').matches, Coarse: matchMedia('(pointer: coarse)').matches})`, &media)
	if !media.NoHover || !media.Coarse {
		t.Fatalf("the emulated phone reports hover:none=%v pointer:coarse=%v", media.NoHover, media.Coarse)
	}
	for _, subject := range []string{subjLab, subjCheckup, subjRefill} {
		if r := p.row(t, subject); !all(r.Shown, false) {
			t.Errorf("on a touch screen, before a tap, the actions of %q show %v", subject, r.Shown)
		}
	}
	p.expectNoOverflow(t, "the inbox")
	p.tap(t, xControl(xActions(subjRefill, 1), "Show Details"))
	p.after(t, "the details opened by a tap", exists(xDetails(subjRefill)))
	p.expectNoOverflow(t, "the details")
	p.tap(t, xControl(xActions(subjLab, 1), "Send Follow-Up"))
	form := xReplyForm("Send Follow-Up", subjLab)
	p.after(t, "the follow-up form opened by a tap", exists(form))
	p.expectNoOverflow(t, "the follow-up form")
	p.tap(t, xControl("", "Compose Message"))
	p.after(t, "the compose form opened by a tap", exists(xField(xCompose, "Subject")))
	p.expectNoOverflow(t, "the compose form")
}

// expectNoOverflow fails if anything reaches past the right edge of the device's screen, so the
// page would scroll sideways. (A phone's browser widens its layout viewport to fit content that
// overflows, so innerWidth alone would not tell.)
func (p *tab) expectNoOverflow(t *testing.T, what string) {
	t.Helper()
	var wide []string
	p.js(t, `(() => { const w = `+strconv.FormatInt(p.dev.width, 10)+`; const out = [];
		if (document.documentElement.scrollWidth > w) out.push('the page is ' + document.documentElement.scrollWidth + ' px wide');
		for (const e of document.querySelectorAll('body *')) {
			const r = e.getBoundingClientRect();
			if (r.width > 0 && r.right + scrollX > w + 0.5) out.push(e.tagName + (e.id ? '#' + e.id : '') + ' reaches ' + Math.round(r.right + scrollX) + ' px: ' + JSON.stringify((e.innerText || '').slice(0, 40)));
		}
		return out.slice(0, 8); })()`, &wide)
	if len(wide) > 0 {
		t.Errorf("%s at %d px wide scrolls sideways:\n  %s", what, p.dev.width, strings.Join(wide, "\n  "))
	}
}

// The screenshot a failing test leaves behind is a real picture of the page, where the failure
// message says.
func TestBrowserFailureScreenshot(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	file, err := p.saveScreenshot(p.ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", file, err)
	}
	if b := img.Bounds(); b.Dx() != int(desktop.width) || b.Dy() != int(desktop.height) {
		t.Errorf("the screenshot is %v, want the %dx%d screen", b, desktop.width, desktop.height)
	}
	if !strings.HasSuffix(filepath.Dir(file), filepath.FromSlash(failureDir)) {
		t.Errorf("screenshots go to %s, want %s", filepath.Dir(file), failureDir)
	}
}
