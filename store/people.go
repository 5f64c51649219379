package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Person is one of a practice's staff or patients as its administrators see them.
type Person struct {
	User
	Automatic     bool         `db:"automatic"`
	DeactivatedAt sql.NullTime `db:"deactivated_at"`
}

// Active reports whether the person may sign in.
func (p Person) Active() bool { return !p.DeactivatedAt.Valid }

const personColumns = userColumns + `, automatic, deactivated_at`

// Account change kinds (account_changes.what).
const (
	ChangeRole              = "role"
	ChangeName              = "name"
	ChangeDeactivated       = "deactivated"
	ChangeReactivated       = "reactivated"
	ChangeSecondFactorReset = "second_factor_reset"
	ChangePasswordChanged   = "password_changed"
	ChangePasswordReset     = "password_reset"
)

// Limits of what an administrator types for a person.
const (
	MaxFullNameLen = 100
	MaxInitialsLen = 3
)

// People lists the actor's practice's staff, then its patients, by name, for its administrators
// (PracticeAllowed); the practice's automatic account is not a person.
func (s *Store) People(ctx context.Context, actor User) ([]Person, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ManagePeople {
		return nil, ErrNotAllowed
	}
	var list []Person
	err := s.db.SelectContext(ctx, &list, `
		SELECT `+personColumns+` FROM users
		WHERE practice_id = $1 AND NOT automatic
		ORDER BY role = 'patient', full_name, id`, actor.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: people of practice %d: %w", actor.PracticeID, err)
	}
	return list, nil
}

// PersonOf is one person of the actor's practice, and what the actor may change of them. A
// person of another practice, or of none, answers ErrNotFound: to an administrator of one
// practice, another's people do not exist.
func (s *Store) PersonOf(ctx context.Context, actor User, id int64) (Person, PersonActions, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ManagePeople {
		return Person{}, PersonActions{}, ErrNotAllowed
	}
	p, admins, err := readPerson(ctx, s.db, actor.PracticeID, id, "")
	if err != nil {
		return Person{}, PersonActions{}, err
	}
	return p, PersonAllowed(actor, p, admins), nil
}

// readPerson reads a person of a practice (not its automatic account) and counts the practice's
// active administrators; lock, " FOR UPDATE" or "", locks the person's row.
func readPerson(ctx context.Context, q sqlx.QueryerContext, practiceID, id int64, lock string) (Person, int, error) {
	var p Person
	err := sqlx.GetContext(ctx, q, &p, `SELECT `+personColumns+` FROM users
		WHERE id = $1 AND practice_id = $2 AND NOT automatic`+lock, id, practiceID)
	if errors.Is(err, sql.ErrNoRows) {
		return Person{}, 0, ErrNotFound
	}
	if err != nil {
		return Person{}, 0, fmt.Errorf("store: person %d: %w", id, err)
	}
	var admins int
	err = sqlx.GetContext(ctx, q, &admins, `SELECT count(*) FROM users
		WHERE practice_id = $1 AND role = 'staff' AND administrator AND deactivated_at IS NULL AND NOT automatic`, practiceID)
	if err != nil {
		return Person{}, 0, fmt.Errorf("store: administrators of practice %d: %w", practiceID, err)
	}
	return p, admins, nil
}

// ParseStaffRole reads a role as the people form posts it; ok is false for any other word.
func ParseStaffRole(s string) (StaffRole, bool) {
	switch r := StaffRole(s); r {
	case StaffPhysician, StaffNurse, StaffFrontDesk:
		return r, true
	}
	return "", false
}

// StaffRoles are the roles in the order the form lists them.
var StaffRoles = []StaffRole{StaffPhysician, StaffNurse, StaffFrontDesk}

