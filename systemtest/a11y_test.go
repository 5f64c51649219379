package systemtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Accessibility, checked in Chromium with axe-core (an npm package pinned in
// systemtest/browser/package-lock.json, loaded into the page through DevTools, which the page's
// Content-Security-Policy does not apply to) at WCAG 2.1 AA, on every page and every state htmx
// swaps in, in light and dark mode, on a desktop and on a phone.

var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

type axeNode struct {
	Target         []any  `json:"target"`
	HTML           string `json:"html"`
	FailureSummary string `json:"failureSummary"`
}

type axeViolation struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"`
	Help   string    `json:"help"`
	Nodes  []axeNode `json:"nodes"`
}

type axeResult struct {
	Violations []axeViolation `json:"violations"`
	Passes     int            `json:"passes"`
	Incomplete []string       `json:"incomplete"`
}

// axe checks the page as it is now and fails the test for every violation.
func (p *tab) axe(t *testing.T, state string) {
	t.Helper()
	p.axeLoad(t)
	tags, _ := json.Marshal(axeTags)
	var res axeResult
	p.js(t, `axe.run(document, {runOnly: {type: 'tag', values: `+string(tags)+`}}).then(r => ({
		violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 200), failureSummary: n.failureSummary}))})),
		passes: r.passes.length,
		incomplete: r.incomplete.map(i => i.id + ' (' + i.nodes.map(n => n.target.join(' ') + ': ' + (n.any[0] || {}).message).join('; ') + ')')}))`, &res)
	axeStates.Add(1)
	if len(res.Incomplete) > 0 {
		t.Logf("axe, %s (%s): %d rules pass; to review by hand: %s", state, p.dev, res.Passes, strings.Join(res.Incomplete, ", "))
	}
	for _, v := range res.Violations {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprintf("%v %s\n        %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n        ")))
		}
		t.Errorf("axe, %s (%s): %s [%s, %s]\n      %s", state, p.dev, v.Help, v.ID, v.Impact, strings.Join(nodes, "\n      "))
	}
}

// axeCatches proves the check can fail: a paragraph of grey on white, added for the purpose,
// must be reported.
func (p *tab) axeCatches(t *testing.T) {
	t.Helper()
	p.js(t, `(() => { const e = document.createElement('p'); e.id = 'axe-probe'; e.textContent = 'Faint text'; e.style.color = '#aaa'; e.style.background = '#fff'; document.querySelector('main').append(e); return true; })()`, nil)
	var found bool
	p.axeLoad(t)
	p.js(t, `axe.run('#axe-probe', {runOnly: {type: 'tag', values: ['wcag2aa']}}).then(r => r.violations.some(v => v.id === 'color-contrast'))`, &found)
	p.js(t, `document.getElementById('axe-probe').remove()`, nil)
	if !found {
		t.Fatalf("axe did not report grey-on-white text: the accessibility check cannot fail")
	}
}

// axeLoad puts axe-core into the page, once per document.
func (p *tab) axeLoad(t *testing.T) {
	t.Helper()
	var loaded bool
	p.js(t, `typeof window.axe !== 'undefined'`, &loaded)
	if !loaded {
		src, err := axeSource()
		if err != nil {
			t.Fatal(err)
		}
		p.run(t, "load axe-core", chromedp.Evaluate(string(src), nil))
	}
}

func (d device) String() string {
	s := fmt.Sprintf("%d px", d.width)
	if d.touch {
		s += " touch"
	}
	if d.dark {
		s += ", dark"
	} else {
		s += ", light"
	}
	if d.noScript {
		s += ", no JavaScript"
	}
	return s
}

// TestA11yAxe walks a patient and a staff member through every page and every swapped-in state,
// and runs axe on each: on a desktop and a phone, in light and dark mode.
func TestA11yAxe(t *testing.T) {
	for _, base := range []device{desktop, phone} {
		for _, dark := range []bool{false, true} {
			dev := base
			dev.dark = dark
			t.Run(dev.String(), func(t *testing.T) {
				sys := newSystem(t)
				in := sys.start(t)
				p := openPage(t, "patient", in.URL, dev)
				flow(t)
				axePatient(t, p)
				s := openPage(t, "staff", in.URL, dev)
				axeStaff(t, s)
			})
		}
	}
}

