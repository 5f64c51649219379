package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Notification preferences say, per kind of message, whether a person hears of it by e-mail at
// once, in an hourly digest, or not at all. A kind a person has never chosen for has its default,
// so nobody needs a row to be told of the care team's replies. Each e-mail carries a one-click
// unsubscribe token (RFC 8058) that turns off its own kind and nothing else, without a sign-in:
// whoever holds the e-mail may stop it, and may do nothing more with the link.

// NotificationKind is a kind of message a person may hear of by e-mail.
type NotificationKind string

// The kinds: one for patients, two for staff.
const (
	// KindPracticeMessage (patients): a new message or a reply from the care team.
	KindPracticeMessage NotificationKind = "practice_message"
	// KindRequested (staff): a patient's message that asks for this staff member by name.
	KindRequested NotificationKind = "requested"
	// KindWaiting (staff): the practice's other patient messages waiting for an answer.
	KindWaiting NotificationKind = "waiting"
)

// Delivery is how a person hears of a kind of message.
type Delivery string

// The deliveries.
const (
	DeliveryNow    Delivery = "now"    // an e-mail for each, a short while after it arrives
	DeliveryDigest Delivery = "digest" // one e-mail an hour listing how many wait
	DeliveryOff    Delivery = "off"    // no e-mail
)

// Deliveries are the choices, in the order a form offers them.
var Deliveries = []Delivery{DeliveryNow, DeliveryDigest, DeliveryOff}

// Errors of a preference that is not one of the choices.
var (
	ErrUnknownKind     = errors.New("store: no such kind of notification for this person")
	ErrUnknownDelivery = errors.New("store: no such way of delivering notifications")
)

// kindRoles is which side of a conversation each kind is for.
var kindRoles = map[NotificationKind]Role{
	KindPracticeMessage: RolePatient,
	KindRequested:       RoleStaff,
	KindWaiting:         RoleStaff,
}

// NotificationKinds are the kinds a person with the role may choose for, in the order a form
// shows them.
func NotificationKinds(role Role) []NotificationKind {
	if role == RoleStaff {
		return []NotificationKind{KindRequested, KindWaiting}
	}
	return []NotificationKind{KindPracticeMessage}
}

// Default is the delivery of a kind nobody has chosen for: at once for what is addressed to the
// person, off for what waits for the practice as a whole (a busy practice would bury each
// member in mail otherwise).
func (k NotificationKind) Default() Delivery {
	if k == KindWaiting {
		return DeliveryOff
	}
	return DeliveryNow
}

// ParseDelivery checks a delivery as a form sends it.
func ParseDelivery(s string) (Delivery, error) {
	for _, d := range Deliveries {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownDelivery, s)
}

// NotificationPreference is how a person hears of one kind of message.
type NotificationPreference struct {
	Kind     NotificationKind
	Delivery Delivery
}