// SetRole gives a staff member a role and grants or revokes the administrator right. An unknown
// role is a ValidationError of the field staff_role; demoting the last active administrator is
// ErrLastAdministrator.
func (s *Store) SetRole(ctx context.Context, actor User, o Origin, id int64, role StaffRole, admin bool) error {
	return s.changePerson(ctx, actor, o, id, ChangeRole, func(tx *sqlx.Tx, p Person, may PersonActions) (string, string, error) {
		if _, ok := ParseStaffRole(string(role)); !ok {
			return "", "", &ValidationError{Fields: map[string]string{"staff_role": "Choose a role from the list: physician, nurse or front desk."}}
		}
		switch {
		case !may.ChangeRole:
			return "", "", ErrNoSuchChange
		case p.Administrator && !admin && !may.RevokeAdmin:
			return "", "", ErrLastAdministrator
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET staff_role = $2, administrator = $3 WHERE id = $1`,
			p.ID, string(role), admin); err != nil {
			return "", "", err
		}
		return roleText(p.StaffRole, p.Administrator), roleText(role, admin), nil
	})
}

func roleText(r StaffRole, admin bool) string {
	if admin {
		return string(r) + "+administrator"
	}
	return string(r)
}

// Rename changes a person's display name and initials, checked as the form's fields full_name
// and initials.
func (s *Store) Rename(ctx context.Context, actor User, o Origin, id int64, fullName, initials string) error {
	fullName, initials = strings.TrimSpace(fullName), strings.TrimSpace(initials)
	return s.changePerson(ctx, actor, o, id, ChangeName, func(tx *sqlx.Tx, p Person, may PersonActions) (string, string, error) {
		var v ValidationError
		if n := utf8.RuneCountInString(fullName); n < 1 || n > MaxFullNameLen {
			v.add("full_name", fmt.Sprintf("Enter a name of at most %d characters.", MaxFullNameLen))
		}
		if !validInitials(initials) {
			v.add("initials", fmt.Sprintf("Enter 1 to %d letters, such as AC.", MaxInitialsLen))
		}
		if err := v.orNil(); err != nil {
			return "", "", err
		}
		if !may.Rename {
			return "", "", ErrNoSuchChange
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET full_name = $2, initials = $3 WHERE id = $1`,
			p.ID, fullName, initials); err != nil {
			return "", "", err
		}
		return p.FullName + " (" + p.Initials + ")", fullName + " (" + initials + ")", nil
	})
}

