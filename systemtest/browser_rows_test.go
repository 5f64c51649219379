package systemtest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Message rows: subject and date are what a message shows, one line of them on a desktop and no
// more than a line above the subject on a phone; the actions appear over the row on a desktop
// (so nothing moves), and under it after a tap on a touch screen, with or without JavaScript.

// xRow is the row of the message with this subject (the nth such): its summary and its actions.
func xRow(subject string, nth int) string { return xActions(subject, nth) + "/.." }

// rowBox is what a row measures, in CSS pixels: its height, its subject's height and width, the
// line height, and whether each of its actions can be seen and clicked where it is drawn.
type rowBox struct {
	Subject                  string
	Height, SubjectHeight    float64
	SubjectWidth, LineHeight float64
	Depth                    int
	Shown                    []bool
}

// rowsJS measures every message row on the page. A control counts as shown when it is drawn
// (not transparent, not inside a closed row) and a click at its centre reaches it.
const rowsJS = `$xs("//*[@role='group' and starts-with(@aria-label, 'Actions for ')]").map(g => {
	const row = g.parentElement, subject = g.getAttribute('aria-label').slice('Actions for '.length);
	const text = [...row.querySelectorAll('span')].find(s => s.textContent.trim() === subject);
	const shown = [...g.querySelectorAll('a, button')].map(c => {
		if (!c.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
		c.scrollIntoView({block: 'nearest'});
		const r = c.getBoundingClientRect();
		if (r.width < 1 || r.height < 1) return false;
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return hit !== null && (hit === c || c.contains(hit));
	});
	let depth = 0;
	for (let e = row; e; e = e.parentElement) if (e.tagName === 'UL') depth++;
	return {Subject: subject, Height: row.getBoundingClientRect().height,
	        SubjectHeight: text ? text.getBoundingClientRect().height : 0, SubjectWidth: text ? text.getBoundingClientRect().width : 0,
	        LineHeight: parseFloat(getComputedStyle(row).lineHeight), Depth: depth, Shown: shown};
})`

func (p *tab) rows(t *testing.T) []rowBox {
	t.Helper()
	var rows []rowBox
	p.js(t, rowsJS, &rows)
	if len(rows) < 7 {
		t.Fatalf("%s: found %d message rows, want every message of the demo inbox", p.name, len(rows))
	}
	return rows
}

// row is the first row with this subject.
func (p *tab) row(t *testing.T, subject string) rowBox {
	t.Helper()
	for _, r := range p.rows(t) {
		if r.Subject == subject {
			return r
		}
	}
	t.Fatalf("%s: no row %q", p.name, subject)
	return rowBox{}
}

func all(shown []bool, want bool) bool {
	for _, s := range shown {
		if s != want {
			return false
		}
	}
	return len(shown) > 0
}

// pageHeight is the height of the whole document.
func (p *tab) pageHeight(t *testing.T) float64 {
	t.Helper()
	var h float64
	p.js(t, `document.documentElement.scrollHeight`, &h)
	return h
}

// inTree tells whether the accessibility tree holds an unignored node of this name, as a screen
// reader would find it.
func (p *tab) inTree(t *testing.T, name string) bool {
	t.Helper()
	var found bool
	p.run(t, "look up "+strconv.Quote(name)+" in the accessibility tree", chromedp.ActionFunc(func(ctx context.Context) error {
		body, _, err := runtime.Evaluate(`document.body`).Do(ctx)
		if err != nil {
			return err
		}
		nodes, err := accessibility.QueryAXTree().WithObjectID(body.ObjectID).WithAccessibleName(name).Do(ctx)
		for _, n := range nodes {
			found = found || !n.Ignored
		}
		return err
	}))
	return found
}

