package systemtest

import (
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	sys := newSystem(t)
	in := sys.start(t)
	p := openPage(t, "maria", in.URL, desktop)
	p.signIn(t, maria)
	in.waitStreams(t, 1)
	var out any
	p.js(t, `({hover: matchMedia('(hover: hover)').matches, vis: document.visibilityState, loc: location.href, live: document.getElementById('live').outerHTML})`, &out)
	t.Logf("%v", out)
	s := openPage(t, "staff", in.URL, desktop)
	s.signIn(t, physician)
	in.waitStreams(t, 2)
	p.js(t, `({vis: document.visibilityState})`, &out)
	t.Logf("patient after staff tab: %v", out)
	ph := openPage(t, "phone", in.URL, phone)
	ph.signIn(t, grace)
	ph.js(t, `({hover: matchMedia('(hover: none)').matches, w: innerWidth, sw: document.documentElement.scrollWidth})`, &out)
	t.Logf("phone: %v", out)
	ns := openPage(t, "nojs", in.URL, device{width: 1280, height: 900, noScript: true})
	ns.signIn(t, grace)
	ns.js(t, `({htmx: typeof window.htmx, loc: location.href})`, &out)
	t.Logf("nojs: %v", out)
	// offline
	start := time.Now()
	p.offline(t, true)
	time.Sleep(3 * time.Second)
	t.Logf("streams after offline 3s: %d (%v)", in.Hub.Len(), time.Since(start))
	p.offline(t, false)
	time.Sleep(6 * time.Second)
	t.Logf("streams after online 6s: %d", in.Hub.Len())
}
