package localpg

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"securemessages/store/localproc"
)

// testDir returns a fresh directory the postgres user can traverse when the
// tests run as root (t.TempDir's parent is 0700, which postgres cannot enter).
func testDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(localproc.TempDir(t, "localpg-test-"), "pg")
}

func TestStartReuseStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := testDir(t)

	s, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if !s.owned {
		t.Fatal("first Start should own the server")
	}

	db, err := sql.Open("postgres", s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}

	// A second Start on the same dir reuses the running server and its port.
	s2, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Port != s.Port || s2.URL != s.URL || s2.owned {
		t.Fatalf("reuse: got port %d owned=%v, want port %d owned=false", s2.Port, s2.owned, s.Port)
	}
	// Stop on the reused handle must leave the server running.
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("server stopped by non-owner Stop: %v", err)
	}
	db.Close()

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid still present after Stop: %v", err)
	}

	// Starting again keeps the data and prefers the previous port.
	s3, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Stop() })
	if s3.Port != s.Port {
		t.Errorf("restart: port %d, want previous port %d", s3.Port, s.Port)
	}
	db3, err := sql.Open("postgres", s3.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	var v string
	if err := db3.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("data after restart: %q, %v", v, err)
	}
	if err := s3.Stop(); err != nil {
		t.Fatal(err)
	}
}
