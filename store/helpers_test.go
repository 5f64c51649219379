package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
	"securemessages/store/storetest"
)

// origin is the request every test change is made from.
var origin = store.Origin{RequestID: "test-request", ClientIP: "192.0.2.10"}

// fixture is the demo database seen through its people. Riverside charges 2500 cents a message;
// Hillcrest charges nothing.
type fixture struct {
	s *store.Store

	riverside, hillcrest store.Practice

	maria, tom                store.Viewer // Riverside patients
	physician, nurse, desk    store.Viewer // Riverside staff
	grace, david              store.Viewer // Hillcrest patients
	hPhysician, hNurse, hDesk store.Viewer // Hillcrest staff
}

func newDemo(t *testing.T) *fixture {
	t.Helper()
	s := storetest.NewDemo(t)
	// Lists keep conversations as the server's do, so that every test that lists, changes and
	// lists again also proves the change reaches a list that already held the conversation.
	s.KeepConversations(1000)
	f := &fixture{s: s}
	for email, v := range map[string]*store.Viewer{
		"maria.lopez@riverside.example": &f.maria,
		"tom.becker@riverside.example":  &f.tom,
		"physician@riverside.example":   &f.physician,
		"nurse@riverside.example":       &f.nurse,
		"front.desk@riverside.example":  &f.desk,
		"grace.kim@hillcrest.example":   &f.grace,
		"david.osei@hillcrest.example":  &f.david,
		"physician@hillcrest.example":   &f.hPhysician,
		"nurse@hillcrest.example":       &f.hNurse,
		"front.desk@hillcrest.example":  &f.hDesk,
	} {
		u, err := s.UserByEmail(t.Context(), email)
		if err != nil {
			t.Fatalf("demo user %s: %v", email, err)
		}
		*v = u.Viewer()
	}
	for p, v := range map[*store.Practice]store.Viewer{&f.riverside: f.maria, &f.hillcrest: f.grace} {
		if err := s.DB().GetContext(t.Context(), p, `SELECT id, name, message_fee_cents, coalesce(time_zone, '') AS time_zone FROM practices WHERE id = $1`, v.PracticeID); err != nil {
			t.Fatal(err)
		}
	}
	if f.riverside.MessageFeeCents != 2500 || f.hillcrest.MessageFeeCents != 0 {
		t.Fatalf("demo fees: riverside %d, hillcrest %d", f.riverside.MessageFeeCents, f.hillcrest.MessageFeeCents)
	}
	return f
}

// start sends a new conversation with a fresh submit key (unless one is given) and consent to
// any fee, failing the test on error.
func start(t testing.TB, s *store.Store, v store.Viewer, n store.NewConversation) store.Sent {
	t.Helper()
	if n.SubmitKey == "" {
		n.SubmitKey = uuid.NewString()
	}
	if n.Body == "" {
		n.Body = "Body of " + n.Subject
	}
	n.BillingConsent = true
	sent, err := s.StartConversation(context.Background(), v, origin, n)
	if err != nil {
		t.Fatalf("start conversation %q as user %d: %v", n.Subject, v.UserID, err)
	}
	return sent
}

