// Package realtime owns what moves through Redis: after a change commits, its event (ids and a
// kind, never message text or names) is published for the web instances that hold open pages.
// Redis is a hint, never the record: the events table in PostgreSQL is, so a publish that fails
// loses nothing that a reconnecting page cannot replay.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"securemessages/store"
)

// Channel is the one Redis channel events travel on.
const Channel = "securemessages:events"

// Wire is an event as published: identifiers only.
type Wire struct {
	ID             int64  `json:"id"`
	Kind           string `json:"kind"`
	PracticeID     int64  `json:"practice_id"`
	PatientID      int64  `json:"patient_id"`
	ConversationID int64  `json:"conversation_id"`
	MessageID      int64  `json:"message_id,omitempty"`
}

// Connect opens a Redis client from a redis:// or rediss:// URL. It does not wait for Redis:
// the app starts and serves while Redis is down.
func Connect(redisURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // honour request deadlines instead of retrying for seconds
	opts.MaxRetries = 1
	return redis.NewClient(opts), nil
}

// Publisher tells other instances about committed changes.
type Publisher struct {
	client *redis.Client
}

// NewPublisher publishes through client; a nil client publishes nothing (no Redis configured).
func NewPublisher(client *redis.Client) *Publisher { return &Publisher{client: client} }

// Publish sends one committed event. It waits at most a second: the change is already safe in
// PostgreSQL, and a page that misses the hint catches up from the events table.
func (p *Publisher) Publish(ctx context.Context, e store.Event) error {
	if p.client == nil || e.ID == 0 {
		return nil
	}
	payload, err := json.Marshal(Wire{ID: e.ID, Kind: e.Kind, PracticeID: e.PracticeID, PatientID: e.PatientID,
		ConversationID: e.ConversationID, MessageID: e.MessageID})
	if err != nil {
		return fmt.Errorf("realtime: encode event %d: %w", e.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := p.client.Publish(ctx, Channel, payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish event %d: %w", e.ID, err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (p *Publisher) Ping(ctx context.Context) error {
	if p.client == nil {
		return fmt.Errorf("realtime: no REDIS_URL configured")
	}
	return p.client.Ping(ctx).Err()
}
