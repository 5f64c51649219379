package systemtest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Colours as Chromium computes them, measured the way WCAG 2.1 does: relative luminance and
// contrast ratio, in Go, so the figures do not depend on a script in the page.

// rgba is a computed CSS colour, channels 0-255 and alpha 0-1.
type rgba struct{ r, g, b, a float64 }

var cssNumbers = regexp.MustCompile(`[\d.]+`)

// parseColour reads a computed colour, "rgb(11, 87, 208)" or "rgba(0, 0, 0, 0)".
func parseColour(t *testing.T, s string) rgba {
	t.Helper()
	n := cssNumbers.FindAllString(s, -1)
	if len(n) < 3 || len(n) > 4 || s[:3] != "rgb" {
		t.Fatalf("computed colour %q is not rgb() or rgba()", s)
	}
	c := rgba{a: 1}
	for i, p := range []*float64{&c.r, &c.g, &c.b, &c.a}[:len(n)] {
		v, err := strconv.ParseFloat(n[i], 64)
		if err != nil {
			t.Fatalf("computed colour %q: %v", s, err)
		}
		*p = v
	}
	return c
}

// over draws c over an opaque background.
func (c rgba) over(bg rgba) rgba {
	mix := func(f, b float64) float64 { return f*c.a + b*(1-c.a) }
	return rgba{mix(c.r, bg.r), mix(c.g, bg.g), mix(c.b, bg.b), 1}
}

func (c rgba) String() string { return fmt.Sprintf("rgb(%.0f, %.0f, %.0f)", c.r, c.g, c.b) }

