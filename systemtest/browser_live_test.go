package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"securemessages/realtime"
)

// Live updates in the browser: a patient and a staff member side by side, each in a browser
// context of their own, on two instances of the app that share PostgreSQL and Redis (as web
// instances do in production), so every update crosses Redis.

// liveShows bounds the wait for a change to show on the other side's page. How soon it shows is
// logged here and measured by make bench; a busy machine must not fail the test.
const liveShows = 20 * time.Second

type livePair struct {
	patientApp, staffApp *instance
	patient, staff       *tab
}

// sideBySide signs Maria in on one instance and Dr. Chen on another, and waits for both pages'
// live streams.
func sideBySide(t *testing.T) *livePair {
	t.Helper()
	return sideBySideWith(t, desktop)
}

// sideBySideWith is sideBySide with Maria on this device.
func sideBySideWith(t *testing.T, patient device) *livePair {
	t.Helper()
	sys := newSystem(t)
	lp := &livePair{patientApp: sys.start(t), staffApp: sys.start(t)}
	lp.patient = openPage(t, "patient", lp.patientApp.URL, patient)
	lp.staff = openPage(t, "staff", lp.staffApp.URL, desktop)
	flow(t)
	lp.patient.signIn(t, maria)
	lp.staff.signIn(t, physician)
	lp.patientApp.waitStreams(t, 1)
	lp.staffApp.waitStreams(t, 1)
	return lp
}

// watchFor records, in the page, the moment (Date.now()) something first matches the XPath.
func (p *tab) watchFor(t *testing.T, xpath string) {
	t.Helper()
	p.js(t, `(() => { window.__seenAt = 0; const check = () => { if (!window.__seenAt && $x(`+jsString(xpath)+`)) window.__seenAt = Date.now(); };
		new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true}); check(); return true; })()`, nil)
}

// countRefreshes starts counting, in the page, the "changed" events its stream delivers and the
// live refreshes that have finished: the requests the inbox makes of itself when told of a change,
// once answered and swapped in (or, for the echo of the page's own change, answered 204 and left
// alone).
func (p *tab) countRefreshes(t *testing.T) {
	t.Helper()
	p.js(t, `(() => { const c = window.__live = {changed: 0, finished: 0};
		document.addEventListener('htmx:sse:after:message', e => { if (e.detail?.message?.event === 'changed') c.changed++; }, true);
		document.addEventListener('htmx:finally:request', e => { if (e.target.id === 'inbox') c.finished++; }, true);
		return true; })()`, nil)
}

// waitRefreshes waits until n live refreshes have finished since countRefreshes.
func (p *tab) waitRefreshes(t *testing.T, n int) {
	t.Helper()
	p.waitFor(t, fmt.Sprintf("%d live refreshes finished", n), fmt.Sprintf(`window.__live.finished >= %d`, n), liveShows)
}

// takeEcho waits until the stream has delivered the echo of the page's own change, then hands the
// page the same event again and waits for the refresh it sets off to finish. Whether the echo
// itself sets one off depends on whether it came before the answer to the change (it usually
// does, and is absorbed); on a slower network it comes after, and the page must take that too.
func (p *tab) takeEcho(t *testing.T) {
	t.Helper()
	p.waitFor(t, "the echo of the page's own change over the stream", `window.__live.changed > 0`, liveShows)
	var finished int
	p.js(t, `(() => { const n = window.__live.finished; document.getElementById('live').dispatchEvent(new Event('changed')); return n; })()`, &finished)
	p.waitRefreshes(t, finished+1)
}

// seenAt is when watchFor's XPath first matched, in Unix milliseconds (0: not yet).
func (p *tab) seenAt(t *testing.T) int64 {
	t.Helper()
	var ms int64
	p.js(t, `window.__seenAt`, &ms)
	return ms
}

// staffReply answers a message of the patient's from the staff dashboard.
func (lp *livePair) staffReply(t *testing.T, subject, text string) (sentAt time.Time) {
	t.Helper()
	s := lp.staff
	s.click(t, xControl(xActions(subject, 1), "Reply"))
	form := xReplyForm("Reply", subject)
	s.after(t, "the staff reply form", exists(form))
	s.typeInto(t, form, "Message", text)
	sentAt = time.Now()
	s.click(t, xControl(form, "Send Message"))
	s.after(t, "the staff's reply sent", exists(xReplyUnder(subject, "Re: "+subject, 1)))
	return sentAt
}

// A staff reply shows in the patient's page, nested under the message it answers, without a
// reload, and the patient's screen reader hears of it.
func TestBrowserLiveReplyReachesPatient(t *testing.T) {
	lp := sideBySide(t)
	reply := xReplyUnder(subjLab, "Re: "+subjLab, 1)
	lp.patient.watchFor(t, reply)
	sentAt := lp.staffReply(t, subjLab, "Your LDL is a little high; let us talk diet at your next visit.")
	lp.patient.waitFor(t, "the staff's reply in the patient's page", exists(reply), liveShows)
	took := time.Duration(lp.patient.seenAt(t)-sentAt.UnixMilli()) * time.Millisecond
	t.Logf("the reply showed in the patient's page %v after the staff pressed Send", took)
	lp.patient.noReload(t, "the live update")
	lp.patient.expectText(t, reply, "From Dr. Amelia Chen")
	lp.patient.expectNotice(t, "New activity in your conversations.")
	if got := lp.patient.attr(t, `//*[@id='notice']`, "aria-live"); got != "polite" {
		t.Errorf("the status line that announces live news has aria-live=%q, want polite", got)
	}
	// The reply sits under the right message only.
	for _, other := range []string{subjCheckup, subjRefill} {
		lp.patient.expectGone(t, "the reply under "+other, xReplyUnder(other, "Re: "+subjLab, 1))
	}
}

