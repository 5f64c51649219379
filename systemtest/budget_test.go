package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A page a cheap phone on a slow network can load: the first visit to the inbox transfers at
// most 30 KB in all (HTML, stylesheet, htmx and its SSE extension, compressed; the long-lived
// live stream aside), asks nothing of any other origin, loads no web fonts, and nothing moves
// when a message's actions appear.

const firstLoadBudget = 30 * 1024 // bytes on the wire, headers included

// transfer is one response as Chromium saw it.
type transfer struct {
	url, mime, encoding, cacheControl string
	kind                              network.ResourceType
	bytes                             float64 // encoded (compressed) bytes received, headers included
	done                              bool
}

// netLog records a page's requests while it is on.
type netLog struct {
	mu   sync.Mutex
	byID map[network.RequestID]*transfer
	urls []string
}

// recordNetwork starts recording with the browser cache off, as a first visit.
func (p *tab) recordNetwork(t *testing.T) *netLog {
	t.Helper()
	l := &netLog{byID: map[network.RequestID]*transfer{}}
	chromedp.ListenTarget(p.ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			l.urls = append(l.urls, e.Request.URL)
			l.byID[e.RequestID] = &transfer{url: e.Request.URL, kind: e.Type}
		case *network.EventResponseReceived:
			if tr := l.byID[e.RequestID]; tr != nil {
				tr.mime = e.Response.MimeType
				tr.encoding = header(e.Response.Headers, "Content-Encoding")
				tr.cacheControl = header(e.Response.Headers, "Cache-Control")
			}
		case *network.EventLoadingFinished:
			if tr := l.byID[e.RequestID]; tr != nil {
				tr.bytes, tr.done = e.EncodedDataLength, true
			}
		}
	})
	p.run(t, "record the network", network.Enable(), network.SetCacheDisabled(true))
	return l
}

func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func (l *netLog) transfers() []transfer {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []transfer
	for _, tr := range l.byID {
		out = append(out, *tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].url < out[j].url })
	return out
}

