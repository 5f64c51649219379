package main

import (
	"context"
	"fmt"
	"strings"
)

// statementCount is what PostgreSQL counted for one render.
type statementCount struct {
	total   int
	queries []string // first line of each statement, with its number of calls
	// The read marks' share: the statements that read what is new and who read what (the
	// page's read state and its count of new messages, store/read_state.go), and their time.
	reads   int
	readsMs float64
}

// countRender asks PostgreSQL how many statements the web servers' role ran for one request:
// pg_stat_statements is reset, the request made, and the calls of that role in this database
// summed. The server is otherwise idle, and the request is made once before (so the session's
// once-a-minute "last seen" write is not in the count).
func countRender(ctx context.Context, e *env, r request) (statementCount, error) {
	if !e.pgStat {
		return statementCount{}, fmt.Errorf("pg_stat_statements unavailable")
	}
	if code, _, _, err := fetch(r); err != nil || code != 200 {
		return statementCount{}, fmt.Errorf("warm-up request: %d %v", code, err)
	}
	if _, err := e.db.ExecContext(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return statementCount{}, err
	}
	if code, _, _, err := fetch(r); err != nil || code != 200 {
		return statementCount{}, fmt.Errorf("request: %d %v", code, err)
	}
	var rows []struct {
		Calls int     `db:"calls"`
		Query string  `db:"query"`
		Ms    float64 `db:"ms"`
	}
	err := e.db.SelectContext(ctx, &rows, `
		SELECT calls, query, total_exec_time AS ms FROM pg_stat_statements
		WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)
		  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY query`, e.webRole)
	if err != nil {
		return statementCount{}, err
	}
	var c statementCount
	for _, row := range rows {
		c.total += row.Calls
		if strings.Contains(row.Query, "opened_at") {
			c.reads += row.Calls
			c.readsMs += row.Ms
		}
		q := strings.Join(strings.Fields(row.Query), " ")
		if len(q) > 70 {
			q = q[:70] + "…"
		}
		c.queries = append(c.queries, fmt.Sprintf("%d× %s", row.Calls, q))
	}
	return c, nil
}
