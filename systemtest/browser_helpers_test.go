package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securemessages/store"
)

// Demo accounts (password store.DemoPassword).
const (
	maria     = "maria.lopez@riverside.example" // Riverside patient; Riverside charges $25.00 a message
	grace     = "grace.kim@hillcrest.example"   // Hillcrest patient; no fee
	physician = "physician@riverside.example"   // Dr. Amelia Chen, Riverside staff
)

// Demo subjects in Maria's inbox.
const (
	subjRash    = "Rash on my forearm"                      // archived
	subjRefill  = "Refill for my blood pressure medication" // five levels deep
	subjCheckup = "Your annual check-up is due"             // started by the front desk
	subjLab     = "Question about my lab results"           // Maria's, nobody has acted on it: cancellable
)

const (
	chromiumPath  = "/usr/bin/chromium"
	axePath       = "browser/node_modules/axe-core/axe.min.js" // npm ci --prefix systemtest/browser
	failureDir    = "testdata/failures"
	actionTimeout = 15 * time.Second
)

// ---------------------------------------------------------------------------------------------
// The browser: one Chromium per test binary; each page is a tab in a browser context of its own
// (its own cookies), so a patient and a staff member can sit side by side.

var shared struct {
	once          sync.Once
	ctx           context.Context
	cancelBrowser context.CancelFunc
	cancelAlloc   context.CancelFunc
	dir           string
	err           error
}

