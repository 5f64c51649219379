package systemtest

// The binary as the platform runs it: `securemessages serve` as a subprocess, configured from its
// environment, killed with SIGKILL in the middle of sends, stopped with SIGTERM under load; and the
// operator's commands, `audit-verify` and `reencrypt`, run against a real database.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"securemessages/realtime/localredis"
	"securemessages/store"
	"securemessages/store/storetest"
)

// TestProcess builds the binary once and runs the tests that need it, in parallel; the binary is
// removed when the last of them is done.
func TestProcess(t *testing.T) {
	t.Parallel()
	bin := secBuild(t, t.TempDir())
	t.Run("SIGKILL in the middle of sends", func(t *testing.T) { t.Parallel(); testSIGKILLMidSend(t, bin) })
	t.Run("SIGTERM under load", func(t *testing.T) { t.Parallel(); testSIGTERMUnderLoad(t, bin) })
	t.Run("audit-verify and reencrypt commands", func(t *testing.T) { t.Parallel(); testOperatorCommands(t, bin) })
	t.Run("Redis over TLS with a self-signed certificate", func(t *testing.T) { t.Parallel(); testRedisSelfSigned(t, bin) })
	t.Run("mail server down while messages are sent", func(t *testing.T) { t.Parallel(); testMailServerDown(t, bin) })
	t.Run("mail server refuses a recipient", func(t *testing.T) { t.Parallel(); testRejectedRecipient(t, bin) })
	t.Run("SIGKILL of the worker in the middle of a send", func(t *testing.T) { t.Parallel(); testWorkerKilledMidSend(t, bin) })
	t.Run("a patient resets a forgotten password by e-mail", func(t *testing.T) { t.Parallel(); testPasswordResetByMail(t, bin) })
}