// reply sends a follow-up or reply under parent, with consent to any fee, failing on error.
func reply(t testing.TB, s *store.Store, v store.Viewer, parent int64, body string) store.Sent {
	t.Helper()
	sent, err := s.SendReply(context.Background(), v, origin,
		store.NewReply{ParentID: parent, Body: body, BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatalf("reply to %d as user %d: %v", parent, v.UserID, err)
	}
	return sent
}

// newSession signs u in, from origin, and returns the session's token.
func newSession(t testing.TB, s *store.Store, u store.User) string {
	t.Helper()
	token, err := s.CreateSession(t.Context(), u, origin)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// count runs a query that returns one number.
func count(t testing.TB, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// stateTables are every table a store method may write.
var stateTables = []string{"practices", "users", "conversations", "messages", "events", "audit_log",
	"sessions", "signin_failures", "notifications", "notification_preferences", "unsubscribe_tokens",
	"practice_settings", "practice_business_hours", "practice_holidays", "practice_setting_changes",
	"auto_replies", "message_reads", "account_changes", "password_resets", "invitations", "patient_imports",
	"river_job"}

// dbState fingerprints every table's rows, so a test can prove that a refused call changed nothing.
func dbState(t testing.TB, s *store.Store) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, table := range stateTables {
		var sum string
		err := s.DB().GetContext(context.Background(), &sum, fmt.Sprintf(
			`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t`, table))
		if err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		state[table] = sum
	}
	return state
}

func assertUnchanged(t testing.TB, before, after map[string]string) {
	t.Helper()
	for _, table := range slices.Sorted(maps.Keys(before)) {
		if before[table] != after[table] {
			t.Errorf("table %s changed: %s -> %s", table, before[table], after[table])
		}
	}
}

// conversationBySubject finds one of the viewer's conversations by its first message's subject.
func conversationBySubject(t testing.TB, s *store.Store, v store.Viewer, subject string) *store.Conversation {
	t.Helper()
	list := inboxOf(t, s, v, store.InboxFilter{IncludeArchived: true})
	for _, c := range list {
		if c.Messages[0].Subject == subject {
			return c
		}
	}
	t.Fatalf("user %d has no conversation %q", v.UserID, subject)
	return nil
}

// conversationIDs lists the ids of conversations in the order given.
func conversationIDs(list []*store.Conversation) []int64 {
	ids := make([]int64, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids
}

// lastEvent and lastAudit read the newest outbox and audit rows, and the transaction that
// wrote each.
type eventRow struct {
	store.Event
	Xmin string `db:"xmin"`
}

type auditRow struct {
	ActorID    int64  `db:"actor_id"`
	Action     string `db:"action"`
	ObjectType string `db:"object_type"`
	ObjectID   int64  `db:"object_id"`
	Outcome    string `db:"outcome"`
	RequestID  string `db:"request_id"`
	ClientIP   string `db:"client_ip"`
	Xmin       string `db:"xmin"`
}

func lastEvent(t testing.TB, s *store.Store) eventRow {
	t.Helper()
	var e eventRow
	if err := s.DB().GetContext(context.Background(), &e, `
		SELECT id, kind, practice_id, patient_id, conversation_id, coalesce(message_id, 0) AS message_id,
		       xmin::text AS xmin
		FROM events ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	return e
}

func lastAudit(t testing.TB, s *store.Store) auditRow {
	t.Helper()
	var a auditRow
	if err := s.DB().GetContext(context.Background(), &a, `
		SELECT coalesce(actor_id, 0) AS actor_id, action, object_type, coalesce(object_id, 0) AS object_id,
		       outcome, request_id, client_ip, xmin::text AS xmin
		FROM audit_log ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	return a
}

// xmin is the id of the transaction that last wrote a row.
func xmin(t testing.TB, s *store.Store, table string, id int64) string {
	t.Helper()
	var x string
	if err := s.DB().GetContext(context.Background(), &x,
		fmt.Sprintf(`SELECT xmin::text FROM %s WHERE id = $1`, table), id); err != nil {
		t.Fatalf("xmin of %s %d: %v", table, id, err)
	}
	return x
}

// counts are the outbox and audit row counts, to check what one call wrote.
type counts struct{ events, audit int }

func rowCounts(t testing.TB, s *store.Store) counts {
	t.Helper()
	return counts{count(t, s, `SELECT count(*) FROM events`), count(t, s, `SELECT count(*) FROM audit_log`)}
}

// walk visits every message of a tree, depth first.
func walk(ms []*store.Message, visit func(m *store.Message, depth int)) {
	var rec func(ms []*store.Message, depth int)
	rec = func(ms []*store.Message, depth int) {
		for _, m := range ms {
			visit(m, depth)
			rec(m.Replies, depth+1)
		}
	}
	rec(ms, 0)
}

// findMessage returns the message with this id in a conversation's tree, or nil.
func findMessage(c *store.Conversation, id int64) *store.Message {
	var found *store.Message
	walk(c.Messages, func(m *store.Message, _ int) {
		if m.ID == id {
			found = m
		}
	})
	return found
}

// inboxOf is the first page of the viewer's inbox.
func inboxOf(t testing.TB, s *store.Store, v store.Viewer, f store.InboxFilter) []*store.Conversation {
	t.Helper()
	list, err := s.Inbox(context.Background(), v, f)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// concurrently runs fn(0) to fn(n-1) at once, from n goroutines released together, and
// returns what each call returned, by i.
func concurrently[T any](n int, fn func(i int) (T, error)) ([]T, []error) {
	results, errs := make([]T, n), make([]error, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			results[i], errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return results, errs
}
