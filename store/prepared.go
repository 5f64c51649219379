package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Prepared statements.
//
// lib/pq sends a statement with arguments unnamed: PostgreSQL parses and plans it anew at every
// call, and the driver waits a round trip between parsing and binding. The statements every inbox
// render runs are prepared instead (database/sql prepares each once per pooled connection), which
// saves PostgreSQL most of its planning (see docs/performance.md).
//
// Behind a PgBouncer in transaction mode older than 1.21, a statement prepared on one server
// connection is unknown on the next. There, prepared_statements=false in DATABASE_URL (the
// parameter Heroku's PgBouncer buildpack adds when PGBOUNCER_PREPARED_STATEMENTS=false) sends
// every statement unnamed.
type statements struct {
	off bool
	mu  sync.Mutex
	m   map[string]*sqlx.Stmt
}

// preparedParam is the DATABASE_URL parameter that turns prepared statements off.
const preparedParam = "prepared_statements"

// splitPreparedParam takes prepared_statements out of a postgres:// URL (lib/pq would send it to
// the server as a setting, which PostgreSQL refuses) and reports whether statements may be
// prepared.
func splitPreparedParam(databaseURL string) (string, bool, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return databaseURL, true, nil // lib/pq reports what is wrong with it
	}
	q := u.Query()
	v := q.Get(preparedParam)
	if !q.Has(preparedParam) {
		return databaseURL, true, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return "", false, fmt.Errorf("store: DATABASE_URL %s=%q must be true or false", preparedParam, v)
	}
	q.Del(preparedParam)
	u.RawQuery = q.Encode()
	return u.String(), on, nil
}

// get is sqlx's GetContext, through the prepared statement for query.
func (s *Store) get(ctx context.Context, dest any, query string, args ...any) error {
	return s.prepared(ctx, query, func(st *sqlx.Stmt) error { return st.GetContext(ctx, dest, args...) },
		func() error { return s.db.GetContext(ctx, dest, query, args...) })
}

// query runs query through its prepared statement and hands the rows to read, which may be
// called a second time if the statement had to be prepared again.
func (s *Store) query(ctx context.Context, query string, args []any, read func(*sql.Rows) error) error {
	run := func(q func() (*sql.Rows, error)) error {
		rows, err := q()
		if err != nil {
			return err
		}
		defer rows.Close()
		return read(rows)
	}
	return s.prepared(ctx, query,
		func(st *sqlx.Stmt) error {
			return run(func() (*sql.Rows, error) { return st.QueryContext(ctx, args...) })
		},
		func() error { return run(func() (*sql.Rows, error) { return s.db.QueryContext(ctx, query, args...) }) })
}

// prepared runs withStmt on query's prepared statement, or unprepared when statements are off.
// A statement whose result columns changed under it (a migration released while this process
// runs) is prepared again, once.
func (s *Store) prepared(ctx context.Context, query string, withStmt func(*sqlx.Stmt) error, unprepared func() error) error {
	if s.stmts.off {
		return unprepared()
	}
	for attempt := 0; ; attempt++ {
		st, err := s.stmt(ctx, query)
		if err != nil {
			return err
		}
		err = withStmt(st)
		if attempt == 0 && planChanged(err) {
			s.forget(query, st)
			continue
		}
		return err
	}
}

func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	s.stmts.mu.Lock()
	st, ok := s.stmts.m[query]
	s.stmts.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if have, ok := s.stmts.m[query]; ok { // prepared meanwhile by another request
		st.Close()
		return have, nil
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sqlx.Stmt{}
	}
	s.stmts.m[query] = st
	return st, nil
}

func (s *Store) forget(query string, st *sqlx.Stmt) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if s.stmts.m[query] == st {
		delete(s.stmts.m, query)
		st.Close()
	}
}

// planChanged reports PostgreSQL's "cached plan must not change result type": the statement was
// prepared before a column it returns changed type.
func planChanged(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "0A000"
}
