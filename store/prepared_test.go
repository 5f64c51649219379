package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

// openOne opens the store as the server does (store.Open), on one connection, so that the
// session's prepared statements can be counted.
func openOne(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, storetest.Keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.DB().SetMaxOpenConns(1)
	return s
}

func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// renderReads runs what an inbox render reads, and returns what it read.
func renderReads(t *testing.T, s *store.Store, email string) (store.Practice, store.InboxPage, int) {
	t.Helper()
	ctx := t.Context()
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	token, err := s.CreateSession(ctx, u, store.Origin{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.SessionByToken(ctx, token, store.SessionLimits{Idle: time.Hour, Absolute: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.InboxPage(ctx, u.Viewer(), store.InboxFilter{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.AwaitingCount(ctx, u.Viewer(), sess.NewestEvent)
	if err != nil {
		t.Fatal(err)
	}
	return sess.Practice, page, n
}

func preparedCount(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.DB().GetContext(t.Context(), &n, `SELECT count(*) FROM pg_prepared_statements`); err != nil {
		t.Fatal(err)
	}
	return n
}

// The reads of every render are prepared; with prepared_statements=false in DATABASE_URL (behind
// a PgBouncer in transaction mode) none is, and they read the same.
func TestPreparedStatements(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, true)
	for _, email := range []string{"maria.lopez@riverside.example", "nurse@riverside.example"} {
		prepared, unnamed := openOne(t, url), openOne(t, withParam(url, "prepared_statements=false"))
		p1, page1, n1 := renderReads(t, prepared, email)
		p2, page2, n2 := renderReads(t, unnamed, email)
		if got := preparedCount(t, prepared); got < 4 {
			t.Errorf("%s: %d statements prepared, want the render's reads (at least 4)", email, got)
		}
		if got := preparedCount(t, unnamed); got != 0 {
			t.Errorf("%s: prepared_statements=false, and %d statements were prepared", email, got)
		}
		if p1 != p2 || n1 != n2 || !reflect.DeepEqual(page1, page2) {
			t.Errorf("%s: prepared and unnamed statements read differently:\n%+v %d\n%+v %d", email, p1, n1, p2, n2)
		}
		if len(page1.Conversations) == 0 {
			t.Errorf("%s: an empty inbox proves nothing", email)
		}
	}
	if _, err := store.Open(context.Background(), withParam(url, "prepared_statements=sometimes"), storetest.Keys); err == nil ||
		!strings.Contains(err.Error(), "prepared_statements") {
		t.Errorf("a malformed prepared_statements was taken: %v", err)
	}
}

// A migration that changes the type of a column a prepared statement returns (released while the
// server runs) makes PostgreSQL refuse the old statement; the store prepares it again.
func TestPreparedStatementOutlivesMigration(t *testing.T) {
	t.Parallel()
	s := openOne(t, storetest.URL(t, true))
	before, _, _ := renderReads(t, s, "maria.lopez@riverside.example")
	if _, err := s.DB().ExecContext(t.Context(), `ALTER TABLE practices ALTER COLUMN name TYPE varchar(200)`); err != nil {
		t.Fatal(err)
	}
	after, _, _ := renderReads(t, s, "maria.lopez@riverside.example")
	if before != after {
		t.Errorf("practice %+v, then %+v", before, after)
	}
}
