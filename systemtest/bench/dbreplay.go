package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"securemessages/store"
	"securemessages/store/storetest"
)

// The database ceiling replays, straight against PostgreSQL, the very statements a render
// issues. They are captured by running the store methods the handler calls (session lookup, then
// what inboxView asks for) over a connection that records each statement and its arguments: the
// SQL is the store's own, not a copy that could drift from it. A statement the store prepared is
// replayed prepared.

type statement struct {
	query    string
	args     []any
	prepared bool
}

type recorder struct {
	mu    sync.Mutex
	stmts []statement
}

func (r *recorder) add(q string, args []driver.NamedValue, prepared bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := statement{query: q, prepared: prepared}
	for _, a := range args {
		s.args = append(s.args, a.Value)
	}
	r.stmts = append(r.stmts, s)
}

type recConnector struct {
	dsn string
	rec *recorder
}

func (c recConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := pq.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: conn, rec: c.rec}, nil
}

func (c recConnector) Driver() driver.Driver { return &pq.Driver{} }

// recConn passes everything to lib/pq's connection and records queries.
type recConn struct {
	driver.Conn
	rec *recorder
}

func (c *recConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.rec.add(q, args, false)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *recConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.rec.add(q, args, false)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *recConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &recStmt{Stmt: st, query: q, rec: c.rec}, nil
}

// recStmt records each execution of a prepared statement.
type recStmt struct {
	driver.Stmt
	query string
	rec   *recorder
}

func (s *recStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.rec.add(s.query, args, true)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (s *recStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.rec.add(s.query, args, true)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *recConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.rec.add("BEGIN", nil, false)
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *recConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

// renderStatements records what one render of the inbox issues for a viewer's session. For a
// side that keeps conversations, the render before it is not recorded: the one recorded finds
// the page's conversations kept, as every repeated page on that server does.
func renderStatements(ctx context.Context, e *env, token string, sd side) ([]statement, error) {
	rec := &recorder{}
	db := sqlx.NewDb(sql.OpenDB(recConnector{dsn: e.dbURL, rec: rec}), "postgres")
	defer db.Close()
	db.SetMaxOpenConns(1)
	st := store.New(db, storetest.Keys)
	if sd.kept {
		st.KeepConversations(store.PageSize)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, err
	}
	// What a GET /inbox runs: app.loadSession, then app.inboxView.
	render := func() error {
		sess, err := st.SessionByToken(ctx, token, store.SessionLimits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour})
		if err != nil {
			return err
		}
		v := sess.User.Viewer()
		if _, err := st.InboxPage(ctx, v, store.InboxFilter{Page: 1}); err != nil {
			return err
		}
		if sd.staff {
			if _, err := st.AwaitingCount(ctx, v, sess.NewestEvent); err != nil {
				return err
			}
		}
		return nil
	}
	if sd.kept {
		if err := render(); err != nil {
			return nil, err
		}
	}
	rec.mu.Lock()
	rec.stmts = nil
	rec.mu.Unlock()
	if err := render(); err != nil {
		return nil, err
	}
	return rec.stmts, nil
}

// replayLoad runs the recorded statements of one render, one after another, from `clients`
// connections at once for d, and reports renders per second and their latency.
func replayLoad(ctx context.Context, e *env, stmts []statement, clients int, d time.Duration) (loadResult, error) {
	db, err := sql.Open("postgres", e.dbURL)
	if err != nil {
		return loadResult{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	// Open the connections before the clock starts, as the server's pool is open.
	conns := make([]*sql.Conn, clients)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			return loadResult{}, err
		}
	}
	for _, c := range conns {
		c.Close()
	}
	prep := make([]*sql.Stmt, len(stmts))
	for i, st := range stmts {
		if st.prepared {
			if prep[i], err = db.PrepareContext(ctx, st.query); err != nil {
				return loadResult{}, err
			}
			defer prep[i].Close()
		}
	}
	res, err := closedLoop(e.meter(), clients, d, func() (func() error, func()) {
		return func() error { return replayOnce(ctx, db, prep, stmts) }, func() {}
	})
	if res.requests == 0 {
		return loadResult{}, fmt.Errorf("replay: %v", err)
	}
	return res, nil
}

// replayOnce runs the statements of one render; prep holds those the store prepared.
func replayOnce(ctx context.Context, db *sql.DB, prep []*sql.Stmt, stmts []statement) error {
	for i, s := range stmts {
		var rows *sql.Rows
		var err error
		if prep[i] != nil {
			rows, err = prep[i].QueryContext(ctx, s.args...)
		} else {
			rows, err = db.QueryContext(ctx, s.query, s.args...)
		}
		if err != nil {
			return err
		}
		cols, _ := rows.Columns()
		raw := make([]sql.RawBytes, len(cols))
		dest := make([]any, len(cols))
		for i := range raw {
			dest[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
