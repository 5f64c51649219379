package systemtest

// The audit log is append-only for the database roles an app runs as: the role that owns the
// tables (as on Heroku, and as in these tests) and a role that was merely granted every privilege
// on them. Only the owner can lift the guard (ALTER TABLE … DISABLE TRIGGER), which is what an
// attacker with the owner's rights would do; the hash chain is there for that case, and
// `securemessages audit-verify` (process_test.go) and store.VerifyAudit (store/audit_test.go)
// name the first link such tampering breaks.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"securemessages/store"
)

func TestAuditAppendOnlyForAppRoles(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	ctx := context.Background()

	var super bool
	if err := sys.db().Get(&super, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`); err != nil {
		t.Fatal(err)
	}
	if super {
		t.Fatal("the app's role in these tests is a superuser; the check below would not be about an app's role")
	}

	refused := func(who string, db *sqlx.DB) {
		t.Helper()
		for _, stmt := range []string{
			`UPDATE audit_log SET outcome = 'failure' WHERE id = (SELECT min(id) FROM audit_log)`,
			`UPDATE audit_log SET entry_hash = prev_hash`,
			`DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)`,
			`DELETE FROM audit_log`,
			`TRUNCATE audit_log`,
		} {
			_, err := db.ExecContext(ctx, stmt)
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "42501" {
				t.Errorf("%s: %s: err = %v, want SQLSTATE 42501 (insufficient_privilege)", who, stmt, err)
			}
		}
	}
	total := sys.count(t, `SELECT count(*) FROM audit_log`)
	refused("the owning role", sys.db())

	// A role granted every privilege on every table, but not owning them.
	dbName := strings.TrimPrefix(mustURL(t, sys.dbURL).Path, "/")
	admin := mustURL(t, os.Getenv("DATABASE_URL")) // the server's administrator, set by storetest
	admin.Path = "/" + dbName
	adminDB, err := sqlx.Open("postgres", admin.String())
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	role := fmt.Sprintf("sm_granted_%d", time.Now().UnixNano())
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER`,
		`GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO ` + role,
		`GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO ` + role,
	} {
		if _, err := adminDB.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		adminDB, err := sqlx.Open("postgres", admin.String())
		if err != nil {
			return
		}
		defer adminDB.Close()
		adminDB.Exec(`DROP OWNED BY ` + role)
		adminDB.Exec(`DROP ROLE ` + role)
	})
	as := mustURL(t, admin.String())
	as.User = url.User(role)
	granted, err := sqlx.Open("postgres", as.String())
	if err != nil {
		t.Fatal(err)
	}
	defer granted.Close()
	refused("a role granted all privileges", granted)
	if _, err := granted.ExecContext(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER`); err == nil {
		t.Error("a role that does not own audit_log could turn its guard off")
	}

	// Appending still works, for both, and extends the chain.
	if err := store.New(granted, nil).Record(ctx, store.Audit{Action: "appended_by_granted_role"}); err != nil {
		t.Fatalf("append as the granted role: %v", err)
	}
	if err := sys.st.Record(ctx, store.Audit{Action: "appended_by_owner"}); err != nil {
		t.Fatalf("append as the owner: %v", err)
	}
	if n := sys.count(t, `SELECT count(*) FROM audit_log`); n != total+2 {
		t.Errorf("%d audit rows, want %d", n, total+2)
	}
	checked, broken, err := sys.st.VerifyAudit(ctx)
	if err != nil || broken != nil || int(checked) != total+2 {
		t.Errorf("VerifyAudit: %d checked, %+v, %v", checked, broken, err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || s == "" {
		t.Fatalf("URL %q: %v", s, err)
	}
	return u
}