func validInitials(s string) bool {
	n := utf8.RuneCountInString(s)
	if n < 1 || n > MaxInitialsLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// Deactivate stops a person signing in and ends every session of theirs, in the one
// transaction; their messages stay theirs, and a link to reset their password stops working.
// The caller closes their live streams on every instance (realtime.Hub.UserEnded) after it.
func (s *Store) Deactivate(ctx context.Context, actor User, o Origin, id int64) error {
	return s.changePerson(ctx, actor, o, id, ChangeDeactivated, func(tx *sqlx.Tx, p Person, may PersonActions) (string, string, error) {
		switch {
		case may.Deactivate:
		case p.Active() && p.Administrator:
			return "", "", ErrLastAdministrator
		default:
			return "", "", ErrNoSuchChange
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET deactivated_at = now() WHERE id = $1`, p.ID); err != nil {
			return "", "", err
		}
		if _, err := endSessions(ctx, tx, p.ID, nil); err != nil {
			return "", "", err
		}
		return "active", "deactivated", nil
	})
}

// Reactivate lets a deactivated person sign in again (with the password they had).
func (s *Store) Reactivate(ctx context.Context, actor User, o Origin, id int64) error {
	return s.changePerson(ctx, actor, o, id, ChangeReactivated, func(tx *sqlx.Tx, p Person, may PersonActions) (string, string, error) {
		if !may.Reactivate {
			return "", "", ErrNoSuchChange
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET deactivated_at = NULL WHERE id = $1`, p.ID); err != nil {
			return "", "", err
		}
		return "deactivated", "active", nil
	})
}

// ResetSecondFactor turns a person's two-step sign-in off (their phone is lost): they sign in
// with the password alone until they set it up again.
func (s *Store) ResetSecondFactor(ctx context.Context, actor User, o Origin, id int64) error {
	return s.changePerson(ctx, actor, o, id, ChangeSecondFactorReset, func(tx *sqlx.Tx, p Person, may PersonActions) (string, string, error) {
		if !may.ResetSecondFactor {
			return "", "", ErrNoSuchChange
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE users SET totp_enabled = false, totp_secret = NULL, totp_last_step = 0 WHERE id = $1`, p.ID); err != nil {
			return "", "", err
		}
		return "on", "off", nil
	})
}

// changePerson is every administrator's change of a person: the practice's people changes taken
// one at a time (an advisory lock per practice, so the count of administrators cannot change
// under a change that reads it), the actor's row read again (a right taken away a moment before
// counts), the person read in the actor's practice (ErrNotFound otherwise), PersonAllowed asked
// by apply, and the change, its account_changes row and its audit row committed together. A
// refused change writes nothing.
func (s *Store) changePerson(ctx context.Context, actor User, o Origin, id int64, what string,
	apply func(tx *sqlx.Tx, p Person, may PersonActions) (old, new string, err error)) error {
	fail := func(err error) error { return fmt.Errorf("store: %s of person %d: %w", what, id, err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, peopleLockSpace, actor.PracticeID); err != nil {
		return fail(err)
	}
	var now Person
	err = tx.GetContext(ctx, &now, `SELECT `+personColumns+` FROM users WHERE id = $1`, actor.ID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (!now.Active() || !PracticeAllowed(now.User, actor.PracticeID).ManagePeople) {
		return ErrNotAllowed
	}
	if err != nil {
		return fail(err)
	}
	p, admins, err := readPerson(ctx, tx, actor.PracticeID, id, " FOR UPDATE")
	if err != nil {
		return err
	}
	old, new, err := apply(tx, p, PersonAllowed(now.User, p, admins))
	var invalid *ValidationError
	var refusal *Refusal
	if errors.As(err, &invalid) || errors.As(err, &refusal) {
		return err
	}
	if err != nil {
		return fail(err)
	}
	if err := recordAccountChange(ctx, tx, AccountChange{PracticeID: p.PracticeID, ActorID: actor.ID, TargetID: p.ID,
		What: what, Old: old, New: new}, o); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// peopleLockSpace is the first key of the advisory lock that takes a practice's people changes
// one at a time (eventLockSpace and the sign-in attempts' are others').
const peopleLockSpace = 7314

// AccountChange is one audited change of a person's account.
type AccountChange struct {
	PracticeID int64     `db:"practice_id"`
	ActorID    int64     `db:"actor_id"` // 0 for a reset by e-mailed link
	TargetID   int64     `db:"target_id"`
	What       string    `db:"what"`
	Old        string    `db:"old"`
	New        string    `db:"new"`
	At         time.Time `db:"at"`
}

// recordAccountChange keeps the change with its values, and its row in the audit log's chain.
func recordAccountChange(ctx context.Context, tx *sqlx.Tx, c AccountChange, o Origin) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO account_changes (practice_id, actor_id, target_id, what, old, new) VALUES ($1, NULLIF($2, 0), $3, $4, $5, $6)`,
		c.PracticeID, c.ActorID, c.TargetID, c.What, c.Old, c.New); err != nil {
		return err
	}
	return writeAudit(ctx, tx, Audit{ActorID: c.ActorID, Action: "account_changed:" + c.What, ObjectType: "user",
		ObjectID: c.TargetID, RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// AccountChanges lists the changes of one person's account, newest first, for an administrator
// of their practice.
func (s *Store) AccountChanges(ctx context.Context, actor User, id int64) ([]AccountChange, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ManagePeople {
		return nil, ErrNotAllowed
	}
	var list []AccountChange
	err := s.db.SelectContext(ctx, &list, `
		SELECT practice_id, coalesce(actor_id, 0) AS actor_id, target_id, what, old, new, at FROM account_changes
		WHERE practice_id = $1 AND target_id = $2 ORDER BY id DESC`, actor.PracticeID, id)
	if err != nil {
		return nil, fmt.Errorf("store: account changes of person %d: %w", id, err)
	}
	return list, nil
}

// endSessions deletes every session of a user but keep (a token's hash, nil for none) and
// returns the keys of those it ended (SessionKey), for their streams to be closed.
func endSessions(ctx context.Context, tx *sqlx.Tx, userID int64, keep []byte) ([]string, error) {
	var keys []string
	err := tx.SelectContext(ctx, &keys, `
		DELETE FROM sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)
		RETURNING encode(token_hash, 'hex')`, userID, keep)
	return keys, err
}
