package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// A forgotten password is reset through a link e-mailed to the account's address. The request
// answers the same whether or not the address has an account (the handler shows one page for
// both); only an active account's gets a row and an e-mail. The link's token is drawn by the
// e-mail's job when it sends (MintPasswordReset) and only its hash is kept, so no table holds a
// token that opens the form. The link works once, within PasswordResetWindow of the request.

// PasswordResetWindow is how long a reset link works after it was asked for.
const PasswordResetWindow = time.Hour

// maxResetsPerWindow bounds the e-mails one account gets within the window, whoever asks: a
// stranger typing someone's address again and again must not fill their mailbox. Further
// requests answer as any other does, and send nothing.
const maxResetsPerWindow = 3

// ErrResetLinkInvalid is a reset link that is unknown, used, expired, or of an account that can
// no longer sign in: one answer for all, which says nothing of the account.
var ErrResetLinkInvalid = errors.New("store: password reset link not valid")

// RequestPasswordReset asks for a reset link for the account at email, if there is an active one
// and it has had fewer than maxResetsPerWindow within the window; in every other case it does
// nothing, and answers nil all the same. The row and its e-mail's job commit together.
func (s *Store) RequestPasswordReset(ctx context.Context, email string, o Origin) error {
	fail := func(err error) error { return fmt.Errorf("store: request password reset: %w", err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var userID int64
	err = tx.GetContext(ctx, &userID, `
		SELECT id FROM users WHERE email = $1 AND NOT automatic AND deactivated_at IS NULL FOR UPDATE`, normalEmail(email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fail(err)
	}
	var recent int
	if err := tx.GetContext(ctx, &recent, `
		SELECT count(*) FROM password_resets WHERE user_id = $1 AND requested_at > now() - make_interval(secs => $2)`,
		userID, PasswordResetWindow.Seconds()); err != nil {
		return fail(err)
	}
	if recent >= maxResetsPerWindow {
		return nil
	}
	var id int64
	if err := tx.GetContext(ctx, &id, `
		INSERT INTO password_resets (user_id, expires_at) VALUES ($1, now() + make_interval(secs => $2)) RETURNING id`,
		userID, PasswordResetWindow.Seconds()); err != nil {
		return fail(err)
	}
	if err := s.enqueuePasswordReset(ctx, tx, id); err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{Action: "password_reset_requested", ObjectType: "user", ObjectID: userID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	return tx.Commit()
}

// PasswordResetMail is what the reset e-mail's job needs: where to send it, and the link's token.
type PasswordResetMail struct {
	To    string
	Token string
}

// MintPasswordReset draws a new token for the reset id and keeps its hash, for the e-mail about
// to be sent; a token drawn before for it stops working. ok is false when the reset no longer
// needs an e-mail (used, expired, or its account deactivated).
func (s *Store) MintPasswordReset(ctx context.Context, id int64) (PasswordResetMail, bool, error) {
	token := newToken()
	var to string
	err := s.db.GetContext(ctx, &to, `
		UPDATE password_resets r SET token_hash = $2
		FROM users u
		WHERE r.id = $1 AND u.id = r.user_id AND r.used_at IS NULL AND r.expires_at > now() AND u.deactivated_at IS NULL
		RETURNING u.email`, id, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return PasswordResetMail{}, false, nil
	}
	if err != nil {
		return PasswordResetMail{}, false, fmt.Errorf("store: mint password reset %d: %w", id, err)
	}
	return PasswordResetMail{To: to, Token: token}, true, nil
}

// CheckPasswordReset reports whether a reset link's token still works (ErrResetLinkInvalid if
// not), for the form it opens. It changes nothing.
func (s *Store) CheckPasswordReset(ctx context.Context, token string) error {
	var ok bool
	err := s.db.GetContext(ctx, &ok, `
		SELECT EXISTS (SELECT 1 FROM password_resets r JOIN users u ON u.id = r.user_id
		               WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() AND u.deactivated_at IS NULL)`,
		hashToken(token))
	if err != nil {
		return fmt.Errorf("store: check password reset: %w", err)
	}
	if !ok {
		return ErrResetLinkInvalid
	}
	return nil
}

// ResetPassword sets the password (already hashed) of the account whose reset link token is,
// uses up that link and every other of the account's, and ends every session of theirs, in one
// transaction: whoever knew the old password is signed out. It returns the account's id, whose
// live streams the caller closes. A link that no longer works is ErrResetLinkInvalid, and
// nothing changes.
func (s *Store) ResetPassword(ctx context.Context, token, hash string, o Origin) (int64, error) {
	fail := func(err error) error { return fmt.Errorf("store: reset password: %w", err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fail(err)
	}
	defer tx.Rollback()
	// The conditional update decides: of two posts of one link, exactly one finds it unused.
	var u struct {
		ID         int64 `db:"id"`
		PracticeID int64 `db:"practice_id"`
	}
	err = tx.GetContext(ctx, &u, `
		UPDATE password_resets r SET used_at = now()
		FROM users u
		WHERE r.token_hash = $1 AND u.id = r.user_id AND r.used_at IS NULL AND r.expires_at > now() AND u.deactivated_at IS NULL
		RETURNING u.id, u.practice_id`, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrResetLinkInvalid
	}
	if err != nil {
		return 0, fail(err)
	}
	if err := resetTo(ctx, tx, u.ID, hash); err != nil {
		return 0, fail(err)
	}
	if err := recordAccountChange(ctx, tx, AccountChange{PracticeID: u.PracticeID, TargetID: u.ID, What: ChangePasswordReset}, o); err != nil {
		return 0, fail(err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fail(err)
	}
	return u.ID, nil
}

func resetTo(ctx context.Context, tx *sqlx.Tx, userID int64, hash string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
		return err
	}
	// Failed sign-ins of the old password no longer lock the account out of the new one.
	if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE email = (SELECT email FROM users WHERE id = $1)`, userID); err != nil {
		return err
	}
	_, err := endSessions(ctx, tx, userID, nil)
	return err
}

// PrunePasswordResets deletes resets expired a day ago or more: they open nothing, and the audit
// log keeps that they were asked for.
func (s *Store) PrunePasswordResets(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("store: prune password resets: %w", err)
	}
	return res.RowsAffected()
}

// PasswordResetArgs is the job that e-mails one reset's link (a password_resets row). It
// carries the row's id and nothing else: no address, no token.
type PasswordResetArgs struct {
	ResetID int64 `json:"reset_id"`
}

// Kind names the job in River's table.
func (PasswordResetArgs) Kind() string { return "password_reset" }

// enqueuePasswordReset inserts the job that e-mails reset id's link, in tx, at once: a person
// waiting at the page for it is waiting now. Unique by the row, so one request sends one e-mail.
func (s *Store) enqueuePasswordReset(ctx context.Context, tx *sqlx.Tx, id int64) error {
	q, err := s.inserter()
	if err != nil {
		return err
	}
	if _, err := q.InsertTx(ctx, tx.Tx, PasswordResetArgs{ResetID: id}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}); err != nil {
		return fmt.Errorf("enqueue password reset %d: %w", id, err)
	}
	return nil
}
