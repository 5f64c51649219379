package systemtest

import (
	"strings"
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	for i := 0; i < 8; i++ {
		p.signIn(t, maria)
		in.waitStreams(t, 1)
		p.js(t, `(() => { window.__n = []; const ts = () => new Date().toISOString().slice(17,23); new MutationObserver(() => { const n = document.getElementById('notice'); window.__n.push(ts() + ' notice=' + (n ? n.innerText : 'none')); }).observe(document.body, {subtree: true, childList: true, characterData: true}); for (const ev of ['htmx:before:swap','htmx:after:swap','htmx:after:request','htmx:before:request','htmx:sse:after:message','htmx:error']) document.addEventListener(ev, e => window.__n.push(ts() + ' ' + ev + ' ' + (e.detail.ctx && e.detail.ctx.request.action) + ' status=' + (e.detail.ctx && e.detail.ctx.response && e.detail.ctx.response.status) + ' target=' + (e.detail.ctx && e.detail.ctx.target && e.detail.ctx.target.id) + ' on=' + e.target.id + e.target.tagName + ' connected=' + e.target.isConnected), true); return 1; })()`, nil)
		subj := subjRefill
		if i%2 == 1 {
			subj = subjLab
		}
		p.click(t, xControl(xActions(subj, 1), "Archive"))
		time.Sleep(1500 * time.Millisecond)
		var out []string
		p.js(t, `window.__n`, &out)
		n := p.notice(t)
		t.Logf("run %d notice %q\n  %s", i, n, strings.Join(out, "\n  "))
		p.navigate(t, "/inbox?all=1")
		p.click(t, xControl(xActions(subj, 1), "Re-Open"))
		time.Sleep(500 * time.Millisecond)
	}
}