// On a desktop each message is one line; pointing at it or tabbing to it shows its actions over
// the row, which stays the same height, and the actions are there for a screen reader all along.
func TestBrowserRowsOnDesktop(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	p.moveMouseAway(t)
	var before = map[string]float64{}
	for _, r := range p.rows(t) {
		before[r.Subject] = r.Height
		if r.Height > 1.5*r.LineHeight+0.5 {
			t.Errorf("the row of %q is %.1f px tall, over 1.5 lines (%.1f px each)", r.Subject, r.Height, r.LineHeight)
		}
		if !all(r.Shown, false) {
			t.Errorf("before pointing at it, %q shows actions %v", r.Subject, r.Shown)
		}
	}
	var thread float64
	p.js(t, `$x(`+jsString(xConversationWith(subjRefill))+`).getBoundingClientRect().height`, &thread)
	lab := p.row(t, subjLab)
	t.Logf("rows %.1f px tall (line %.1f px); the five-message thread %.0f px; the page %.0f px", lab.Height, lab.LineHeight, thread, p.pageHeight(t))
	if !p.inTree(t, "Actions for "+subjLab) || !p.inTree(t, "Show Details") {
		t.Errorf("a screen reader does not find the hidden actions of a row")
	}

	p.hover(t, xRow(subjLab, 1))
	if r := p.row(t, subjLab); !all(r.Shown, true) || r.Height != before[subjLab] {
		t.Errorf("pointing at %q: actions shown %v, row %.1f px tall (was %.1f)", subjLab, r.Shown, r.Height, before[subjLab])
	}
	if r := p.row(t, subjCheckup); !all(r.Shown, false) {
		t.Errorf("pointing at one message shows another's actions: %v", r.Shown)
	}

	// The keyboard: the row's summary takes focus and shows its actions; Tab goes into them.
	p.moveMouseAway(t)
	p.js(t, `$x(`+jsString(xRow(subjCheckup, 1)+"/summary")+`).focus()`, nil)
	if r := p.row(t, subjCheckup); !all(r.Shown, true) || r.Height != before[subjCheckup] {
		t.Errorf("with focus on %q: actions shown %v, row %.1f px tall (was %.1f)", subjCheckup, r.Shown, r.Height, before[subjCheckup])
	}
	p.press(t, kb.Tab)
	if got := p.activeName(t); got != "Show Details" {
		t.Errorf("Tab from a row's summary goes to %q, want its Show Details", got)
	}
	p.press(t, kb.Enter)
	p.after(t, "the details opened from the keyboard", exists(xDetails(subjCheckup)))
}

// On a phone (320 px, touch, no hover) a row is its subject and a line above it; no action shows
// until the message is tapped; a six-level thread still leaves its deepest subject room.
func TestBrowserRowsOnPhone(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, phone)
	flow(t)
	p.signIn(t, maria)
	expectPhoneRows(t, p)
	p.openRow(t, subjRefill)
	if !p.inTree(t, "Actions for "+subjRefill) {
		t.Errorf("a screen reader does not find the actions of an open row")
	}
	for _, r := range p.rows(t) {
		if r.Subject != subjRefill && !all(r.Shown, false) {
			t.Errorf("a tap on %q shows the actions of %q too: %v", subjRefill, r.Subject, r.Shown)
		}
	}
	p.expectNoOverflow(t, "an open row")
	p.tap(t, xControl(xActions(subjRefill, 1), "Show Details"))
	p.after(t, "the details opened by a tap", exists(xDetails(subjRefill)))
	p.expectText(t, xDetails(subjRefill), "lisinopril 10 mg")

	// A keyboard (a tablet's): Enter opens a row, Tab reaches its actions.
	p.js(t, `$x(`+jsString(xRow(subjLab, 1)+"/summary")+`).focus()`, nil)
	p.press(t, kb.Enter)
	p.press(t, kb.Tab)
	if got := p.activeName(t); got != "Show Details" {
		t.Errorf("Enter on a row and Tab lead to %q, want its Show Details", got)
	}

	// Six levels deep: a reply under the thread's deepest message.
	var deepest struct {
		Subject string
		Nth     int
	}
	p.js(t, `(() => { const gs = $xs(`+jsString(xConversationWith(subjRefill)+"//*[@role='group']")+`), depth = g => { let d = 0; for (let e = g; e; e = e.parentElement) if (e.tagName === 'UL') d++; return d; };
		const g = gs.reduce((a, b) => depth(b) > depth(a) ? b : a), label = g.getAttribute('aria-label');
		return {Subject: label.slice('Actions for '.length), Nth: $xs("//*[@role='group']").filter(x => x.getAttribute('aria-label') === label).indexOf(g) + 1}; })()`, &deepest)
	actions := xActions(deepest.Subject, deepest.Nth)
	kind := "Reply"
	if p.has(t, xControl(actions, "Send Follow-Up")) {
		kind = "Send Follow-Up"
	}
	p.tap(t, xControl(actions, kind))
	form := xReplyForm(kind, deepest.Subject)
	p.after(t, "the reply form under the deepest message", exists(form))
	p.typeInto(t, form, "Message", "One more question about the dose.")
	p.check(t, form, "I agree to be billed $25.00 for this message.")
	p.tap(t, xControl(form, "Send Message"))
	p.after(t, "the reply six levels deep", `Math.max(...$xs(`+jsString(xConversationWith(subjRefill)+"//*[@role='group']")+`).map(g => { let d = 0; for (let e = g; e; e = e.parentElement) if (e.tagName === 'UL') d++; return d; })) >= 6`)
	rows := expectPhoneRows(t, p)
	deep := rows[0]
	for _, r := range rows {
		if r.Depth > deep.Depth {
			deep = r
		}
	}
	t.Logf("the deepest row (level %d) leaves its subject %.0f px", deep.Depth, deep.SubjectWidth)
	if deep.Depth < 6 || deep.SubjectWidth < 200 {
		t.Errorf("the deepest row, level %d, leaves its subject %.0f px, want at least 200 px", deep.Depth, deep.SubjectWidth)
	}
	p.expectNoOverflow(t, "a six-level thread")
}

