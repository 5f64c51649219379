package systemtest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"

	"securemessages/store/storetest"
)

// xTimeZoneNote is the line that says which time zone the inbox's dates are in.
const xTimeZoneNote = `//p[starts-with(normalize-space(), "Times are in the practice's time zone")]`

// Dates are the practice's (storetest.TimeZone, America/New_York, in the demo of the tests),
// whatever the browser's zone, and the page says so: quietly where the browser is in the
// practice's zone or runs no script, plainly where it is elsewhere (js/time-zone.js).
func TestBrowserTimesInPracticeZone(t *testing.T) {
	practice, err := time.LoadLocation(storetest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	in := newSystem(t).start(t)
	noJS := desktop
	noJS.noScript = true
	for _, c := range []struct {
		name, zone string
		dev        device
		loud       bool
	}{
		{"a browser in Chicago", "America/Chicago", desktop, true},
		{"a browser in the practice's zone", storetest.TimeZone, desktop, false},
		{"a browser in Chicago without JavaScript", "America/Chicago", noJS, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := openPage(t, "patient", in.URL, c.dev)
			flow(t)
			p.run(t, "set the browser's time zone", emulation.SetTimezoneOverride(c.zone))
			p.signIn(t, maria)
			if !c.dev.noScript {
				var zone string
				p.js(t, `Intl.DateTimeFormat().resolvedOptions().timeZone`, &zone)
				if zone != c.zone {
					t.Fatalf("the browser says its zone is %q, want %q", zone, c.zone)
				}
			}
			// The message's time, exact in its datetime, is shown in the practice's zone.
			when := xMessage(subjLab, 1) + "//time"
			var machine string
			p.js(t, `$x(`+jsString(when)+`).getAttribute('datetime')`, &machine)
			sent, err := time.Parse(time.RFC3339, machine)
			if err != nil || !strings.HasSuffix(machine, "Z") {
				t.Fatalf("the message's datetime %q is not exact UTC: %v", machine, err)
			}
			shown := p.text(t, when)
			if want := sent.In(practice).Format("3:04 PM"); !strings.Contains(shown, want) {
				t.Errorf("the message sent at %s shows %q, want the practice's time %q", machine, shown, want)
			}
			if local := sent.In(chicago).Format("3:04 PM"); strings.Contains(shown, local) {
				t.Errorf("the message shows %q, Chicago's time %q", shown, local)
			}
			// The zone is said, and stands out only where the browser is elsewhere.
			note := p.text(t, xTimeZoneNote)
			if !strings.Contains(note, storetest.TimeZone) {
				t.Errorf("the zone note %q does not name %s", note, storetest.TimeZone)
			}
			var style struct{ Weight, Display string }
			p.js(t, `(() => { const s = getComputedStyle($x(`+jsString(xTimeZoneNote)+`));
				return {Weight: s.fontWeight, Display: s.display}; })()`, &style)
			if style.Display == "none" {
				t.Error("the zone note is hidden")
			}
			if loud := style.Weight == "700"; loud != c.loud {
				t.Errorf("the zone note has font-weight %s: stands out %v, want %v", style.Weight, loud, c.loud)
			}
		})
	}
}