// testRedisSelfSigned: REDIS_URL is a rediss:// URL whose server presents a self-signed
// certificate, as Heroku's Key-Value Store does. By default the certificate is refused: the app
// serves on, and both the start-up log (with the error) and /healthz (in brief, no address) say
// why. With REDIS_TLS_VERIFY=false it connects.
func testRedisSelfSigned(t *testing.T, bin string) {
	sys := newSecSystem(t)
	dir := t.TempDir()
	certs, err := localredis.NewCertificate(dir, "platform", true)
	if err != nil {
		t.Fatal(err)
	}
	env := sys.env()
	env["REDIS_URL"] = startTLSRedis(t, filepath.Join(dir, "redis"), certs).URL
	cases := []struct {
		verify string
		health map[string]string
		log    []string
	}{
		{"", map[string]string{"database": "ok", "redis": "unreachable", "redis_reason": "tls: certificate not trusted"},
			[]string{`msg="redis unreachable: live updates wait until it answers" reason="tls: certificate not trusted"`, "x509: certificate signed by unknown authority"}},
		{"false", map[string]string{"database": "ok", "redis": "ok"}, []string{`msg="redis answers"`}},
	}
	for _, tc := range cases {
		env["REDIS_TLS_VERIFY"] = tc.verify
		p := secServe(t, bin, env, secFreePort(t))
		r := secAnon(p.URL).get(t, "/healthz")
		var health map[string]any
		if err := json.Unmarshal([]byte(r.Body), &health); err != nil || r.Status != http.StatusOK {
			t.Fatalf("REDIS_TLS_VERIFY=%q: /healthz %s (%v)", tc.verify, r, err)
		}
		for k, want := range tc.health {
			if health[k] != want {
				t.Errorf("REDIS_TLS_VERIFY=%q: /healthz %s; want %s %q", tc.verify, r.Body, k, want)
			}
		}
		if _, ok := health["redis_reason"]; ok != (tc.health["redis_reason"] != "") {
			t.Errorf("REDIS_TLS_VERIFY=%q: /healthz %s", tc.verify, r.Body)
		}
		deadline := time.Now().Add(secWait)
		for !containsAll(p.out.String(), tc.log) {
			if time.Now().After(deadline) {
				t.Fatalf("REDIS_TLS_VERIFY=%q: the log does not say %q:\n%s", tc.verify, tc.log, p.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.kill()
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (s *system) env() map[string]string {
	return map[string]string{"DATABASE_URL": s.dbURL, "REDIS_URL": s.redis.URL, "MESSAGE_KEYS": storetest.KeySpec,
		"SSE_HEARTBEAT_SECONDS": "1", "SEND_LIMIT": "0"} // as envConfig: these tests send as fast as they can
}

// testSIGKILLMidSend: the process is killed while patients and staff are sending as fast as they
// can. After a restart, nothing is half written: every message has its conversation, its event and
// its audit row and opens with the key ring, every event of a send has its message, every send
// that was confirmed is there once, and the sessions signed in before the crash still work.
func testSIGKILLMidSend(t *testing.T, bin string) {
	sys := newSecSystem(t)
	port := secFreePort(t)
	p := secServe(t, bin, sys.env(), port)
	clients := []*secClient{secSignIn(t, p.URL, secMaria), secSignIn(t, p.URL, secTom), secSignIn(t, p.URL, secPhysician)}
	for _, c := range clients {
		c.token(t)
	}
	parent := sys.startConversation(t, secTom, "Fever", "Since last night.")
	var baseMessage, baseEvent int64
	if err := sys.db().QueryRow(`SELECT (SELECT max(id) FROM messages), (SELECT max(id) FROM events)`).Scan(&baseMessage, &baseEvent); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	confirmed := map[string]string{} // submit key -> body
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		c := clients[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				path, form := "/messages", secComposeForm(fmt.Sprintf("Crash %d-%d", i, n), fmt.Sprintf("Body %d-%d", i, n))
				if c.email == secPhysician {
					path, form = fmt.Sprintf("/messages/%s/replies", sys.msg(parent.MessageID)), secReplyForm(fmt.Sprintf("Reply %d-%d", i, n))
				}
				r, err := c.do("POST", path, withToken(form, c.csrf))
				if err != nil {
					continue // the process is gone: this send was never confirmed
				}
				if r.Status == http.StatusSeeOther {
					mu.Lock()
					confirmed[form.Get("submit_key")] = form.Get("body")
					mu.Unlock()
					sent.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(secWait)
	for sent.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill() // SIGKILL, with sends in flight
	close(stop)
	wg.Wait()
	if sent.Load() < 40 {
		t.Fatalf("only %d sends confirmed before the kill", sent.Load())
	}

	// Restart on the same port: the sessions from before the crash are still signed in.
	p = secServe(t, bin, sys.env(), port)
	for _, c := range clients {
		if r := c.get(t, "/inbox"); r.Status != http.StatusOK {
			t.Errorf("%s after the restart: %s", c.email, r)
		}
	}

	checks := []struct{ what, query string }{
		{"conversations without a message", `SELECT count(*) FROM conversations c
			WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)`},
		{"messages without their event", `SELECT count(*) FROM messages m
			WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.kind = 'message_sent' AND e.message_id = m.id)`},
		{"events without their message", fmt.Sprintf(`SELECT count(*) FROM events e WHERE e.id > %d
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)`, baseEvent)},
		{"messages without their audit row", fmt.Sprintf(`SELECT count(*) FROM messages m WHERE m.id > %d
			AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.object_type = 'message' AND a.object_id = m.id
			                AND a.action IN ('conversation_started', 'follow_up_sent', 'reply_sent'))`, baseMessage)},
		{"replies whose parent is not marked acted on", `SELECT count(*) FROM messages r JOIN messages p ON p.id = r.parent_id
			WHERE NOT p.acted_on`},
		{"events sent twice for one message", `SELECT count(*) FROM (SELECT message_id FROM events
			WHERE kind = 'message_sent' GROUP BY message_id HAVING count(*) > 1) d`},
	}
	for _, c := range checks {
		if n := sys.count(t, c.query); n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
	// Every message written opens with the key ring and reads as it was sent.
	var ids []int64
	if err := sys.db().Select(&ids, `SELECT id FROM messages WHERE id > $1`, baseMessage); err != nil {
		t.Fatal(err)
	}
	staff := sys.viewer(t, secNurse)
	bodies := map[string]bool{}
	for _, id := range ids {
		m, err := sys.st.MessageDetails(context.Background(), staff, store.Origin{}, id)
		if err != nil {
			t.Fatalf("message %d after the crash: %v", id, err)
		}
		bodies[m.Details.Body] = true
	}
	for key, body := range confirmed {
		if n := sys.count(t, `SELECT count(*) FROM messages WHERE submit_key = $1`, key); n != 1 || !bodies[body] {
			t.Errorf("confirmed send %q: %d messages", body, n)
		}
	}
	if _, broken, err := sys.st.VerifyAudit(context.Background()); err != nil || broken != nil {
		t.Errorf("audit chain after the crash: %+v, %v", broken, err)
	}
	t.Logf("%d sends confirmed before SIGKILL, %d messages written", len(confirmed), len(ids))

	// And it works.
	maria := clients[0]
	if r := maria.post(t, "/messages", secComposeForm("After the crash", "Still here")); r.Status != http.StatusSeeOther {
		t.Errorf("send after the restart: %s", r)
	}
}

// testSIGTERMUnderLoad: SIGTERM while requests are in flight and pages hold their live streams.
// The process stops accepting at once, lets the requests in flight finish (they are held on a row
// lock until after the signal), ends each stream with a retry hint, and exits by itself, cleanly,
// well within the 30 seconds the platform allows.
func testSIGTERMUnderLoad(t *testing.T, bin string) {
	sys := newSecSystem(t)
	port := secFreePort(t)
	p := secServe(t, bin, sys.env(), port)
	maria, physician, tom := secSignIn(t, p.URL, secMaria), secSignIn(t, p.URL, secPhysician), secSignIn(t, p.URL, secTom)
	for _, c := range []*secClient{maria, physician, tom} {
		c.token(t)
	}
	toArchive := sys.startConversation(t, secMaria, "Archive me during shutdown", "Text")
	toAnswer := sys.startConversation(t, secTom, "Answer me during shutdown", "Text")
	after := sys.newestEvent(t)
	streams := []*stream{
		maria.stream(t, "Maria's stream", after),
		physician.stream(t, "the physician's stream", after),
		tom.stream(t, "Tom's stream", after),
	}

	// Hold both conversations' rows, so that the two requests below stay in flight.
	ctx := context.Background()
	tx, err := sys.db().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT id FROM conversations WHERE id IN ($1, $2) FOR UPDATE`,
		toArchive.ConversationID, toAnswer.ConversationID); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		r   *secResp
		err error
	}
	archived, answered := make(chan answer, 1), make(chan answer, 1)
	go func() {
		r, err := maria.fresh().do("POST", fmt.Sprintf("/conversations/%s/archive", sys.conv(toArchive.ConversationID)), withToken(nil, maria.csrf))
		archived <- answer{r, err}
	}()
	go func() {
		r, err := physician.fresh().do("POST", fmt.Sprintf("/messages/%s/replies", sys.msg(toAnswer.MessageID)),
			withToken(secReplyForm("Sent as the server shuts down"), physician.csrf))
		answered <- answer{r, err}
	}()
	waitUntilSQL(t, sys, 2, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)

	// Some load besides, which may fail once the server stops accepting.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range []*secClient{maria, tom} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.do("GET", "/inbox", nil)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	// It stops accepting new connections.
	for {
		if _, err := secAnon(p.URL).do("GET", "/healthz", nil); err != nil {
			break
		}
		if time.Since(signalled) > 5*time.Second {
			t.Fatal("still accepting new connections 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	// The requests in flight are still waiting on the lock, and the process waits for them; then
	// let them go.
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.exited:
		t.Fatal("the process exited with requests still in flight")
	default:
	}
	if n := sys.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); n != 2 {
		t.Fatalf("%d requests waiting on the lock after SIGTERM, want the 2 in flight", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan answer{"archive": archived, "reply": answered} {
		select {
		case a := <-ch:
			if a.err != nil || a.r.Status != http.StatusSeeOther {
				t.Errorf("%s in flight at SIGTERM: %v %v", name, a.err, a.r)
			}
		case <-time.After(secWait):
			t.Fatalf("%s in flight at SIGTERM never answered", name)
		}
	}
	if n := sys.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND archived_at IS NOT NULL`, toArchive.ConversationID); n != 1 {
		t.Error("the archive in flight at SIGTERM was not committed")
	}
	if n := sys.count(t, `SELECT count(*) FROM messages WHERE parent_id = $1`, toAnswer.MessageID); n != 1 {
		t.Error("the reply in flight at SIGTERM was not committed")
	}

	// Each stream ended with a retry hint, so the browser comes back soon, to another instance.
	for _, s := range streams {
		fs := s.waitFor(t, "end of the stream", secWait, func(_ []sseFrame, ended bool) bool { return ended })
		if len(fs) == 0 || fs[len(fs)-1].Retry == "" {
			t.Errorf("%s did not end with a retry hint: %+v", s.name, secTail(fs))
		}
	}
	took, err := p.waitExit(30*time.Second - time.Since(signalled))
	if err != nil {
		t.Fatalf("after SIGTERM: %v (%v)", err, took)
	}
	if exit := p.cmd.ProcessState.ExitCode(); exit != 0 {
		t.Errorf("exit code %d after SIGTERM", exit)
	}
	t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
}

// waitUntilSQL waits until a count query reaches want.
func waitUntilSQL(t *testing.T, sys *system, want int, query string) {
	t.Helper()
	deadline := time.Now().Add(secWait)
	for sys.count(t, query) < want {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %d from %s", secWait, want, query)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testOperatorCommands: `securemessages audit-verify` holds on a clean log and, after a row is
// edited behind the triggers' back, fails naming the first broken link; `securemessages
// reencrypt` moves every message onto the new primary key, after which the old key can go.
func testOperatorCommands(t *testing.T, bin string) {
	sys := newSecSystem(t)
	env := sys.env()
	out, err := secRun(t, bin, env, "audit-verify")
	if err != nil || !strings.Contains(out, "audit chain holds") {
		t.Fatalf("audit-verify on a clean log: %v\n%s", err, out)
	}

	// Rotate: a new primary key in front of the old one; move everything; drop the old key.
	newKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	total := sys.count(t, `SELECT count(*) FROM messages`)
	env["MESSAGE_KEYS"] = "2:" + newKey + "," + storetest.KeySpec
	out, err = secRun(t, bin, env, "reencrypt")
	if err != nil || !strings.Contains(out, fmt.Sprintf("re-encrypted %d messages", total)) {
		t.Fatalf("reencrypt: %v\n%s", err, out)
	}
	if n := sys.count(t, `SELECT count(*) FROM messages WHERE substring(body FROM 2 FOR 4) = '\x00000002'::bytea
		AND substring(subject FROM 2 FOR 4) = '\x00000002'::bytea AND substring(instructions FROM 2 FOR 4) = '\x00000002'::bytea`); n != total {
		t.Errorf("%d of %d messages under key 2 after reencrypt", n, total)
	}
	env["MESSAGE_KEYS"] = "2:" + newKey
	port := secFreePort(t)
	p := secServe(t, bin, env, port)
	maria := secSignIn(t, p.URL, secMaria)
	r := maria.get(t, "/inbox?all=1")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Question about my lab results") {
		t.Errorf("inbox with only the new key: %s", r)
	}
	// An administrator's export of the audit log is itself an audit row, with its filters; the
	// chain holds after it.
	admin := secSignIn(t, p.URL, secAdminEmail)
	if r := admin.post(t, "/practice/audit/export", url.Values{"action": {"message_read"}}); r.Status != http.StatusOK ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("audit export: %s", r)
	}
	p.kill()
	if n := sys.count(t, `SELECT count(*) FROM audit_log WHERE action = 'audit_exported' AND detail = '{"action":"message_read"}'`); n != 1 {
		t.Errorf("%d export rows with their filters, want 1", n)
	}
	out, err = secRun(t, bin, env, "audit-verify")
	if err != nil || !strings.Contains(out, "audit chain holds") {
		t.Fatalf("audit-verify after an export: %v\n%s", err, out)
	}

	// Tamper with one row in the middle, as the table's owner can with the triggers off.
	var seq, id int64
	if err := sys.db().QueryRow(`SELECT chain_seq, id FROM audit_log ORDER BY chain_seq OFFSET 3 LIMIT 1`).Scan(&seq, &id); err != nil {
		t.Fatal(err)
	}
	secTamperAudit(t, sys, `UPDATE audit_log SET outcome = 'failure' WHERE id = $1`, id)
	out, err = secRun(t, bin, env, "audit-verify")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("audit-verify on an edited log: %v, want exit status 1\n%s", err, out)
	}
	want := fmt.Sprintf("audit chain broken at entry %d (row %d)", seq, id)
	if !strings.Contains(out, want) || !strings.Contains(out, "edited") {
		t.Errorf("audit-verify says %q, want it to name %q as edited", out, want)
	}
}

// secTamperAudit runs a statement against audit_log with its triggers off, as the table's owner
// could, and puts them back on.
func secTamperAudit(t *testing.T, sys *system, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := sys.db().BeginTxx(ctx, &sql.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`, stmt, `ALTER TABLE audit_log ENABLE TRIGGER USER`} {
		a := args
		if q != stmt {
			a = nil
		}
		if _, err := tx.ExecContext(ctx, q, a...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