// luminance is WCAG's relative luminance of an opaque colour.
func (c rgba) luminance() float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is WCAG's contrast ratio of two opaque colours, from 1 to 21.
func contrast(a, b rgba) float64 {
	la, lb := a.luminance(), b.luminance()
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// backdrop is the opaque colour behind an element: the computed backgrounds of it and its
// ancestors (innermost first), laid over one another on the white canvas.
func backdrop(t *testing.T, layers []string) rgba {
	t.Helper()
	bg := rgba{255, 255, 255, 1}
	for i := len(layers) - 1; i >= 0; i-- {
		bg = parseColour(t, layers[i]).over(bg)
	}
	return bg
}

// drawn is what a part of the page shows, as computed: its backgrounds (itself, then each
// ancestor's), the colours of its structure lines, and every piece of text in it.
type drawn struct {
	Backgrounds []string
	Lines       []struct{ What, Colour string }
	Texts       []struct {
		Text, Colour string
		Backgrounds  []string
	}
}

// colours reads what the element the XPath finds draws: its border and the guide line of every
// nested list of replies in it, and each element with text of its own.
func (p *tab) colours(t *testing.T, xpath string) drawn {
	t.Helper()
	var d drawn
	p.js(t, `(() => {
		const el = $x(`+jsString(xpath)+`);
		const layers = e => { const out = []; for (; e; e = e.parentElement) out.push(getComputedStyle(e).backgroundColor); return out; };
		const lines = [{What: 'border', Colour: getComputedStyle(el).borderTopColor}];
		for (const ul of el.querySelectorAll('ul.replies')) {
			const s = getComputedStyle(ul);
			if (s.borderLeftStyle !== 'none' && parseFloat(s.borderLeftWidth) > 0) lines.push({What: 'guide line', Colour: s.borderLeftColor});
		}
		const texts = [];
		for (const e of [el, ...el.querySelectorAll('*')]) {
			const own = [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim();
			if (own) texts.push({Text: own.slice(0, 40), Colour: getComputedStyle(e).color, Backgrounds: layers(e)});
		}
		return {Backgrounds: layers(el), Lines: lines, Texts: texts};
	})()`, &d)
	return d
}

// expectReadable fails for any text in d under 4.5:1 against what is behind it (WCAG 1.4.3, AA).
func expectReadable(t *testing.T, what string, d drawn) {
	t.Helper()
	if len(d.Texts) == 0 {
		t.Fatalf("%s: no text found", what)
	}
	for _, x := range d.Texts {
		bg := backdrop(t, x.Backgrounds)
		fg := parseColour(t, x.Colour).over(bg)
		if c := contrast(fg, bg); c < 4.5 {
			t.Errorf("%s: %q is %s on %s, contrast %.2f:1, want at least 4.5:1", what, x.Text, fg, bg, c)
		}
	}
}

// The help page draws archived threads "in a darker grey". In the light and the dark scheme alike,
// an archived conversation is darker than an open one, its border and nesting guide lines stand
// out from its grey (3:1, WCAG 1.4.11), and all text in both reads at AA (4.5:1).
func TestBrowserArchivedColours(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	// The refill thread is five levels deep: archived, it shows guide lines on the grey.
	p.click(t, xControl(xActions(subjRefill, 1), "Archive"))
	p.after(t, "the conversation archived", missing(xActions(subjRefill, 1)))
	p.click(t, xControl("", "Show All Conversations"))
	p.after(t, "all conversations", exists(xActions(subjRefill, 1)))
	if got := p.attr(t, xConversationWith(subjRefill), "aria-label"); got != "Archived conversation" {
		t.Fatalf("the refill conversation is labelled %q, want it archived", got)
	}
	for _, dark := range []bool{false, true} {
		dev := desktop
		dev.dark = dark
		p.setDevice(t, dev)
		scheme := map[bool]string{false: "light", true: "dark"}[dark]
		var matches bool
		p.js(t, `matchMedia('(prefers-color-scheme: `+scheme+`)').matches`, &matches)
		if !matches {
			t.Fatalf("the page does not see the %s scheme it is emulated in", scheme)
		}
		archived := p.colours(t, xConversationWith(subjRefill))
		open := p.colours(t, xConversationWith(subjCheckup))
		archivedBg, openBg := backdrop(t, archived.Backgrounds), backdrop(t, open.Backgrounds)
		if la, lo := archivedBg.luminance(), openBg.luminance(); la >= lo {
			t.Errorf("%s: the archived conversation (%s, luminance %.3f) is not darker than an open one (%s, %.3f)",
				scheme, archivedBg, la, openBg, lo)
		}
		guides := 0
		for _, l := range archived.Lines {
			if l.What == "guide line" {
				guides++
			}
			c := parseColour(t, l.Colour).over(archivedBg)
			if r := contrast(c, archivedBg); r < 3 {
				t.Errorf("%s: the archived conversation's %s is %s on %s, contrast %.2f:1, want at least 3:1", scheme, l.What, c, archivedBg, r)
			}
		}
		if guides < 4 {
			t.Errorf("%s: %d guide lines in the five-level archived thread, want at least 4", scheme, guides)
		}
		expectReadable(t, scheme+", archived conversation", archived)
		expectReadable(t, scheme+", open conversation", open)
	}
}

// On the staff dashboard both patients and colleagues write: a patient's flag and a colleague's
// differ in colour and in shape, and their accessible names say which is which; "Me" stays as it
// is. Their text reads at AA in both schemes. The compose form speaks as the practice.
func TestBrowserStaffFlagsAndWording(t *testing.T) {
	in := newSystem(t).start(t)
	s := openPage(t, "staff", in.URL, desktop)
	flow(t)
	s.signIn(t, physician)
	for _, dark := range []bool{false, true} {
		dev := desktop
		dev.dark = dark
		s.setDevice(t, dev)
		scheme := map[bool]string{false: "light", true: "dark"}[dark]
		var flags []struct {
			Shown, Name, Title, Colour, Background, Shape string
			Backgrounds                                   []string
		}
		s.js(t, `$xs("//*[@role='group' and starts-with(@aria-label, 'Actions for')]").map(g => {
			const flag = g.closest('details').querySelector(':scope > summary > .flag'), st = getComputedStyle(flag);
			const shown = flag.querySelector('[aria-hidden=true]');
			const layers = []; for (let e = flag; e; e = e.parentElement) layers.push(getComputedStyle(e).backgroundColor);
			return {Shown: shown ? shown.textContent : '', Title: flag.title,
			        Name: [...flag.childNodes].filter(n => n !== shown).map(n => n.textContent).join('').trim(),
			        Colour: st.color, Background: st.backgroundColor, Shape: st.borderRadius + ' ' + st.boxShadow, Backgrounds: layers};
		})`, &flags)
		type look struct{ colour, background, shape string }
		kinds := map[string]look{}
		for _, f := range flags {
			bg := backdrop(t, f.Backgrounds)
			if c := contrast(parseColour(t, f.Colour).over(bg), bg); c < 4.5 {
				t.Errorf("%s: the flag %q (%s) has text at %.2f:1 on %s, want at least 4.5:1", scheme, f.Shown, f.Name, c, bg)
			}
			kind := ""
			switch {
			case f.Shown == "Me" && f.Name == "Sent by you":
				kind = "me"
			case f.Shown == "ML" && f.Name == "From Maria Lopez, patient":
				kind = "patient"
			case f.Shown != "" && f.Shown != "Me" && strings.HasPrefix(f.Name, "From ") && strings.HasSuffix(f.Name, ", patient"):
				kind = "another patient"
			case f.Shown != "" && f.Shown != "Me" && strings.HasPrefix(f.Name, "From ") && strings.HasSuffix(f.Name, ", colleague"):
				kind = "colleague"
			default:
				t.Errorf("%s: a flag shows %q with accessible name %q: want \"Me\" / \"Sent by you\", or initials / \"From <name>, patient\" or \"…, colleague\"", scheme, f.Shown, f.Name)
				continue
			}
			if kind != "me" && f.Title != f.Name {
				t.Errorf("%s: the flag %q has the title %q, want its accessible name %q", scheme, f.Shown, f.Title, f.Name)
			}
			kinds[kind] = look{f.Colour, f.Background, f.Shape}
		}
		patient, colleague := kinds["patient"], kinds["colleague"]
		if _, ok := kinds["me"]; !ok || patient == (look{}) || colleague == (look{}) {
			t.Fatalf("%s: want the physician's own, a patient's and a colleague's flags on the dashboard; found %v", scheme, kinds)
		}
		if other, ok := kinds["another patient"]; ok && other != patient {
			t.Errorf("%s: two patients' flags are drawn differently (%v and %v)", scheme, patient, other)
		}
		if patient.colour == colleague.colour && patient.background == colleague.background {
			t.Errorf("%s: a patient's flag and a colleague's are drawn in the same colours (%s on %s)", scheme, patient.colour, patient.background)
		}
		if patient.shape == colleague.shape {
			t.Errorf("%s: a patient's flag and a colleague's have the same shape (%s): colour alone tells them apart", scheme, patient.shape)
		}
	}
	s.click(t, xControl("", "Compose Message"))
	s.after(t, "the compose form", exists(xField(xCompose, "Patient")))
	for _, label := range []string{"Patient", "Subject", "Message"} {
		if !s.has(t, xField(xCompose, label)) {
			t.Errorf("the staff compose form has no field labelled %q", label)
		}
	}
	for _, words := range []string{"Complaints / Questions / Symptoms", "Anyone on my care team", "How should we respond?"} {
		if s.has(t, xCompose+`//*[contains(., `+xq(words)+`)]`) {
			t.Errorf("the staff compose form uses the patient's words %q", words)
		}
	}
}