// NotificationPreferences are the user's choices for every kind their role has, defaults filled
// in, in NotificationKinds' order; ErrNotFound for no such user.
func (s *Store) NotificationPreferences(ctx context.Context, userID int64) ([]NotificationPreference, error) {
	var rows []struct {
		Role     Role           `db:"role"`
		Kind     sql.NullString `db:"kind"`
		Delivery sql.NullString `db:"delivery"`
	}
	err := s.db.SelectContext(ctx, &rows, `
		SELECT u.role, p.kind, p.delivery
		FROM users u LEFT JOIN notification_preferences p ON p.user_id = u.id
		WHERE u.id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: notification preferences of user %d: %w", userID, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	chosen := map[NotificationKind]Delivery{}
	for _, r := range rows {
		if r.Kind.Valid {
			chosen[NotificationKind(r.Kind.String)] = Delivery(r.Delivery.String)
		}
	}
	kinds := NotificationKinds(rows[0].Role)
	prefs := make([]NotificationPreference, len(kinds))
	for i, k := range kinds {
		d, ok := chosen[k]
		if !ok {
			d = k.Default()
		}
		prefs[i] = NotificationPreference{Kind: k, Delivery: d}
	}
	return prefs, nil
}

// SetNotificationPreference sets how the actor hears of one kind of message, and audits it.
func (s *Store) SetNotificationPreference(ctx context.Context, actor Viewer, o Origin, kind NotificationKind, d Delivery) error {
	return s.SetNotificationPreferences(ctx, actor, o, []NotificationPreference{{Kind: kind, Delivery: d}})
}

// SetNotificationPreferences sets several of the actor's own preferences at once: all of them or,
// if any is not a choice the actor has (ErrUnknownKind, ErrUnknownDelivery), none. Each one that
// changes is audited. Only the actor's own are ever written: there is no user to name.
func (s *Store) SetNotificationPreferences(ctx context.Context, actor Viewer, o Origin, prefs []NotificationPreference) error {
	for _, p := range prefs {
		if role, ok := kindRoles[p.Kind]; !ok || role != actor.Role {
			return fmt.Errorf("%w: %q", ErrUnknownKind, p.Kind)
		}
		if _, err := ParseDelivery(string(p.Delivery)); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: set notification preferences: %w", err)
	}
	defer tx.Rollback()
	for _, p := range prefs {
		if err := setDelivery(ctx, tx, actor.UserID, p, "notification_preference_changed", o); err != nil {
			return fmt.Errorf("store: set notification preference %s: %w", p.Kind, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: set notification preferences: %w", err)
	}
	return nil
}

// setDelivery writes one preference, and its audit row if it changed anything: choosing what is
// already chosen leaves no row, so a repeated one-click unsubscribe is no change at all.
func setDelivery(ctx context.Context, tx *sqlx.Tx, userID int64, p NotificationPreference, action string, o Origin) error {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO notification_preferences (user_id, kind, delivery) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, kind) DO UPDATE SET delivery = EXCLUDED.delivery, updated_at = now()
		WHERE notification_preferences.delivery <> EXCLUDED.delivery`, userID, p.Kind, p.Delivery)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return writeAudit(ctx, tx, Audit{ActorID: userID, Action: action, ObjectType: "user", ObjectID: userID,
		RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// NewUnsubscribeToken makes the one-click unsubscribe token for an e-mail to the user about kind,
// and keeps only its hash. A mail sender calls it with the transaction it enqueues or sends in
// (an *sql.Tx or *sqlx.Tx), or nil for the store's own pool, so the link exists exactly when the
// e-mail does. A kind the user's role does not have is ErrUnknownKind; no such user, ErrNotFound.
func (s *Store) NewUnsubscribeToken(ctx context.Context, ex sqlx.ExecerContext, userID int64, kind NotificationKind) (string, error) {
	role, ok := kindRoles[kind]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	if ex == nil {
		ex = s.db
	}
	token := newToken()
	res, err := ex.ExecContext(ctx, `
		INSERT INTO unsubscribe_tokens (token_hash, user_id, kind)
		SELECT $1, u.id, $3 FROM users u WHERE u.id = $2 AND u.role = $4`,
		hashToken(token), userID, kind, role)
	if err != nil {
		return "", fmt.Errorf("store: new unsubscribe token for user %d: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var exists bool
		if err := sqlx.GetContext(ctx, s.db, &exists, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID); err != nil {
			return "", fmt.Errorf("store: new unsubscribe token for user %d: %w", userID, err)
		}
		if exists {
			return "", fmt.Errorf("%w: %q", ErrUnknownKind, kind)
		}
		return "", ErrNotFound
	}
	return token, nil
}

// tokenHash is the stored hash of an unsubscribe token, or false for a string that is no token
// NewUnsubscribeToken could have made (which then never reaches the database).
func tokenHash(token string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	return hashToken(token), true
}

// UnsubscribeKind is the kind an unsubscribe token would turn off; ErrNotFound for a token that
// is not one. It reads only: the page a link opens asks before it changes anything.
func (s *Store) UnsubscribeKind(ctx context.Context, token string) (NotificationKind, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return "", ErrNotFound
	}
	var kind NotificationKind
	err := s.db.GetContext(ctx, &kind, `SELECT kind FROM unsubscribe_tokens WHERE token_hash = $1`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: unsubscribe token: %w", err)
	}
	return kind, nil
}

// Unsubscribe turns off the one kind of e-mail its token was made for, for the user it was made
// for, and changes nothing else. It may be repeated: a kind already off stays off and is not
// audited again. A token that is not one is ErrNotFound.
func (s *Store) Unsubscribe(ctx context.Context, token string, o Origin) (NotificationKind, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return "", ErrNotFound
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("store: unsubscribe: %w", err)
	}
	defer tx.Rollback()
	var t struct {
		UserID int64            `db:"user_id"`
		Kind   NotificationKind `db:"kind"`
	}
	err = tx.GetContext(ctx, &t, `SELECT user_id, kind FROM unsubscribe_tokens WHERE token_hash = $1`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: unsubscribe: %w", err)
	}
	if err := setDelivery(ctx, tx, t.UserID, NotificationPreference{Kind: t.Kind, Delivery: DeliveryOff}, "notification_unsubscribed", o); err != nil {
		return "", fmt.Errorf("store: unsubscribe user %d from %s: %w", t.UserID, t.Kind, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: unsubscribe: %w", err)
	}
	return t.Kind, nil
}
