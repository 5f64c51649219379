package systemtest

// E-mail notifications through the built binary, a real Mailpit and PostgreSQL, under faults:
// the mail server down while messages are sent, a recipient the server refuses, the worker
// killed in the middle of a send. Every e-mail these tests make is checked for health
// information when each test ends (mailtest.Start).

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"securemessages/app/mail/localmail"
	"securemessages/app/mail/mailtest"
)

// mailForbidden are words no e-mail may hold: the demo's names and practices, and the subjects
// and text the tests write.
var mailForbidden = []string{"Maria", "Lopez", "Tom", "Becker", "Amelia", "Chen", "Jordan", "Patel",
	"Riverside", "Hillcrest", "Family Medicine", "Cough", "Knee", "Dizzy", "Take the tablets"}

// mailRig is a system whose web process (and worker, where a test starts one) sends e-mail to
// smtpURL, at once (NOTIFY_DELAY=0s), giving up on a stuck job after JOB_RESCUE_AFTER.
type mailRig struct {
	sys   *system
	mail  *localmail.Server
	env   map[string]string
	port  int
	web   *secProc
	staff *secClient
}

func newMailRig(t *testing.T, opts localmail.Options) *mailRig {
	t.Helper()
	r := &mailRig{sys: newSecSystem(t), port: secFreePort(t)}
	appURL := "http://127.0.0.1:" + strconv.Itoa(r.port)
	r.mail = mailtest.Start(t, opts, appURL, mailForbidden...)
	r.env = r.sys.env()
	for k, v := range map[string]string{"SMTP_URL": r.mail.SMTPURL, "MAIL_FROM": "messages@example.test",
		"APP_URL": appURL, "NOTIFY_DELAY": "0s", "JOB_RESCUE_AFTER": "3s"} {
		r.env[k] = v
	}
	return r
}

// serve starts the web process, and signs the physician in on it.
func (r *mailRig) serve(t *testing.T, bin string, env map[string]string) {
	t.Helper()
	r.web = secServe(t, bin, env, r.port)
	r.staff = secSignIn(t, r.web.URL, secPhysician)
	r.staff.token(t)
}

// conversations has each patient write n conversations, through the store (set-up): no e-mail.
func (r *mailRig) conversations(t *testing.T, n int, patients ...string) []int64 {
	t.Helper()
	subjects := []string{"Cough", "Knee", "Dizzy"}
	var ids []int64
	for _, p := range patients {
		for i := range n {
			ids = append(ids, r.sys.startConversation(t, p, subjects[i%len(subjects)], "Since Monday.").MessageID)
		}
	}
	return ids
}

// reply has the physician answer message id through the web form, as a browser would.
func (r *mailRig) reply(t *testing.T, id int64) {
	t.Helper()
	resp, err := r.staff.do("POST", fmt.Sprintf("/messages/%s/replies", r.sys.msg(id)),
		withToken(secReplyForm("Take the tablets twice a day."), r.staff.csrf))
	if err != nil || resp.Status != http.StatusSeeOther {
		t.Fatalf("reply to %d: %v %v", id, resp, err)
	}
}

// notifications counts the message notifications in state.
func (r *mailRig) notifications(t *testing.T, state string) int {
	return r.sys.count(t, `SELECT count(*) FROM notifications WHERE kind = 'message' AND state = $1`, state)
}