func axePatient(t *testing.T, p *tab) {
	// Sign-in, and its error.
	p.navigate(t, "/signin")
	var dark bool
	p.js(t, `matchMedia('(prefers-color-scheme: dark)').matches && getComputedStyle(document.body).backgroundColor === 'rgb(18, 18, 18)'`, &dark)
	if dark != p.dev.dark {
		t.Fatalf("dark mode emulated: %v, but the page is drawn dark: %v", p.dev.dark, dark)
	}
	p.axeCatches(t)
	p.axe(t, "sign-in page")
	p.typeInto(t, "", "Email", maria)
	p.typeInto(t, "", "Password", "not-the-password")
	p.click(t, xControl("", "Sign In"))
	p.waitFor(t, "the sign-in problem", exists(`//*[@role='alert']`), swapWait)
	p.axe(t, "sign-in page with its error")
	p.signIn(t, maria)
	p.expectNoOverflow(t, "the inbox")
	p.axe(t, "inbox")

	p.click(t, xControl(xActions(subjRefill, 1), "Show Details"))
	p.after(t, "details", exists(xDetails(subjRefill)))
	p.axe(t, "details open")

	p.click(t, xControl(xActions(subjCheckup, 1), "Reply"))
	form := xReplyForm("Reply", subjCheckup)
	p.after(t, "reply form", exists(form))
	p.expectNoOverflow(t, "the reply form")
	p.axe(t, "reply form open (and details)")
	p.typeInto(t, form, "Message", "Tuesday works.")
	p.click(t, xControl(form, "Send Message"))
	p.after(t, "the reply form's error", exists(form+`//*[@role='alert']`))
	p.axe(t, "reply form with its error")

	p.click(t, xControl(xActions(subjLab, 1), "Cancel"))
	p.after(t, "the question before cancelling", exists(xMessage(subjLab, 1)+`//form[.//*[@role='alert']]`))
	p.axe(t, "cancel confirmation")

	p.click(t, xControl("", "Compose Message"))
	p.after(t, "compose form", exists(xField(xCompose, "Subject")))
	p.expectNoOverflow(t, "the compose form")
	p.axe(t, "compose form open")
	p.typeInto(t, xCompose, "Subject", "Headache")
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "Three days now.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "compose errors", exists(xCompose+`//*[@role='alert']`))
	p.axe(t, "compose form with its errors")
	p.check(t, xCompose, "I agree to be billed $25.00 for this message.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "sent", exists(xActions("Headache", 1)))
	p.axe(t, "inbox with the status line after sending")

	p.click(t, xControl(xActions(subjRefill, 1), "Archive"))
	p.after(t, "archived", missing(xActions(subjRefill, 1)))
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xActions(subjRash, 1)))
	p.expectNoOverflow(t, "all conversations")
	p.axe(t, "all conversations (archived ones darker)")
	p.click(t, xControl(xActions(subjRash, 1), "Show Details"))
	p.after(t, "details of an archived message", exists(xDetails(subjRash)))
	p.axe(t, "details open in an archived conversation")

	p.navigate(t, "/messages/999999")
	p.axe(t, "error page")

	axeNotifications(t, p)
}

// axeNotifications checks the e-mail notifications page, reached from the header, and the page
// as its save swaps it in.
func axeNotifications(t *testing.T, p *tab) {
	p.click(t, xControl("//header", "Notifications"))
	p.waitFor(t, "the notifications page", "window.__marker === undefined && document.readyState === 'complete' && "+
		exists(`//h2[normalize-space()='E-mail notifications']`), swapWait)
	p.mark(t)
	p.expectNoOverflow(t, "the notifications page")
	p.axe(t, "notifications page")
	p.check(t, "//form", "Hourly digest")
	p.click(t, xControl("//form", "Save Choices"))
	p.after(t, "the choices saved", exists(`//*[@role='status' and normalize-space()='Your e-mail choices are saved.']`))
	p.axe(t, "notifications page, saved")
}

func axeStaff(t *testing.T, s *tab) {
	s.signIn(t, physician)
	s.expectNoOverflow(t, "the dashboard")
	s.axe(t, "staff dashboard")
	s.click(t, xControl("", "Unassigned"))
	s.after(t, "the unassigned filter", exists(`//a[@aria-current='page' and normalize-space()='Unassigned']`))
	s.axe(t, "staff dashboard, unassigned")
	s.click(t, xControl(xActions(subjLab, 1), "Show Details"))
	s.after(t, "details", exists(xDetails(subjLab)))
	s.axe(t, "staff: details open")
	s.click(t, xControl(xActions(subjLab, 1), "Reply"))
	form := xReplyForm("Reply", subjLab)
	s.after(t, "reply form", exists(form))
	s.axe(t, "staff: reply form open")
	s.click(t, xControl("", "Compose Message"))
	s.after(t, "compose form", exists(xField(xCompose, "Patient")))
	s.axe(t, "staff: compose form open")
	axeNotifications(t, s)
}

