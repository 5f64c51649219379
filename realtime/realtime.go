// Package realtime owns live updates: after a change commits, its event (ids and a kind, never
// message text or names) is published on Redis; each web instance holds one subscription (the
// Hub) and hands each event to the open pages allowed to see it, over server-sent events.
//
// Redis is a hint, never the record: the events table in PostgreSQL is. A page's stream replays
// from it on every connect (from the later of Last-Event-ID and the id the page was rendered
// with), and whenever the Hub may have missed something (Redis reconnected, a stream's buffer
// overflowed). So Redis down, an instance restart or a dropped phone connection loses nothing.
//
// realtime reads the store (replay, session checks) and must not render HTML or touch HTTP
// request state: the app hands it a viewer and a writer.
package realtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
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
	Session        string `json:"session,omitempty"` // for KindSessionEnded: the session's key
	User           int64  `json:"user,omitempty"`    // for KindUserEnded: the user's id
}

// KindSessionEnded tells every instance to close a signed-out session's streams.
const KindSessionEnded = "session_ended"

// KindUserEnded tells every instance to close every stream of a user who can no longer sign in
// (deactivated, or their password reset).
const KindUserEnded = "user_ended"

func wireOf(e store.Event) Wire {
	return Wire{ID: e.ID, Kind: e.Kind, PracticeID: e.PracticeID, PatientID: e.PatientID,
		ConversationID: e.ConversationID, MessageID: e.MessageID}
}

// TLSOptions say how a rediss:// connection checks the server's certificate. The zero value
// verifies it against the system's certificate pool, as go-redis does by default.
type TLSOptions struct {
	CAFile string // PEM certificates to trust instead of the system's; "" for the system pool
	// SkipVerify accepts any certificate: for a platform whose Redis presents a self-signed one
	// (Heroku Key-Value Store), where the connection is still encrypted but not authenticated.
	SkipVerify bool
}

// Connect opens a Redis client from a redis:// or rediss:// URL. It does not wait for Redis:
// the app starts and serves while Redis is down.
func Connect(redisURL string, t TLSOptions) (*redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: REDIS_URL: %w", err)
	}
	if opts.TLSConfig != nil && t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("realtime: REDIS_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("realtime: REDIS_TLS_CA_FILE %s holds no PEM certificate", t.CAFile)
		}
		opts.TLSConfig.RootCAs = pool
	}
	if opts.TLSConfig != nil && t.SkipVerify {
		opts.TLSConfig.InsecureSkipVerify = true
	}
	opts.ContextTimeoutEnabled = true // honour request deadlines instead of retrying for seconds
	opts.MaxRetries = 1
	return redis.NewClient(opts), nil
}

// Reason says in a few words why Redis did not answer, naming neither addresses nor
// credentials: for /healthz, which anyone may read, and for the log beside the error itself.
func Reason(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errNoRedis):
		return "not configured"
	case errors.As(err, &unknown):
		return "tls: certificate not trusted"
	case errors.As(err, &hostname):
		return "tls: certificate is for another host"
	case errors.As(err, &invalid):
		return "tls: certificate not valid"
	case errors.As(err, &verify):
		return "tls: certificate not accepted"
	case errors.As(err, &record):
		return "tls: server does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "connection closed by the server" // e.g. plain redis:// to a server that wants TLS
	case strings.HasPrefix(err.Error(), "NOAUTH"), strings.HasPrefix(err.Error(), "WRONGPASS"):
		return "authentication failed"
	}
	return "unreachable"
}

// Publish tells the streams of every instance about a committed change: this instance's own
// streams at once, the others through Redis. It waits at most a second for Redis: the change is
// already safe in PostgreSQL, and a page that misses the hint catches up from the events table.
func (h *Hub) Publish(ctx context.Context, e store.Event) error {
	if e.ID == 0 {
		return nil
	}
	h.Deliver(e)
	if h.client == nil {
		return nil
	}
	return h.publish(ctx, wireOf(e))
}

// SessionEnded tells every instance that a session was signed out, so its streams close now.
func (h *Hub) SessionEnded(ctx context.Context, key string) error {
	h.EndSession(key)
	if h.client == nil {
		return nil
	}
	return h.publish(ctx, Wire{Kind: KindSessionEnded, Session: key})
}

// UserEnded tells every instance that a user's sessions were all ended, so their streams close
// now rather than at their next heartbeat's session check.
func (h *Hub) UserEnded(ctx context.Context, userID int64) error {
	h.EndUser(userID)
	if h.client == nil {
		return nil
	}
	return h.publish(ctx, Wire{Kind: KindUserEnded, User: userID})
}

func (h *Hub) publish(ctx context.Context, w Wire) error {
	payload, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("realtime: encode event %d: %w", w.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := h.client.Publish(ctx, Channel, payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish %s %d: %w", w.Kind, w.ID, err)
	}
	return nil
}

var errNoRedis = errors.New("realtime: no REDIS_URL configured")

// Ping reports whether Redis answers; Reason says in brief why not.
func (h *Hub) Ping(ctx context.Context) error {
	if h.client == nil {
		return errNoRedis
	}
	return h.client.Ping(ctx).Err()
}