// load visits path afresh and returns what it transferred once everything but the live stream
// has finished, and the live stream, if the page has one, has been asked for.
func (p *tab) load(t *testing.T, path string) (*netLog, []transfer) {
	t.Helper()
	l := p.recordNetwork(t)
	p.navigate(t, path)
	const wait = 30 * time.Second
	deadline := time.Now().Add(wait)
	for {
		trs := l.transfers()
		pending, stream := 0, false
		for _, tr := range trs {
			if strings.Contains(tr.url, "/events") {
				stream = true
			} else if !tr.done {
				pending++
			}
		}
		if pending == 0 && len(trs) > 0 {
			var wantsStream bool
			p.js(t, `document.getElementById('live')?.hasAttribute('hx-sse:connect') === true`, &wantsStream)
			if stream || !wantsStream {
				return l, trs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d requests still loading (the live stream asked for: %t) after %v", path, pending, stream, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var hashedAsset = regexp.MustCompile(`/static/(css|js)/[a-z.-]+\.[0-9a-f]{10}\.(css|js)$`)

// checkFirstLoad applies the budget and the caching and compression rules to one page's load.
func checkFirstLoad(t *testing.T, base, page string, trs []transfer, budget float64) float64 {
	t.Helper()
	var total float64
	var lines []string
	sawStream := false
	for _, tr := range trs {
		if !strings.HasPrefix(tr.url, base+"/") {
			t.Errorf("%s: a request to another origin: %s", page, tr.url)
		}
		if tr.kind == network.ResourceTypeFont || regexp.MustCompile(`\.(woff2?|ttf|otf)(\?|$)`).MatchString(tr.url) {
			t.Errorf("%s: a web font: %s", page, tr.url)
		}
		path := strings.TrimPrefix(tr.url, base)
		if strings.HasPrefix(path, "/events") {
			sawStream = true
			if tr.encoding != "" {
				t.Errorf("%s: the live stream is compressed (%s): events would wait in the compressor", page, tr.encoding)
			}
			continue
		}
		total += tr.bytes
		lines = append(lines, fmt.Sprintf("%6.0f B  %-5s %s", tr.bytes, tr.encoding, path))
		switch {
		case tr.kind == network.ResourceTypeDocument:
			if tr.encoding != "gzip" && tr.encoding != "br" {
				t.Errorf("%s: the HTML is sent uncompressed (Content-Encoding %q)", page, tr.encoding)
			}
		case strings.HasPrefix(path, "/static/"):
			if !hashedAsset.MatchString(path) {
				t.Errorf("%s: %s has no content hash in its name", page, path)
			}
			if !strings.Contains(tr.cacheControl, "max-age=31536000") || !strings.Contains(tr.cacheControl, "immutable") {
				t.Errorf("%s: %s is not cached for long (Cache-Control %q)", page, path, tr.cacheControl)
			}
			if tr.encoding != "gzip" && tr.encoding != "br" {
				t.Errorf("%s: %s is sent uncompressed", page, path)
			}
		}
	}
	t.Logf("%s, first load: %.0f bytes (%.1f KB) in %d responses, live stream aside:\n  %s",
		page, total, total/1024, len(lines), strings.Join(lines, "\n  "))
	if total > budget {
		t.Errorf("%s: the first load transfers %.0f bytes, over the budget of %.0f", page, total, budget)
	}
	if strings.HasPrefix(page, "inbox") && !sawStream {
		t.Errorf("%s: the page opened no live stream", page)
	}
	return total
}

// TestBudgetFirstLoad loads each page as a first visit (cache off) and counts the bytes.
func TestBudgetFirstLoad(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	_, trs := p.load(t, "/signin")
	checkFirstLoad(t, in.URL, "sign-in page", trs, firstLoadBudget)
	p.signIn(t, maria)
	_, trs = p.load(t, "/inbox")
	checkFirstLoad(t, in.URL, "inbox (Maria)", trs, firstLoadBudget)
	var fonts int
	p.js(t, `document.fonts.size`, &fonts)
	if fonts != 0 {
		t.Errorf("the inbox declares %d web fonts", fonts)
	}
	_, trs = p.load(t, "/inbox?all=1")
	checkFirstLoad(t, in.URL, "inbox, all conversations", trs, firstLoadBudget)

	s := openPage(t, "staff", in.URL, desktop)
	s.signIn(t, physician)
	_, trs = s.load(t, "/inbox")
	checkFirstLoad(t, in.URL, "inbox, staff dashboard", trs, firstLoadBudget)
}

// HTML is compressed for a client that asks for gzip only (no brotli); the live stream is not.
func TestBudgetCompression(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	var cookies []*network.Cookie
	p.run(t, "cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{in.URL}).Do(ctx)
		return err
	}))
	get := func(path string, wait bool) (*http.Response, int) {
		t.Helper()
		req, _ := http.NewRequest("GET", in.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip") // set by hand, so the body stays compressed
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if wait {
			buf := make([]byte, 32*1024)
			for {
				k, err := resp.Body.Read(buf)
				n += k
				if err != nil {
					break
				}
			}
		}
		resp.Body.Close()
		return resp, n
	}
	resp, n := get("/inbox", true)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /inbox: %d (not signed in?)", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("the inbox's HTML, asked for with Accept-Encoding: gzip, comes with Content-Encoding %q", got)
	}
	t.Logf("the inbox's HTML is %d bytes gzipped", n)
	resp, _ = get("/events", false)
	if got := resp.Header.Get("Content-Encoding"); got != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("the live stream: Content-Type %q, Content-Encoding %q; want an uncompressed event stream",
			resp.Header.Get("Content-Type"), got)
	}
}

// Nothing moves when actions appear: they are there all along, only transparent, so pointing at
// messages or tabbing through them shifts no layout.
func TestBudgetNoLayoutShiftWhenActionsAppear(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	p.signIn(t, maria)
	p.moveMouseAway(t)
	p.js(t, `(() => { window.__shift = 0; window.__shifts = 0; const o = window.__shiftObserver = new PerformanceObserver(list => { for (const e of list.getEntries()) { window.__shift += e.value; window.__shifts++; } }); o.observe({type: 'layout-shift'}); return true; })()`, nil)
	var subjects []string
	p.js(t, `$xs("//*[@role='group' and starts-with(@aria-label, 'Actions for')]").map(g => g.getAttribute('aria-label').slice('Actions for '.length))`, &subjects)
	for i, subject := range subjects {
		nth := 1
		for _, s := range subjects[:i] {
			if s == subject {
				nth++
			}
		}
		p.hover(t, xRow(subject, nth))
		if got := p.opacityNth(t, subject, nth); got != "1" {
			t.Errorf("pointing at %q (#%d), its actions have opacity %s", subject, nth, got)
		}
	}
	p.moveMouseAway(t)
	p.js(t, `document.querySelector('a').focus()`, nil)
	p.tabTo(t, "Archive", 30)
	var shift struct {
		Total float64
		Count int
	}
	// Two frames drawn, so every shift so far is recorded; then what the observer has not yet
	// reported is taken from it too.
	p.js(t, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))).then(() => {
		for (const e of window.__shiftObserver.takeRecords()) { window.__shift += e.value; window.__shifts++; }
		return {Total: window.__shift, Count: window.__shifts}; })`, &shift)
	t.Logf("layout shift while %d messages' actions appeared: %.4f in %d shifts", len(subjects), shift.Total, shift.Count)
	if shift.Total != 0 {
		t.Errorf("showing actions shifted the layout by %.4f (%d shifts); they must keep their place while hidden", shift.Total, shift.Count)
	}
}

func (p *tab) opacityNth(t *testing.T, subject string, nth int) string {
	t.Helper()
	var s string
	p.js(t, `getComputedStyle($x(`+jsString(xActions(subject, nth))+`)).opacity`, &s)
	return s
}
