package store_test

import (
	"fmt"
	"strings"
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

// executions is how many times the connection's prepared statements have run, and whether the
// read-state statement is among them. openOne's store has one connection, and every read a
// render makes is prepared (prepared.go), so the difference across a render is its statements.
func executions(t *testing.T, s *store.Store) (n int, readState bool) {
	t.Helper()
	var rows []struct {
		Statement string `db:"statement"`
		Runs      int    `db:"runs"`
	}
	if err := s.DB().SelectContext(t.Context(), &rows, `SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		n += r.Runs
		readState = readState || (strings.Contains(r.Statement, "message_reads") && r.Runs > 0)
	}
	return n, readState
}

// A render's reads (the list, its messages, their read state, the counts) are as many statements
// with three conversations as with fifteen, read marks and receipts on every message included.
func TestRenderStatementsConstant(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, true)
	s := openOne(t, url)
	ctx := t.Context()
	maria, err := s.UserByEmail(ctx, "maria.lopez@riverside.example")
	if err != nil {
		t.Fatal(err)
	}
	nurse, err := s.UserByEmail(ctx, "nurse@riverside.example")
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		for i := range n {
			sent := start(t, s, maria.Viewer(), store.NewConversation{Subject: fmt.Sprintf("Question %d", i)})
			answer := reply(t, s, nurse.Viewer(), sent.MessageID, "Answer")
			for _, read := range []struct {
				v  store.Viewer
				id int64
			}{{nurse.Viewer(), sent.MessageID}, {maria.Viewer(), answer.MessageID}} {
				if _, err := s.MessageDetails(ctx, read.v, origin, read.id); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	render := func(email string) (int, bool) {
		t.Helper()
		before, _ := executions(t, s)
		_, page, _ := renderReads(t, s, email)
		u, err := s.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.NewCount(ctx, u.Viewer(), 0); err != nil {
			t.Fatal(err)
		}
		reads := 0
		for _, c := range page.Conversations {
			walk(c.Messages, func(m *store.Message, _ int) { reads += len(m.Reads) })
		}
		if reads == 0 {
			t.Fatalf("%s: no receipt on the page: the count proves nothing of them", email)
		}
		after, readState := executions(t, s)
		// renderReads looks the user up, signs in and reads the session: the same few statements
		// at any size, counted with the render's.
		return after - before, readState
	}
	add(3)
	small := map[string]int{}
	for _, email := range []string{"maria.lopez@riverside.example", "nurse@riverside.example"} {
		render(email) // the first render prepares; count the ones after
		n, readState := render(email)
		if !readState {
			t.Errorf("%s: the read state was not read by its one statement", email)
		}
		small[email] = n
		t.Logf("%s: %d statements a render", email, n)
	}
	add(12)
	for email, want := range small {
		if got, _ := render(email); got != want {
			t.Errorf("%s: %d statements with 15 conversations, %d with 3", email, got, want)
		}
	}
}
