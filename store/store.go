// Package store owns everything the secure message center keeps in PostgreSQL: the schema and
// its migrations, the queries, the transactions that change a conversation, and the encryption
// of message text at rest.
//
// Every read of patient data takes the Viewer and filters on it in SQL: a patient sees only their
// own conversations, staff only their practice's. A change to a conversation locks the
// conversation's row first, asks Allowed under that lock, and writes the change, its events row
// (the outbox that live updates replay from) and its audit row in one transaction.
//
// What is encrypted: each message's subject, body and special instructions (response method,
// no-response-needed, billing consent and fee). What is not: names, dates, and the id of a
// requested staff member, which the staff queue filters on and which says who should answer, not
// what the message is about.
//
// The reads every inbox render makes are prepared statements (prepared.go), one per list.
//
// The store must not know about HTTP, templates or Redis.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/pressly/goose/v3"
)

// Role says which side of a conversation a user is on.
type Role string

// The two sides of a conversation.
const (
	RolePatient Role = "patient"
	RoleStaff   Role = "staff"
)

// Viewer is the signed-in user a query or change is made for.
type Viewer struct {
	UserID     int64
	PracticeID int64
	Role       Role
}

// patientScope is the patient id a query must match: the viewer for a patient, none (NULL) for
// staff, who see their whole practice.
func (v Viewer) patientScope() sql.NullInt64 {
	return sql.NullInt64{Int64: v.UserID, Valid: v.Role == RolePatient}
}

// Errors a handler turns into a clear message.
var (
	ErrNotFound        = errors.New("store: not found")
	ErrNoLongerApplies = errors.New("store: that action no longer applies")
	ErrUnknownStaff    = errors.New("store: no such staff member at this practice")
)

// Store is the application's PostgreSQL database.
type Store struct {
	db     *sqlx.DB
	keys   *Keyring
	now    func() time.Time
	stmts  statements // the hot reads, prepared (prepared.go)
	lists  listCache
	limits SendLimits     // how much a patient may send (send_limit.go); none until LimitSends
	zone   *time.Location // a practice's zone where it has named none (UseDefaultZone)

	idsMu sync.Mutex
	ids   *PublicIDs // the public id codec, read once (PublicIDs)

	notifyDelay time.Duration // how long a message's e-mail waits (NotifyAfter)
	queueOnce   sync.Once     // makes queue, the insert-only job client (queue.go)
	queue       *Queue
	queueErr    error
}

// Open connects to PostgreSQL and checks that it answers.
func Open(ctx context.Context, databaseURL string, keys *Keyring) (*Store, error) {
	databaseURL, prepare, err := splitPreparedParam(databaseURL)
	if err != nil {
		return nil, err
	}
	db, err := sqlx.Open("postgres", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s := New(db, keys)
	s.stmts.off = !prepare
	return s, nil
}

// New wraps an open database.
func New(db *sqlx.DB, keys *Keyring) *Store {
	return &Store{db: db, keys: keys, now: time.Now, notifyDelay: DefaultNotifyDelay}
}

// DB is the underlying database, for health checks and tests.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Migrations are the numbered schema changes, applied in order by Migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Migrate brings the schema up to date. goose applies each numbered file in its own
// transaction and records what it applied, so running it again changes nothing. Then River
// brings its job queue's tables up to date the same way (queue.go).
func Migrate(ctx context.Context, db *sql.DB) error {
	dir, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, dir)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return migrateQueue(ctx, db)
}
