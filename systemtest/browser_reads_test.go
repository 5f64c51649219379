package systemtest

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// sameSession opens another tab of p's browser context: the same cookies, so the same signed-in
// person, as a second tab of theirs is.
func sameSession(t *testing.T, p *tab, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx) // a tab context's child opens a tab in its browser context
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	q := &tab{name: name, base: p.base, ctx: ctx, dev: p.dev}
	t.Cleanup(func() {
		if t.Failed() {
			q.failureScreenshot(t)
		}
		cancel()
	})
	q.run(t, "emulate "+name, q.emulate(p.dev))
	return q
}

// newCount reads the count of new messages the page's heading and title show, and checks that
// they agree.
func (p *tab) newCount(t *testing.T) int {
	t.Helper()
	var got struct {
		Heading string `json:"heading"`
		Title   string `json:"title"`
	}
	p.js(t, `({heading: document.getElementById('new-count').textContent, title: document.title})`, &got)
	n := 0
	if m := regexp.MustCompile(`^ ?\((\d+) new\)$`).FindStringSubmatch(got.Heading); m != nil {
		n, _ = strconv.Atoi(m[1])
	} else if got.Heading != "" {
		t.Fatalf("%s: the heading's count reads %q", p.name, got.Heading)
	}
	want := "Secure Messages"
	if n > 0 {
		want += fmt.Sprintf(" (%d new)", n)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(want) + `$`).MatchString(got.Title) {
		t.Errorf("%s: title %q does not end %q, as the heading says", p.name, got.Title, want)
	}
	return n
}

// Two tabs of one patient: she opens the practice's message in one, and the other's mark and
// count drop without a reload; Mark as Unread in the first brings them back in both.
func TestBrowserReadInOneTabUpdatesTheOther(t *testing.T) {
	sys := newSystem(t)
	inst := sys.start(t)
	one := openPage(t, "first tab", inst.URL, desktop)
	flow(t, one)
	one.signIn(t, maria)
	two := sameSession(t, one, "second tab")
	two.navigate(t, "/inbox")
	two.waitFor(t, "htmx to start", `window.htmx !== undefined`, swapWait)
	inst.waitStreams(t, 2)

	row := xMessage(subjCheckup, 1)
	newRow := row + "[contains(concat(' ', @class, ' '), ' new ')]"
	n := two.newCount(t)
	if n == 0 || !two.has(t, newRow) {
		t.Fatalf("the practice's message is not new to her (count %d): the test proves nothing", n)
	}
	one.expectText(t, row, "New:")
	one.axe(t, "a new message in the inbox")

	one.click(t, xControl(xActions(subjCheckup, 1), "Show Details"))
	one.after(t, "the details open", exists(xMessage(subjCheckup, 1)+"//*[contains(@class, 'slot')]//p[contains(@class, 'body')]"))
	two.waitFor(t, "the other tab's mark gone", missing(newRow), liveShows)
	two.waitFor(t, "the other tab's count dropped", fmt.Sprintf(`document.getElementById('new-count').getAttribute('data-count') === '%d'`, n-1), liveShows)
	if got := two.newCount(t); got != n-1 {
		t.Errorf("the other tab counts %d new, want %d", got, n-1)
	}
	two.noReload(t, "the read in the first tab")
	if got := two.notice(t); got == "New activity in your conversations." {
		t.Error("her own read in another tab is announced as new activity")
	}
	one.waitFor(t, "the first tab's own count dropped", fmt.Sprintf(`document.getElementById('new-count').getAttribute('data-count') === '%d'`, n-1), liveShows)

	one.click(t, xControl(xActions(subjCheckup, 1), "Mark as Unread"))
	one.after(t, "Mark as Unread done", exists(`//*[@id='notice' and normalize-space()='The message was marked as unread.']`))
	two.waitFor(t, "the other tab's mark back", exists(newRow), liveShows)
	two.waitFor(t, "the other tab's count back", fmt.Sprintf(`document.getElementById('new-count').getAttribute('data-count') === '%d'`, n), liveShows)
	if got := two.newCount(t); got != n {
		t.Errorf("the other tab counts %d new, want %d", got, n)
	}
	one.axe(t, "after Mark as Unread")
}
