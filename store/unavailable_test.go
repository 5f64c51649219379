package store_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"securemessages/store"
	"securemessages/store/storetest"
)

// TestUnavailable: errors that mean "PostgreSQL is not there right now" are told apart from
// errors in the request, so the app can answer "try again" without blaming the user.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown", &pq.Error{Code: "57P01"}, true},
		{"cannot connect now (starting up)", &pq.Error{Code: "57P03"}, true},
		{"connection failure", &pq.Error{Code: "08006"}, true},
		{"wrapped connection failure", fmt.Errorf("store: inbox: %w", &pq.Error{Code: "08001"}), true},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"deadlock", &pq.Error{Code: "40P01"}, false},
		{"syntax error", &pq.Error{Code: "42601"}, false},
		{"bad connection", driver.ErrBadConn, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"EOF", fmt.Errorf("store: %w", io.EOF), true},
		{"deadline", context.DeadlineExceeded, true},
		{"not found", store.ErrNotFound, false},
		{"no longer applies", store.ErrNoLongerApplies, false},
		{"validation", &store.ValidationError{Fields: map[string]string{"subject": "x"}}, false},
		{"decrypt", store.ErrDecrypt, false},
	}
	for _, tc := range cases {
		if got := store.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestUnavailableFromRealFailures: the errors a real driver gives when the server is not there.
func TestUnavailableFromRealFailures(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = store.Open(ctx, "postgres://u:p@"+addr+"/db?sslmode=disable", storetest.Keys)
	if err == nil || !store.Unavailable(err) {
		t.Errorf("Open on a closed port: %v, Unavailable = %v", err, store.Unavailable(err))
	}

	// A connection the server ends under us.
	f := newDemo(t)
	conn, err := f.s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DB().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, `SELECT 1`)
	if err == nil || !store.Unavailable(err) {
		t.Errorf("query on a terminated connection: %v, Unavailable = %v", err, store.Unavailable(err))
	}

	// A request's own fault is not unavailability.
	_, err = f.s.DB().ExecContext(ctx, `SELECT * FROM no_such_table`)
	if err == nil || store.Unavailable(err) {
		t.Errorf("bad query: %v, Unavailable = %v", err, store.Unavailable(err))
	}
}