func browser(t *testing.T) context.Context {
	t.Helper()
	shared.once.Do(func() {
		if _, err := os.Stat(chromiumPath); err != nil {
			shared.err = fmt.Errorf("%s not found: run `make deps` (installs Debian's chromium and chromium-driver)", chromiumPath)
			return
		}
		dir, err := os.MkdirTemp("", "sm-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.NoSandbox, // tests run as root in CI containers
			chromedp.Headless,
			chromedp.NoFirstRun,
			chromedp.DisableGPU,
			chromedp.UserDataDir(dir),
			// This machine's network is closed: no calls home.
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-domain-reliability", true),
			chromedp.WindowSize(1280, 900),
			// Headless Chromium reports no hover and no fine pointer; a desktop has both. Touch
			// emulation (the phone tests) overrides this per page.
			chromedp.Flag("blink-settings", "primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4"),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		// chromedp v0.13.6 logs events newer Chromium sends that it cannot decode; they are harmless.
		ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
		if err := chromedp.Run(ctx); err != nil {
			cancel()
			cancelAlloc()
			shared.err = fmt.Errorf("start %s: %w", chromiumPath, err)
			return
		}
		shared.ctx, shared.cancelBrowser, shared.cancelAlloc = ctx, cancel, cancelAlloc
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ctx
}

func closeBrowser() {
	if shared.cancelBrowser != nil {
		shared.cancelBrowser()
		shared.cancelAlloc()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// Flows and the page states axe checked are counted for the summary TestMain prints.
var flows, flowsFailed, axeStates atomic.Int64

// flow marks t as one browser flow; on failure it leaves a screenshot of each page named.
func flow(t *testing.T, pages ...*tab) {
	t.Helper()
	flows.Add(1)
	t.Cleanup(func() {
		if t.Failed() {
			flowsFailed.Add(1)
			for _, p := range pages {
				p.failureScreenshot(t)
			}
		}
	})
}

func flowCounts() (run, failed, axeChecked int64) {
	return flows.Load(), flowsFailed.Load(), axeStates.Load()
}

// device is how a page is emulated.
type device struct {
	width, height int64
	mobile, touch bool
	dark          bool
	noScript      bool
}

var (
	desktop = device{width: 1280, height: 900}
	phone   = device{width: 320, height: 640, mobile: true, touch: true}
)

// tab is one browser tab, signed in or not.
type tab struct {
	name string
	base string
	ctx  context.Context
	dev  device
}

// openPage opens a tab in a fresh browser context. Its screenshot is saved if the test fails.
func openPage(t *testing.T, name, base string, dev device) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext())
	// The first Run creates the tab; it must not run under a shorter-lived context.
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	p := &tab{name: name, base: base, ctx: ctx, dev: dev}
	t.Cleanup(func() {
		if t.Failed() {
			p.failureScreenshot(t)
		}
		cancel()
	})
	p.run(t, "emulate "+name, p.emulate(dev), chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(recorder).Do(ctx)
		return err
	}))
	return p
}

// recorder keeps the page's last htmx events (live stream, requests, swaps, errors), which a
// failed test prints: most browser failures are explained by them.
const recorder = `(() => {
  const log = window.__events = [];
  const keep = (name, detail) => { log.push(new Date().toISOString().slice(11, 23) + ' ' + name + (detail ? ' ' + detail : '')); if (log.length > 60) log.shift(); };
  for (const name of ['htmx:sse:after:connection', 'htmx:sse:error', 'htmx:sse:close', 'htmx:sse:after:message',
                      'htmx:before:request', 'htmx:after:request', 'htmx:error', 'htmx:response:error', 'htmx:after:swap']) {
    document.addEventListener(name, e => {
      const d = e.detail || {};
      const ctx = d.ctx || {};
      let info = '';
      if (d.message) info = d.message.event + ' ' + d.message.data;
      else if (d.error) info = String(d.error);
      else if (ctx.request) info = ctx.request.method + ' ' + ctx.request.action + (ctx.response ? ' -> ' + ctx.response.status : '');
      else if (d.reason) info = d.reason;
      keep(name, info);
    }, true);
  }
  addEventListener('load', () => keep('load', location.pathname + location.search));
  // The status line, as it changes; and requests of elements already swapped out.
  let last = null;
  const watch = () => {
    const n = document.getElementById('notice');
    const text = n ? n.textContent : null;
    if (text !== last) { last = text; keep('notice', JSON.stringify(text)); }
    const inbox = document.getElementById('inbox');
    if (inbox && !inbox.__watched) {
      inbox.__watched = true;
      for (const name of ['htmx:before:request', 'htmx:after:swap', 'htmx:error'])
        inbox.addEventListener(name, e => { if (!e.target.isConnected) keep(name + ' (detached)', ((e.detail.ctx || {}).request || {}).action || ''); });
    }
  };
  addEventListener('DOMContentLoaded', () => { watch(); new MutationObserver(watch).observe(document.body, {subtree: true, childList: true, characterData: true}); });
})()`

func (p *tab) emulate(d device) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := emulation.SetDeviceMetricsOverride(d.width, d.height, 1, d.mobile).Do(ctx); err != nil {
			return err
		}
		if err := emulation.SetTouchEmulationEnabled(d.touch).WithMaxTouchPoints(5).Do(ctx); err != nil {
			return err
		}
		scheme := "light"
		if d.dark {
			scheme = "dark"
		}
		if err := emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}).Do(ctx); err != nil {
			return err
		}
		return emulation.SetScriptExecutionDisabled(d.noScript).Do(ctx)
	})
}

// setDevice changes the emulation of an open page (a rotation, a dark-mode switch).
func (p *tab) setDevice(t *testing.T, d device) {
	t.Helper()
	p.dev = d
	p.run(t, "emulate", p.emulate(d))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// failureScreenshot, for a failed test, logs the page's last htmx events and saves what it shows
// in failureDir, naming the file in the test's log.
func (p *tab) failureScreenshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	var events []string
	if chromedp.Run(ctx, chromedp.Evaluate(`window.__events || []`, &events)) == nil && len(events) > 0 {
		t.Logf("%s's page, last events:\n  %s", p.name, strings.Join(events, "\n  "))
	}
	file, err := p.saveScreenshot(ctx, t.Name())
	if err != nil {
		t.Logf("no screenshot of %s's page: %v", p.name, err)
		return
	}
	var url string
	chromedp.Run(ctx, chromedp.Location(&url))
	t.Logf("screenshot of %s's page (%s) at the failure: %s", p.name, url, file)
}