// A patient's new message shows on the staff dashboard without a reload.
func TestBrowserLivePatientMessageReachesDashboard(t *testing.T) {
	lp := sideBySide(t)
	const subject = "Dizzy when I stand up"
	arrived := xActions(subject, 1)
	lp.staff.watchFor(t, arrived)
	p := lp.patient
	p.click(t, xControl("", "Compose Message"))
	p.after(t, "the compose form", exists(xField(xCompose, "Subject")))
	p.typeInto(t, xCompose, "Subject", subject)
	p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "Since I started the new tablets, mostly in the morning.")
	p.check(t, xCompose, "I agree to be billed $25.00 for this message.")
	p.countRefreshes(t)
	sentAt := time.Now()
	p.click(t, xControl(xCompose, "Send Message"))
	lp.staff.waitFor(t, "the patient's message on the dashboard", exists(arrived), liveShows)
	took := time.Duration(lp.staff.seenAt(t)-sentAt.UnixMilli()) * time.Millisecond
	t.Logf("the message showed on the dashboard %v after the patient pressed Send", took)
	lp.staff.noReload(t, "the live update")
	lp.staff.expectText(t, xConversationWith(subject), "Maria Lopez", "Waiting for reply")
	lp.staff.expectText(t, xMessage(subject, 1), "From Maria Lopez")
	lp.staff.expectNotice(t, "New activity in your conversations.")
	// The patient's own page shows her message once, and her own change is not announced as news.
	p.after(t, "the patient's own message", exists(arrived))
	p.takeEcho(t)
	p.expectNotice(t, "Your message was sent.")
}

// The patient's phone loses its network for a few seconds while the practice answers; when the
// network is back, the page shows the answer, without a reload.
func TestBrowserLiveSurvivesNetworkDrop(t *testing.T) {
	lp := sideBySide(t)
	reply := xReplyUnder(subjLab, "Re: "+subjLab, 1)
	lp.patient.offline(t, true)
	// The page is cut off: a request of its own fails.
	var cut bool
	lp.patient.js(t, `fetch('/healthz', {cache: 'no-store'}).then(() => false, () => true)`, &cut)
	if !cut {
		t.Fatal("offline, the page still reaches the server")
	}
	lp.staffReply(t, subjLab, "Sent while you were in the tunnel.")
	time.Sleep(3 * time.Second) // long enough for a connected page to have shown it
	if lp.patient.has(t, reply) {
		t.Fatalf("offline, the patient's page already shows the reply: the network was not cut")
	}
	lp.patient.offline(t, false)
	took := lp.patient.waitFor(t, "the reply after the network came back", exists(reply), 15*time.Second)
	t.Logf("back online, the reply showed after %v", took)
	lp.patient.noReload(t, "the network drop")
	lp.patient.expectText(t, reply, "From Dr. Amelia Chen")
}

// The patient's instance restarts (a deploy) while the practice answers through another; the
// page reconnects to the same address and catches up, without a reload.
func TestBrowserLiveSurvivesInstanceRestart(t *testing.T) {
	lp := sideBySide(t)
	reply := xReplyUnder(subjLab, "Re: "+subjLab, 1)
	lp.patientApp.Stop()
	lp.staffReply(t, subjLab, "Sent while your server restarted.")
	time.Sleep(time.Second)
	lp.patientApp.Restart(t)
	took := lp.patient.waitFor(t, "the reply after the restart", exists(reply), 20*time.Second)
	t.Logf("after the restart, the reply showed after %v", took)
	lp.patient.noReload(t, "the restart")
	lp.patientApp.waitStreams(t, 1)
}

// The live stream connects however late the SSE extension arrives after htmx itself (a slow
// phone network): htmx must not process the page before the extension has registered.
func TestBrowserLiveConnectsWhenTheExtensionArrivesLate(t *testing.T) {
	in := newSystem(t).start(t)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t)
	held := p.delayRequests(t, "*hx-sse*", 400*time.Millisecond)
	p.signIn(t, maria)
	in.waitStreams(t, 1)
	if held() == 0 {
		t.Fatal("the extension's file was never held back: the test proves nothing")
	}
}

// A page whose user already holds every stream her account may have on the instance (her other
// devices) is answered 429, and hx-sse takes the answer's retry hint: it waits a minute before
// it tries again, instead of hammering the server.
func TestBrowserLiveBacksOffOverTheStreamCap(t *testing.T) {
	sys := newSystem(t)
	in := sys.start(t)
	for range realtime.DefaultStreamsPerUser / realtime.DefaultStreamsPerSession {
		device := secSignIn(t, in.URL, secMaria)
		for range realtime.DefaultStreamsPerSession {
			holdStream(t, in.URL, device.cookie)
		}
	}
	in.waitStreams(t, realtime.DefaultStreamsPerUser)
	p := openPage(t, "patient", in.URL, desktop)
	flow(t, p)
	p.signIn(t, maria)
	p.waitFor(t, "hx-sse to take the 429's retry hint",
		`(c => c?.status === 429 && c.config.reconnectDelay === 60000)(document.getElementById('live')._htmx?.sse)`, 10*time.Second)
	if n := in.Hub.Len(); n != realtime.DefaultStreamsPerUser {
		t.Errorf("%d streams open, want %d", n, realtime.DefaultStreamsPerUser)
	}
}

// holdStream opens a live stream with a session cookie and holds it, unread, until the test ends.
func holdStream(t *testing.T, base string, cookie *http.Cookie) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	resp, err := liveStreams.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("hold a stream: %v %v", resp, err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
}