// openRow taps a message's row, as on a touch screen, and checks that its actions then show.
func (p *tab) openRow(t *testing.T, subject string) {
	t.Helper()
	p.tap(t, xRow(subject, 1)+"/summary")
	p.waitFor(t, "the tapped row open", `$x(`+jsString(xRow(subject, 1))+`).open`, swapWait)
	if r := p.row(t, subject); !all(r.Shown, true) {
		t.Errorf("after a tap on %q its actions show %v, want all", subject, r.Shown)
	}
}

// expectPhoneRows checks, on a phone, that every row is its subject plus at most one line (flag
// and date), that no row shows its actions unless it is open, and logs the heights.
func expectPhoneRows(t *testing.T, p *tab) []rowBox {
	t.Helper()
	rows := p.rows(t)
	var lines []string
	for _, r := range rows {
		lines = append(lines, strconv.FormatFloat(r.Height, 'f', 0, 64))
		if r.Height > r.SubjectHeight+1.5*r.LineHeight+0.5 {
			t.Errorf("on a phone the row of %q is %.1f px tall: more than one line (%.1f px) over its subject's %.1f px", r.Subject, r.Height, r.LineHeight, r.SubjectHeight)
		}
	}
	var open []string
	p.js(t, `[...document.querySelectorAll('details[open]')].map(d => d.innerText.slice(0, 40))`, &open)
	if len(open) == 0 {
		for _, r := range rows {
			if !all(r.Shown, false) {
				t.Errorf("on a phone, before any tap, %q shows actions %v", r.Subject, r.Shown)
			}
		}
	}
	t.Logf("row heights on a phone: %s px (line %.1f px); the page %.0f px", strings.Join(lines, ", "), rows[0].LineHeight, p.pageHeight(t))
	return rows
}

// Without JavaScript a tap opens a row just the same, and its Show Details works as a link.
func TestBrowserRowsOnPhoneWithoutJavaScript(t *testing.T) {
	in := newSystem(t).start(t)
	dev := phone
	dev.noScript = true
	p := openPage(t, "patient", in.URL, dev)
	flow(t)
	p.signIn(t, maria)
	expectPhoneRows(t, p)
	p.openRow(t, subjRefill)
	p.tap(t, xControl(xActions(subjRefill, 1), "Show Details"))
	p.after(t, "the details on a new page", exists(xDetails(subjRefill)))
	p.expectText(t, xDetails(subjRefill), "lisinopril 10 mg")
}

// A live refresh, which morphs the inbox into the server's copy, leaves a row the patient has
// opened on her phone open.
func TestBrowserRowStaysOpenThroughLiveRefresh(t *testing.T) {
	lp := sideBySideWith(t, phone)
	p := lp.patient
	p.openRow(t, subjRefill)
	p.countRefreshes(t)
	reply := xReplyUnder(subjLab, "Re: "+subjLab, 1)
	lp.staffReply(t, subjLab, "Your results are fine.")
	p.waitFor(t, "the staff's reply in the patient's page", exists(reply), liveShows)
	p.waitRefreshes(t, 1)
	p.noReload(t, "the live refresh")
	var open bool
	p.js(t, `$x(`+jsString(xRow(subjRefill, 1))+`).open`, &open)
	if !open {
		t.Fatalf("the live refresh closed the row the patient had opened")
	}
	if r := p.row(t, subjRefill); !all(r.Shown, true) {
		t.Errorf("after the live refresh the open row's actions show %v", r.Shown)
	}
}
