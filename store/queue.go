package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// The job queue is River's, in this database (its tables are river_*, its migrations run in
// Migrate after ours): a job is inserted in the transaction of the change that causes it, so a
// change that rolls back leaves no job and one that commits cannot lose its job. The store
// inserts jobs; app/notify works them.

// Queue is a River client on this database: the store's own inserts jobs only; NewQueue with
// workers and queues makes one that works them.
type Queue = river.Client[*sql.Tx]

// NewQueue makes a River client over db (lib/pq through database/sql, which River polls rather
// than listens on: fine for e-mail, which counts in minutes). A nil config inserts only.
func NewQueue(db *sql.DB, config *river.Config) (*Queue, error) {
	if config == nil {
		config = &river.Config{}
	}
	q, err := river.NewClient(riverdatabasesql.New(db), config)
	if err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	return q, nil
}

// migrateQueue brings River's own tables up to date.
func migrateQueue(ctx context.Context, db *sql.DB) error {
	m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		return fmt.Errorf("store: job queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: migrate job queue: %w", err)
	}
	return nil
}

// NotifyArgs is the job that sends one notification e-mail (a notifications row). It carries
// the row's id and nothing else: no address, no text.
type NotifyArgs struct {
	NotificationID int64 `json:"notification_id"`
}

// Kind names the job in River's table.
func (NotifyArgs) Kind() string { return "notify" }

// DefaultNotifyDelay is how long a patient has to read a message in an open tab before they are
// e-mailed about it.
const DefaultNotifyDelay = 2 * time.Minute

// ReminderAfter is how long after the e-mail about a message the one reminder goes, if the
// conversation still holds something the recipient has not opened.
const ReminderAfter = 24 * time.Hour

// NotifyAfter sets how long after a message its e-mail waits (DefaultNotifyDelay until called).
func (s *Store) NotifyAfter(d time.Duration) { s.notifyDelay = d }

// inserter is the store's insert-only River client, made once.
func (s *Store) inserter() (*Queue, error) {
	s.queueOnce.Do(func() { s.queue, s.queueErr = NewQueue(s.db.DB, nil) })
	return s.queue, s.queueErr
}

// enqueueNotification writes a pending notification of messageID for recipient, and the job
// that sends it at `at`, in tx. The job is unique by its arguments (the row's id), and the row
// by message, recipient and kind, so one cause never makes two e-mails.
func (s *Store) enqueueNotification(ctx context.Context, tx *sql.Tx, kind NotificationKind,
	messageID, conversationID, recipientID int64, at time.Time) error {
	var id int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO notifications (message_id, conversation_id, recipient_id, kind)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id, recipient_id, kind) DO NOTHING
		RETURNING id`, messageID, conversationID, recipientID, kind).Scan(&id)
	if err == sql.ErrNoRows {
		return nil // already enqueued
	}
	if err != nil {
		return fmt.Errorf("store: enqueue notification of message %d: %w", messageID, err)
	}
	q, err := s.inserter()
	if err != nil {
		return err
	}
	_, err = q.InsertTx(ctx, tx, NotifyArgs{NotificationID: id}, &river.InsertOpts{
		ScheduledAt: at,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	})
	if err != nil {
		return fmt.Errorf("store: enqueue notification of message %d: %w", messageID, err)
	}
	return nil
}