// saveScreenshot writes what the page shows to failureDir as <test>-<page>.png.
func (p *tab) saveScreenshot(ctx context.Context, test string) (string, error) {
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(failureDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, unsafeName.ReplaceAllString(test+"-"+p.name, "_")+".png")
	return file, os.WriteFile(file, png, 0o644)
}

// run runs browser actions, failing the test with what was being done.
func (p *tab) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// jsPrelude gives page expressions a way to find things by XPath.
const jsPrelude = `const $x = (xp, root) => document.evaluate(xp, root || document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
const $xs = (xp, root) => { const r = document.evaluate(xp, root || document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null); const out = []; for (let i = 0; i < r.snapshotLength; i++) out.push(r.snapshotItem(i)); return out; };
`

// js evaluates an expression in the page (through DevTools, so the page's CSP does not apply)
// and decodes its JSON value into out.
func (p *tab) js(t *testing.T, expr string, out any) {
	t.Helper()
	p.run(t, "evaluate "+firstLine(expr), p.evalAction(expr, out))
}

func (p *tab) evalAction(expr string, out any) chromedp.Action {
	return chromedp.Evaluate("(() => { "+jsPrelude+" return ("+expr+"); })()", out, awaitPromise)
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// waitFor polls a page expression until it is true, or fails the test after timeout.
func (p *tab) waitFor(t *testing.T, what, expr string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
		err := chromedp.Run(ctx, p.evalAction("Boolean("+expr+")", &ok))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("%s: waiting %v for %s: %v", p.name, timeout, what, err)
			}
			t.Fatalf("%s: waited %v for %s", p.name, timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------
// Finding things the way a person does: by visible names, labels and roles.

// xq quotes a string for XPath.
func xq(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return "concat('" + strings.ReplaceAll(s, "'", `', "'", '`) + "')"
}

// xControl is a link or button by its visible name, optionally inside scope (an XPath).
func xControl(scope, name string) string {
	return fmt.Sprintf(`(%s//*[(self::a or self::button or @role='button') and normalize-space()=%s])[1]`, scope, xq(name))
}

// xActions is the group of actions of the message with this subject (the nth such, from 1).
func xActions(subject string, nth int) string {
	return fmt.Sprintf(`(//*[@role='group' and @aria-label=%s])[%d]`, xq("Actions for "+subject), nth)
}

// xMessage is the list item of the message with this subject: its row, its panel, its replies.
func xMessage(subject string, nth int) string {
	return xActions(subject, nth) + "/ancestor::li[1]"
}

// xField is the form control a label names.
func xField(scope, label string) string {
	return fmt.Sprintf(`(%s//*[@id=(%s//label[normalize-space()=%s])[1]/@for])[1]`, scope, scope, xq(label))
}

// exists is a page expression: does this XPath find something?
func exists(xpath string) string { return "$x(" + jsString(xpath) + ") !== null" }

// missing is a page expression: does this XPath find nothing?
func missing(xpath string) string { return "$x(" + jsString(xpath) + ") === null" }

// textOf is a page expression: the visible text of what this XPath finds ("" if nothing).
func textOf(xpath string) string {
	return "(($x(" + jsString(xpath) + ") || {}).innerText || '').replace(/\\s+/g, ' ').trim()"
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (p *tab) has(t *testing.T, xpath string) bool {
	t.Helper()
	var ok bool
	p.js(t, exists(xpath), &ok)
	return ok
}

func (p *tab) text(t *testing.T, xpath string) string {
	t.Helper()
	var s string
	p.js(t, textOf(xpath), &s)
	return s
}

// click clicks what the XPath finds, as a mouse does (moving there first, so hover applies).
func (p *tab) click(t *testing.T, xpath string) {
	t.Helper()
	if p.dev.touch {
		p.tap(t, xpath)
		return
	}
	p.pointAt(t, xpath)
	p.run(t, "click "+xpath, chromedp.Click(xpath, chromedp.BySearch))
}

// pointAt moves the mouse to the middle of what the XPath finds (of its first line box: the
// middle of a link that wraps can fall between its lines), and waits until a click there
// would reach it: a message's actions take clicks only once their row is pointed at, as a person
// points before clicking.
func (p *tab) pointAt(t *testing.T, xpath string) {
	t.Helper()
	var box struct{ X, Y float64 }
	p.js(t, `(() => { const e = $x(`+jsString(xpath)+`); e.scrollIntoView({block: 'center'}); const r = e.getClientRects()[0] || e.getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, &box)
	p.run(t, "point at "+xpath, chromedp.MouseEvent(input.MouseMoved, box.X, box.Y))
	p.waitFor(t, "a click to reach "+xpath, fmt.Sprintf(`(e => { const hit = document.elementFromPoint(%f, %f); return hit !== null && (hit === e || e.contains(hit)); })($x(%s))`, box.X, box.Y, jsString(xpath)), swapWait)
}

// tap taps what the XPath finds with a finger (touch events, no mouse). An action of a message
// row that is closed is out of a finger's reach: the row is tapped open first, as a person does.
func (p *tab) tap(t *testing.T, xpath string) {
	t.Helper()
	var closed bool
	p.js(t, `(e => { const row = e && e.closest('details'); return !!row && !row.open && !e.closest('summary'); })($x(`+jsString(xpath)+`))`, &closed)
	if closed {
		row := "(" + xpath + ")/ancestor::details[1]"
		p.tapAt(t, row+"/summary")
		p.waitFor(t, "the tapped row open", "$x("+jsString(row)+").open", swapWait)
	}
	p.tapAt(t, xpath)
}

// tapAt taps the middle of what the XPath finds (of its first line box, as pointAt).
func (p *tab) tapAt(t *testing.T, xpath string) {
	t.Helper()
	var box struct{ X, Y float64 }
	// Touches land in the visual viewport, which may be panned away from the layout viewport.
	p.js(t, `(() => { const e = $x(`+jsString(xpath)+`); e.scrollIntoView({block: 'center'}); const r = e.getClientRects()[0] || e.getBoundingClientRect(); const v = visualViewport;
		return {X: (r.left + r.width / 2 - v.offsetLeft) * v.scale, Y: (r.top + r.height / 2 - v.offsetTop) * v.scale}; })()`, &box)
	point := []*input.TouchPoint{{X: box.X, Y: box.Y}}
	p.run(t, "tap "+xpath,
		input.DispatchTouchEvent(input.TouchStart, point),
		chromedp.Sleep(30*time.Millisecond),
		input.DispatchTouchEvent(input.TouchEnd, []*input.TouchPoint{}))
}

// typeInto focuses a field by its label and types into it.
func (p *tab) typeInto(t *testing.T, scope, label, text string) {
	t.Helper()
	p.run(t, "type into "+label, chromedp.SendKeys(xField(scope, label), text, chromedp.BySearch))
}

// check ticks a checkbox by its label.
func (p *tab) check(t *testing.T, scope, label string) {
	t.Helper()
	p.click(t, xField(scope, label))
}

func (p *tab) press(t *testing.T, key string) {
	t.Helper()
	p.run(t, "press key", chromedp.KeyEvent(key))
}

// navigate loads a path of the app, waits for the page's load event and marks the new page.
func (p *tab) navigate(t *testing.T, path string) {
	t.Helper()
	p.run(t, "navigate to "+path, chromedp.Navigate(p.base+path))
	p.mark(t)
}

func (p *tab) location(t *testing.T) string {
	t.Helper()
	var u string
	p.run(t, "location", chromedp.Location(&u))
	return strings.TrimPrefix(u, p.base)
}

// signIn signs in through the form and waits for the inbox, then marks the page: a full reload
// would lose the mark, so flows check it after each swap.
func (p *tab) signIn(t *testing.T, email string) {
	t.Helper()
	p.navigate(t, "/signin")
	p.typeInto(t, "", "Email", email)
	p.typeInto(t, "", "Password", store.DemoPassword)
	p.click(t, xControl("", "Sign In"))
	p.waitFor(t, "the inbox after signing in", exists(`//h2[@id='inbox-title']`)+` && document.readyState === 'complete'`, swapWait)
	if !p.dev.noScript {
		p.waitFor(t, "htmx to start", `window.htmx !== undefined`, swapWait)
	}
	p.mark(t)
}

// mark sets a value that only survives as long as the document does.
func (p *tab) mark(t *testing.T) {
	t.Helper()
	p.js(t, `window.__marker = 1`, nil)
}

// noReload fails the test if the document was reloaded since mark.
func (p *tab) noReload(t *testing.T, after string) {
	t.Helper()
	var ok bool
	p.js(t, `window.__marker === 1`, &ok)
	if !ok {
		t.Fatalf("%s: the page was reloaded after %s; htmx should have swapped a fragment", p.name, after)
	}
}

// notice is the text of the page's status line.
func (p *tab) notice(t *testing.T) string {
	t.Helper()
	return p.text(t, `//*[@role='status']`)
}

// hover moves the mouse over a message's row (its flag and subject).
func (p *tab) hover(t *testing.T, xpath string) {
	t.Helper()
	var box struct{ X, Y float64 }
	p.js(t, `(() => { const e = $x(`+jsString(xpath)+`); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return {X: r.left + 8, Y: r.top + 8}; })()`, &box)
	p.run(t, "hover "+xpath, chromedp.MouseEvent(input.MouseMoved, box.X, box.Y))
}

// moveMouseAway parks the mouse in a corner where nothing reacts to it.
func (p *tab) moveMouseAway(t *testing.T) {
	t.Helper()
	p.run(t, "move the mouse away", chromedp.MouseEvent(input.MouseMoved, float64(p.dev.width-2), float64(p.dev.height-2)))
}

// activeName is the visible text (or label) of the focused element.
func (p *tab) activeName(t *testing.T) string {
	t.Helper()
	var s string
	p.js(t, `(() => { const e = document.activeElement; if (!e || e === document.body) return ''; const l = e.id && document.querySelector('label[for="' + e.id + '"]'); return ((l && l.innerText) || e.getAttribute('aria-label') || e.innerText || e.value || e.tagName).replace(/\s+/g, ' ').trim(); })()`, &s)
	return s
}

// tabTo presses Tab until the focused element's name is want.
func (p *tab) tabTo(t *testing.T, want string, max int) int {
	t.Helper()
	for i := 1; i <= max; i++ {
		p.press(t, kb.Tab)
		if p.activeName(t) == want {
			return i
		}
	}
	t.Fatalf("%s: %d presses of Tab never reached %q", p.name, max, want)
	return 0
}

// offline cuts the page's network, or restores it.
func (p *tab) offline(t *testing.T, off bool) {
	t.Helper()
	p.run(t, "network offline="+strconv.FormatBool(off), network.Enable(), network.EmulateNetworkConditions(off, 0, -1, -1))
}

// delayRequests holds back the page's requests whose URL matches pattern (a glob) for d, as a
// slow network would. It returns how many requests it has held back so far.
func (p *tab) delayRequests(t *testing.T, pattern string, d time.Duration) (held func() int) {
	t.Helper()
	var n atomic.Int32
	chromedp.ListenTarget(p.ctx, func(ev any) {
		if paused, ok := ev.(*fetch.EventRequestPaused); ok {
			n.Add(1)
			go func() {
				time.Sleep(d)
				c := chromedp.FromContext(p.ctx)
				fetch.ContinueRequest(paused.RequestID).Do(cdp.WithExecutor(p.ctx, c.Target))
			}()
		}
	})
	p.run(t, "delay "+pattern, fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: pattern}}))
	return func() int { return int(n.Load()) }
}

// readAxe reads axe-core's script once per test binary.
var axeSource = sync.OnceValues(func() ([]byte, error) {
	b, err := os.ReadFile(axePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: run `make test`, or `npm ci --prefix systemtest/browser`", axePath)
	}
	return b, err
})