// expectOnceEach waits for one e-mail per conversation, then a while longer, and fails on any
// more (a second copy of one, with the same Message-ID or not).
func (r *mailRig) expectOnceEach(t *testing.T, n int, within time.Duration) {
	t.Helper()
	mailtest.WaitFor(t, r.mail.WebURL, within, fmt.Sprintf("%d e-mails", n), func(m []mailtest.Mail) bool { return len(m) >= n })
	waitUntil(t, 10*time.Second, "every notification marked sent", func() bool { return r.notifications(t, "sent") == n })
	time.Sleep(4 * time.Second) // past a rescue and a retry: nothing more may come
	mails := mailtest.All(t, r.mail.WebURL)
	ids := map[string]bool{}
	for _, m := range mails {
		ids[m.MessageID] = true
	}
	if len(mails) != n || len(ids) != n {
		t.Errorf("%d e-mails with %d Message-IDs, want %d once each:%s", len(mails), len(ids), n, mailtest.Summary(mails))
	}
	if sent := r.notifications(t, "sent"); sent != n {
		t.Errorf("%d notifications sent, want %d", sent, n)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testMailServerDown: the mail server is down for 10 s while the practice answers six
// conversations. Every send succeeds at once; the e-mails wait, retried with backoff, and all
// six arrive once the server is back, none twice.
func testMailServerDown(t *testing.T, bin string) {
	r := newMailRig(t, localmail.Options{})
	r.serve(t, bin, r.env)
	ids := r.conversations(t, 3, secMaria, secTom)
	if err := r.mail.Kill(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for _, id := range ids {
		r.reply(t, id)
	}
	waitUntil(t, 10*time.Second, "every e-mail tried while the server was down", func() bool {
		return r.sys.count(t, `SELECT count(*) FROM notifications WHERE kind = 'message' AND attempts > 0`) == len(ids)
	})
	if n := r.notifications(t, "pending"); n != len(ids) {
		t.Fatalf("%d notifications pending while the mail server is down, want %d", n, len(ids))
	}
	time.Sleep(10*time.Second - time.Since(down))
	if err := r.mail.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.expectOnceEach(t, len(ids), time.Minute)
}

// testRejectedRecipient: the mail server refuses the patient's address for good (550). The
// notification fails, is not retried, and the physician sees on the message that the patient
// could not be e-mailed and why; the patient sees nothing of it. Another patient's e-mail goes.
func testRejectedRecipient(t *testing.T, bin string) {
	r := newMailRig(t, localmail.Options{AllowedRecipients: `@riverside\.example$`})
	r.serve(t, bin, r.env)
	maria := secSignIn(t, r.web.URL, secMaria) // before her address changes: it is her sign-in name
	ids := r.conversations(t, 1, secMaria, secTom)
	if _, err := r.sys.db().Exec(`UPDATE users SET email = 'maria@rejected.test' WHERE email = $1`, secMaria); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		r.reply(t, id)
	}
	waitUntil(t, 20*time.Second, "the notification to the refused address failed", func() bool {
		return r.notifications(t, "failed") == 1
	})
	var reply int64
	if err := r.sys.db().Get(&reply, `SELECT n.message_id FROM notifications n JOIN users u ON u.id = n.recipient_id
		WHERE u.email = 'maria@rejected.test' AND n.state = 'failed' AND n.reason = 'address rejected'`); err != nil {
		t.Fatalf("the failed notification and its reason: %v", err)
	}
	const notice = "Patient could not be e-mailed: address rejected"
	if page := r.staff.get(t, "/messages/"+r.sys.msg(reply)); page.Status != http.StatusOK || !strings.Contains(page.Body, notice) {
		t.Errorf("the physician's view of the message: %s; want %q", page, notice)
	}
	if page := maria.get(t, "/messages/"+r.sys.msg(reply)); page.Status != http.StatusOK || strings.Contains(page.Body, "e-mailed") {
		t.Errorf("the patient's view of the message: %s; want it without the notice", page)
	}
	r.expectOnceEach(t, 1, 20*time.Second) // Tom's
	if jobs := r.sys.count(t, `SELECT count(*) FROM river_job WHERE kind = 'notify' AND state = 'cancelled'`); jobs != 1 {
		t.Errorf("%d cancelled jobs, want the refused one: a refusal for good is not retried", jobs)
	}
}

// testWorkerKilledMidSend: the web process leaves jobs to a worker process (WORKERS=off). The
// worker is killed with SIGKILL while it is talking to the mail server (which the test holds
// silent: nothing has been accepted). After a restart the stuck jobs are rescued and every
// e-mail arrives once.
func testWorkerKilledMidSend(t *testing.T, bin string) {
	r := newMailRig(t, localmail.Options{})
	proxy := newHoldProxy(t, fmt.Sprintf("127.0.0.1:%d", r.mail.SMTPPort))
	proxy.hold.Store(true)
	web := copyEnv(r.env)
	web["WORKERS"] = "off"
	r.serve(t, bin, web)
	work := copyEnv(r.env)
	work["SMTP_URL"] = "smtp://" + proxy.addr() + "?tls=none"
	worker := secSpawn(t, bin, work, "worker", "(first)")
	ids := r.conversations(t, 2, secMaria, secTom)
	for _, id := range ids {
		r.reply(t, id)
	}
	waitUntil(t, 20*time.Second, "the worker in the middle of a send", func() bool { return proxy.held.Load() > 0 })
	worker.kill()
	if n := len(mailtest.All(t, r.mail.WebURL)); n != 0 {
		t.Fatalf("%d e-mails before the kill, want none (the server was held silent)", n)
	}
	if n := r.sys.count(t, `SELECT count(*) FROM river_job WHERE kind = 'notify' AND state = 'running'`); n == 0 {
		t.Fatalf("no job left running by the killed worker")
	}
	proxy.hold.Store(false)
	secSpawn(t, bin, work, "worker", "(after the restart)")
	r.expectOnceEach(t, len(ids), time.Minute)
}

func copyEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// holdProxy forwards SMTP connections to a server, except while hold is set: then it accepts
// them and says nothing, like a server that hangs in the middle of a conversation.
type holdProxy struct {
	ln     net.Listener
	target string
	hold   atomic.Bool
	held   atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go p.serve()
	return p
}

func (p *holdProxy) addr() string { return p.ln.Addr().String() }

func (p *holdProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if p.hold.Load() {
			p.held.Add(1)
			go io.Copy(io.Discard, c) // read what the client says; answer nothing
			continue
		}
		go func() {
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			io.Copy(c, s)
			c.Close()
		}()
	}
}
