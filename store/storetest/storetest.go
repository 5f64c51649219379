// Package storetest gives each test its own PostgreSQL database, migrated, cloned from a template
// (by pgtestdb) so tests run in parallel and leave nothing behind. It uses DATABASE_URL when set;
// otherwise Main starts a throwaway server for the test binary and stops it at the end.
package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/peterldowns/pgtestdb"

	"securemessages/store"
	"securemessages/store/localpg"
)

// KeySpec is the message key ring tests seal with.
const KeySpec = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// Keys is KeySpec, parsed.
var Keys = mustKeys(KeySpec)

func mustKeys(spec string) *store.Keyring {
	k, err := store.ParseKeyring(spec)
	if err != nil {
		panic(err)
	}
	return k
}

// Main runs a package's tests, with a private PostgreSQL server when DATABASE_URL is unset.
// Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// Run is Main without the exit: it returns m.Run's code, for a TestMain that reports or cleans
// up after the tests (the browser suite prints how many flows ran).
func Run(m *testing.M) int {
	return run(m)
}

func run(m *testing.M) int {
	if os.Getenv("DATABASE_URL") == "" {
		dir, err := os.MkdirTemp("", "sm-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		// The server runs as the postgres user when tests run as root; it must reach its folder.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		srv, err := localpg.Start(ctx, dir, 0)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "storetest: start PostgreSQL:", err)
			return 1
		}
		defer srv.Stop()
		os.Setenv("DATABASE_URL", srv.URL)
	}
	return m.Run()
}

// New returns a store over a new, migrated, empty database.
func New(t testing.TB) *store.Store {
	return open(t, migrator{})
}

// NewDemo returns a store over a new database holding the demo practices.
func NewDemo(t testing.TB) *store.Store {
	return open(t, migrator{demo: true})
}

// URL returns the connection URL of a new migrated database (with the demo when asked), for
// tests that start the whole app.
func URL(t testing.TB, demo bool) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), migrator{demo: demo}).URL()
}

// EmptyURL returns the connection URL of a new database with nothing in it, not even the schema,
// for tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), pgtestdb.NoopMigrator{}).URL()
}

func open(t testing.TB, m migrator) *store.Store {
	t.Helper()
	conf := pgtestdb.Custom(t, config(t), m)
	db, err := sqlx.Open("postgres", conf.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return store.New(db, Keys)
}

func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := os.Getenv("DATABASE_URL")
	if raw == "" {
		t.Fatal("storetest: DATABASE_URL is not set; call storetest.Main from TestMain")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("storetest: DATABASE_URL: %v", err)
	}
	password, _ := u.User.Password()
	options := u.Query()
	if options.Get("sslmode") == "" {
		options.Set("sslmode", "disable")
	}
	return pgtestdb.Config{
		DriverName:                "postgres",
		Host:                      u.Hostname(),
		Port:                      u.Port(),
		User:                      u.User.Username(),
		Password:                  password,
		Database:                  u.Path[1:],
		Options:                   options.Encode(),
		ForceTerminateConnections: true,
	}
}

// migrator builds the template database: the schema, and the demo when asked.
type migrator struct{ demo bool }

// Hash names the template by the migrations and the test binary, so a changed schema or demo
// loader builds a new template.
func (m migrator) Hash() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "demo=%t\n", m.demo)
	err := fs.WalkDir(store.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(store.Migrations, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", filepath.Base(exe), st.Size(), st.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func (m migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	if err := store.Migrate(ctx, db); err != nil {
		return err
	}
	if m.demo {
		if _, err := store.New(sqlx.NewDb(db, "postgres"), Keys).LoadDemo(ctx, TimeZone); err != nil {
			return err
		}
	}
	return nil
}

// TimeZone is the demo practices' time zone in tests: not UTC, the zone test machines run in, so a
// date shown in the server's zone rather than the practice's cannot pass.
const TimeZone = "America/New_York"

// NewestEvent is the newest event of every practice: a point after which every viewer's live
// stream may start, for tests and the bench that open streams for several practices at once.
// (Pages start from their own practice's, store.EventHorizon.)
func NewestEvent(ctx context.Context, db sqlx.QueryerContext) (int64, error) {
	var n int64
	err := sqlx.GetContext(ctx, db, &n, `SELECT coalesce(max(id), 0) FROM events`)
	return n, err
}

// WaitFor polls cond until it holds, failing the test after d: for state that the store, a hub
// or a server reaches on its own, never a sleep-then-check.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