// Flags are text with an accessible name saying who sent the message, not colour alone.
func TestA11yFlagsAreNotColourOnly(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	var flags []struct{ Shown, Name, Hidden, Background string }
	p.js(t, `$xs("//*[@role='group' and starts-with(@aria-label, 'Actions for')]").map(g => {
		const flag = g.previousElementSibling.firstElementChild;
		const shown = flag.querySelector('[aria-hidden=true]');
		return {Shown: shown ? shown.textContent : '', Hidden: shown ? 'aria-hidden' : '',
		        Name: [...flag.childNodes].filter(n => n !== shown).map(n => n.textContent).join('').trim(),
		        Background: getComputedStyle(flag).backgroundColor};
	})`, &flags)
	if len(flags) < 7 {
		t.Fatalf("found %d flags in Maria's inbox, want every message's", len(flags))
	}
	colours := map[string]string{}
	for _, f := range flags {
		switch {
		case f.Shown == "Me" && f.Name == "Sent by you":
			colours["me"] = f.Background
		case f.Shown != "" && f.Shown != "Me" && strings.HasPrefix(f.Name, "From ") && len(f.Name) > 5:
			colours["them"] = f.Background
		default:
			t.Errorf("a flag shows %q with accessible name %q: want \"Me\" / \"Sent by you\" or initials / \"From <name>\"", f.Shown, f.Name)
		}
	}
	if colours["me"] == "" || colours["me"] == colours["them"] {
		t.Errorf("the two kinds of flag are not told apart by colour as well: %v", colours)
	}
}

// Focus lands where the reader's attention goes after each swap, and a live refresh leaves focus
// (and a half-written reply) alone.
func TestA11yFocusAfterSwaps(t *testing.T) {
	lp := sideBySide(t)
	p := lp.patient
	focusIs := func(what, want string) {
		t.Helper()
		if got := p.activeName(t); got != want {
			t.Errorf("after %s, focus is on %q, want %q", what, got, want)
		}
	}
	p.click(t, xControl("", "Compose Message"))
	p.after(t, "compose form", exists(xField(xCompose, "Subject")))
	focusIs("opening the compose form", "Subject")
	p.typeInto(t, xCompose, "Subject", "Knee pain")
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "On the stairs.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "compose errors", exists(xCompose+`//*[@role='alert']`))
	if got := p.text(t, `//*[@role='alert' and contains(., 'tick the box')]`); !strings.Contains(p.activeText(t), "tick the box") {
		t.Errorf("after a refused send, focus is not on the list of problems %q", got)
	}
	p.check(t, xCompose, "I agree to be billed $25.00 for this message.")
	p.click(t, xControl(xCompose, "Send Message"))
	p.after(t, "sent", exists(xActions("Knee pain", 1)))
	if got := p.activeText(t); got != "Your message was sent." {
		t.Errorf("after sending, focus is on %q, want the status line saying it was sent", got)
	}

	p.click(t, xControl(xActions(subjRefill, 1), "Show Details"))
	p.after(t, "details", exists(xDetails(subjRefill)))
	if got := p.activeText(t); !strings.Contains(got, "lisinopril") {
		t.Errorf("after Show Details, focus is on %q, want the details", got)
	}

	p.click(t, xControl(xActions(subjLab, 1), "Cancel"))
	p.after(t, "the question before cancelling", exists(xMessage(subjLab, 1)+`//form[.//*[@role='alert']]`))
	if got := p.activeText(t); !strings.Contains(got, "deleted permanently") {
		t.Errorf("after Cancel, focus is on %q, want the question", got)
	}

	p.click(t, xControl(xActions(subjCheckup, 1), "Reply"))
	form := xReplyForm("Reply", subjCheckup)
	p.after(t, "reply form", exists(form))
	focusIs("opening the reply form", "Message")
	p.run(t, "type a draft", chromedp.KeyEvent("Tuesday mornings"))

	// Focus elsewhere, then the practice answers another message: the live refresh must not
	// move focus, nor lose the draft.
	p.js(t, `$x(`+jsString(xControl("", "Show All Conversations"))+`).focus()`, nil)
	p.countRefreshes(t)
	lp.staffReply(t, subjLab, "Answer while Maria writes.")
	p.waitFor(t, "the live refresh", exists(xReplyUnder(subjLab, "Re: "+subjLab, 1)), liveShows)
	p.waitRefreshes(t, 1) // swapped in and settled: anything it would do to focus is done
	focusIs("a live refresh", "Show All Conversations")
	var draft string
	p.js(t, `$x(`+jsString(xField(form, "Message"))+`).value`, &draft)
	if draft != "Tuesday mornings" {
		t.Errorf("after a live refresh the half-written reply reads %q", draft)
	}
	// The keyboard user goes back to the draft and finishes it.
	p.js(t, `$x(`+jsString(xField(form, "Message"))+`).focus()`, nil)
	p.run(t, "finish the draft", chromedp.KeyEvent(" suit me."))
	p.press(t, kb.Tab)
}

// activeText is the whole text of the focused element.
func (p *tab) activeText(t *testing.T) string {
	t.Helper()
	var s string
	p.js(t, `(document.activeElement && document.activeElement !== document.body ? document.activeElement.innerText : '').replace(/\s+/g, ' ').trim()`, &s)
	return s
}
