package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
)

// Invitations bring people into a practice: an administrator invites a staff member or a patient
// by e-mail, and the link in the e-mail sets a password and makes the account (docs/onboarding.md).
//
// The token is minted by the worker that sends the e-mail (MintInvitation), which stores only its
// hash: the jobs table holds the invitation's id and nothing else. A link works once, for
// InvitationValid after it was minted; each send mints a new one, so an older link stops working.
//
// The inviter is never told whether an address has an account elsewhere: the invitation is made
// and listed as sent whatever the address, and the worker, finding the address taken, e-mails its
// owner to sign in instead of a link. Only what the administrator can see anyway, an account or
// invitation of their own practice with that address, is said on the form.

// InvitationValid is how long an invitation's link works after it was sent.
const InvitationValid = 72 * time.Hour

// Errors of an invitation's link, which the handlers turn into a clear message.
var (
	// ErrInvitationInvalid is a link that is not, or no longer, an invitation: never minted,
	// expired, used, revoked or replaced by a newer send.
	ErrInvitationInvalid = errors.New("store: invitation link not valid")
	// ErrAddressInUse is an invitation whose address took an account after it was sent.
	ErrAddressInUse = errors.New("store: address already has an account")
)

// Invitation roles: what the invited person will be.
const (
	InvitePatient = "patient"
)

// InviteRoles are the roles the invitation form offers, in its order, with their labels.
var InviteRoles = []struct{ Code, Label string }{
	{InvitePatient, "Patient"},
	{string(StaffPhysician), StaffPhysician.Label()},
	{string(StaffNurse), StaffNurse.Label()},
	{string(StaffFrontDesk), StaffFrontDesk.Label()},
}

// NewInvitation is an invitation as an administrator typed it.
type NewInvitation struct {
	Email         string
	FullName      string
	Role          string // InvitePatient or a StaffRole
	Administrator bool   // staff only
	DateOfBirth   string // patients: YYYY-MM-DD
}

// MaxNameLen bounds a person's name.
const MaxNameLen = 100

// Validate names each problem by the form's fields: email, full_name, role, date_of_birth.
func (n NewInvitation) Validate(now time.Time) error {
	var v ValidationError
	if msg := CheckName(n.FullName); msg != "" {
		v.add("full_name", msg)
	}
	if !ValidEmail(n.Email) {
		v.add("email", "Enter an e-mail address such as name@example.com.")
	}
	switch {
	case n.Role == InvitePatient:
		if n.Administrator {
			v.add("role", "Only staff can hold the administrator right.")
		}
		if msg := CheckBirthDate(n.DateOfBirth, now); msg != "" {
			v.add("date_of_birth", msg)
		}
	case StaffRole(n.Role).Label() != "":
		if strings.TrimSpace(n.DateOfBirth) != "" {
			v.add("date_of_birth", "Leave the date of birth empty for staff: it is asked of patients only.")
		}
	default:
		v.add("role", "Choose a role: patient, physician, nurse or front desk.")
	}
	return v.orNil()
}

// CheckName is what is wrong with a person's name, or "".
func CheckName(name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "Enter the person's name."
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Sprintf("A name can be at most %d characters.", MaxNameLen)
	case strings.ContainsFunc(name, unicode.IsControl):
		return "A name cannot hold line breaks or control characters."
	}
	return ""
}

// ValidEmail reports whether s is one bare address (no display name, no list).
func ValidEmail(s string) bool {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254 && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// CheckBirthDate is what is wrong with a date of birth typed as YYYY-MM-DD, or "".
func CheckBirthDate(s string, now time.Time) string {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	switch {
	case strings.TrimSpace(s) == "":
		return "Enter the date of birth as YYYY-MM-DD, such as 1980-04-30."
	case err != nil:
		return "Enter the date of birth as YYYY-MM-DD, such as 1980-04-30."
	case d.After(now) || d.Year() < 1900:
		return "Enter a date of birth between 1900 and today."
	}
	return ""
}

// initialsOf are up to two initials of a name, for the flag beside a person's messages.
func initialsOf(name string) string {
	var out []rune
	words := strings.Fields(name)
	for i, w := range words {
		if i != 0 && i != len(words)-1 {
			continue
		}
		if r, _ := utf8.DecodeRuneInString(w); unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// CheckSetPassword checks a password chosen on an invitation's form and its confirmation, naming
// each problem by the fields password and confirm.
func CheckSetPassword(password, confirm string) error {
	var v ValidationError
	if n := utf8.RuneCountInString(password); n < minPassword || n > maxPassword {
		v.add("password", fmt.Sprintf("Choose a password of %d to %d characters; a few words you will remember are a good one.", minPassword, maxPassword))
	} else if password != confirm {
		v.add("confirm", "The two passwords are not the same. Type the password again.")
	}
	return v.orNil()
}

// Password lengths: long enough that a phrase is the easy choice, short enough to bound the hash.
const (
	minPassword = 10
	maxPassword = 200
)

// InviteArgs is the job that e-mails one send of an invitation. It carries the row's id and which
// send it is; the worker reads the address and mints the link.
type InviteArgs struct {
	InvitationID int64 `json:"invitation_id"`
	Send         int   `json:"send"`
}

// Kind names the job in River's table.
func (InviteArgs) Kind() string { return "invitation" }

func invitationAD(column string, id, practiceID int64) []byte {
	return []byte("sm/v1|invitations." + column + "|" + strconv.FormatInt(id, 10) + "|" + strconv.FormatInt(practiceID, 10))
}

func userBirthAD(userID int64) []byte {
	return []byte("sm/v1|users.date_of_birth|" + strconv.FormatInt(userID, 10))
}

// lockAdministrator reads the actor's row again inside tx and asks PracticeAllowed with it, so a
// right taken away a moment before counts.
func lockAdministrator(ctx context.Context, tx *sqlx.Tx, actor User) error {
	var now User
	err := tx.GetContext(ctx, &now, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR SHARE`, actor.ID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !PracticeAllowed(now, actor.PracticeID).ChangeSettings {
		return ErrNotAllowed
	}
	return err
}

// invitation is what insertInvitation writes.
type invitation struct {
	practiceID, invitedBy, userID int64
	importID                      string
	n                             NewInvitation // Role "": staff with no role yet (the first administrator)
	noMail                        bool          // no job: the caller hands the link over itself
}

// insertInvitation writes a pending invitation and the job that e-mails it, in tx.
func (s *Store) insertInvitation(ctx context.Context, tx *sqlx.Tx, in invitation) (int64, error) {
	var id int64
	if err := tx.GetContext(ctx, &id, `SELECT nextval(pg_get_serial_sequence('invitations', 'id'))`); err != nil {
		return 0, err
	}
	n := in.n
	var staffRole sql.NullString
	role := string(RolePatient)
	var birth []byte
	if n.Role == InvitePatient {
		birth = s.keys.Seal([]byte(strings.TrimSpace(n.DateOfBirth)), invitationAD("date_of_birth", id, in.practiceID))
	} else {
		role, staffRole = string(RoleStaff), sql.NullString{String: n.Role, Valid: n.Role != ""}
	}
	name := s.keys.Seal([]byte(strings.TrimSpace(n.FullName)), invitationAD("full_name", id, in.practiceID))
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO invitations (id, practice_id, invited_by, email, role, staff_role, administrator, full_name,
		                         date_of_birth, user_id, import_id)
		VALUES ($1, $2, NULLIF($3, 0), $4, $5, $6, $7, $8, $9, NULLIF($10, 0), NULLIF($11, '')::uuid)`,
		id, in.practiceID, in.invitedBy, normalEmail(n.Email), role, staffRole, n.Administrator, name, birth,
		in.userID, in.importID); err != nil {
		return 0, err
	}
	if in.noMail {
		return id, nil
	}
	return id, s.enqueueInvitation(ctx, tx, id, 1)
}

func (s *Store) enqueueInvitation(ctx context.Context, tx *sqlx.Tx, id int64, send int) error {
	q, err := s.inserter()
	if err != nil {
		return err
	}
	_, err = q.InsertTx(ctx, tx.Tx, InviteArgs{InvitationID: id, Send: send}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	})
	return err
}

// inPractice says whether the address already has an account at the practice, or a pending
// invitation there: what an administrator may be told, since both are the practice's own.
func inPractice(ctx context.Context, tx *sqlx.Tx, practiceID int64, email string) (string, error) {
	var what string
	err := tx.GetContext(ctx, &what, `
		SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE practice_id = $1 AND email = $2) THEN 'account'
		            WHEN EXISTS (SELECT 1 FROM invitations WHERE practice_id = $1 AND email = $2 AND state = 'pending') THEN 'invited'
		            ELSE '' END`, practiceID, normalEmail(email))
	return what, err
}

// Invite makes an invitation from an administrator of the actor's practice and enqueues its
// e-mail, in one transaction. An address that already has an account or a pending invitation at
// the practice is refused with a ValidationError on email; one with an account elsewhere is not
// (see the package's note above).
func (s *Store) Invite(ctx context.Context, actor User, o Origin, n NewInvitation) (int64, error) {
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("store: invite to practice %d: %w", actor.PracticeID, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if err := lockAdministrator(ctx, tx, actor); err != nil {
		return 0, err
	}
	if err := n.Validate(s.now()); err != nil {
		return 0, err
	}
	if n.Role == InvitePatient {
		n.Administrator = false
	}
	// One invitation per address at a time: the practice's lock on the address, so two
	// administrators inviting it at once make one.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, normalEmail(n.Email), actor.PracticeID); err != nil {
		return fail(err)
	}
	switch what, err := inPractice(ctx, tx, actor.PracticeID, n.Email); {
	case err != nil:
		return fail(err)
	case what == "account":
		return 0, &ValidationError{Fields: map[string]string{"email": "Someone at this practice already has an account with this address."}}
	case what == "invited":
		return 0, &ValidationError{Fields: map[string]string{"email": "This address has been invited already: send the invitation again from the list below."}}
	}
	id, err := s.insertInvitation(ctx, tx, invitation{practiceID: actor.PracticeID, invitedBy: actor.ID, n: n})
	if err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: actor.ID, Action: "invitation_sent", ObjectType: "invitation", ObjectID: id,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return id, nil
}

// InvitationItem is a pending invitation as the practice's list shows it.
type InvitationItem struct {
	ID            int64
	Email         string
	FullName      string
	Role          string // InvitePatient or a StaffRole
	Administrator bool
	// Sent is when the e-mail's link started to count, nil while its e-mail is on its way.
	ExpiresAt   *time.Time
	Expired     bool
	MailProblem string // the mail server refused it for good: "address rejected"
	CreatedAt   time.Time
}

// RoleLabel is the role as the list names it.
func (i InvitationItem) RoleLabel() string {
	if i.Role == InvitePatient {
		return "Patient"
	}
	return StaffRole(i.Role).Label()
}

// PendingInvitations lists the actor's practice's pending invitations, newest first, for its
// administrators.
func (s *Store) PendingInvitations(ctx context.Context, actor User) ([]InvitationItem, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ChangeSettings {
		return nil, ErrNotAllowed
	}
	var rows []struct {
		ID            int64          `db:"id"`
		Email         string         `db:"email"`
		FullName      []byte         `db:"full_name"`
		Role          string         `db:"role"`
		StaffRole     sql.NullString `db:"staff_role"`
		Administrator bool           `db:"administrator"`
		ExpiresAt     *time.Time     `db:"expires_at"`
		Mailed        string         `db:"mailed"`
		MailProblem   string         `db:"mail_problem"`
		CreatedAt     time.Time      `db:"created_at"`
	}
	err := s.db.SelectContext(ctx, &rows, `
		SELECT id, email, full_name, role, staff_role, administrator, expires_at, mailed, mail_problem, created_at
		FROM invitations WHERE practice_id = $1 AND state = 'pending' ORDER BY created_at DESC, id DESC`, actor.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: invitations of practice %d: %w", actor.PracticeID, err)
	}
	out := make([]InvitationItem, 0, len(rows))
	now := s.now()
	for _, r := range rows {
		name, err := s.keys.Open(r.FullName, invitationAD("full_name", r.ID, actor.PracticeID))
		if err != nil {
			return nil, fmt.Errorf("store: invitation %d: %w", r.ID, err)
		}
		it := InvitationItem{ID: r.ID, Email: r.Email, FullName: string(name), Role: InvitePatient,
			Administrator: r.Administrator, CreatedAt: r.CreatedAt}
		if r.Role == string(RoleStaff) {
			it.Role = r.StaffRole.String
		}
		// An e-mail that said "sign in" has no link to expire; it is listed as a link would be,
		// so the list says nothing of accounts elsewhere.
		if r.ExpiresAt != nil {
			it.ExpiresAt = r.ExpiresAt
			it.Expired = !now.Before(*r.ExpiresAt)
		}
		if r.Mailed == "failed" {
			it.MailProblem = r.MailProblem
		}
		out = append(out, it)
	}
	return out, nil
}

// changeInvitation locks a pending invitation of the actor's practice: ErrNotFound for one of
// another practice or none, ErrNoLongerApplies for one no longer pending.
func (s *Store) changeInvitation(ctx context.Context, actor User, o Origin, id int64, action string,
	change func(tx *sqlx.Tx, sends int) error) error {
	fail := func(err error) error {
		return fmt.Errorf("store: %s %d: %w", strings.ReplaceAll(action, "_", " "), id, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if err := lockAdministrator(ctx, tx, actor); err != nil {
		return err
	}
	var row struct {
		State string `db:"state"`
		Sends int    `db:"sends"`
	}
	err = tx.GetContext(ctx, &row, `SELECT state, sends FROM invitations WHERE id = $1 AND practice_id = $2 FOR UPDATE`,
		id, actor.PracticeID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fail(err)
	case row.State != "pending":
		return ErrNoLongerApplies
	}
	if err := change(tx, row.Sends); err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: actor.ID, Action: action, ObjectType: "invitation", ObjectID: id,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// ResendInvitation e-mails a pending invitation again. The link the new e-mail carries is minted
// when it goes, and the old one stops working then.
func (s *Store) ResendInvitation(ctx context.Context, actor User, o Origin, id int64) error {
	return s.changeInvitation(ctx, actor, o, id, "invitation_resent", func(tx *sqlx.Tx, sends int) error {
		if _, err := tx.ExecContext(ctx, `
			UPDATE invitations SET sends = sends + 1, mailed = '', mail_problem = '' WHERE id = $1`, id); err != nil {
			return err
		}
		return s.enqueueInvitation(ctx, tx, id, sends+1)
	})
}

// RevokeInvitation ends a pending invitation: its link stops working, and an e-mail not sent yet
// is not sent.
func (s *Store) RevokeInvitation(ctx context.Context, actor User, o Origin, id int64) error {
	return s.changeInvitation(ctx, actor, o, id, "invitation_revoked", func(tx *sqlx.Tx, _ int) error {
		_, err := tx.ExecContext(ctx, `UPDATE invitations SET state = 'revoked', token_hash = NULL WHERE id = $1`, id)
		return err
	})
}

// InvitationMail is what a worker sends for one send of an invitation.
type InvitationMail struct {
	Done  bool   // nothing to send: revoked, accepted, or a newer send supersedes this one
	To    string // the address
	Token string // the link's token; "" when the address has an account: the e-mail says to sign in
}

// MintInvitation decides, under the invitation's row lock, what the job for send of invitation id
// e-mails: nothing (Done), the advice to sign in (the address took an account, here or anywhere),
// or a link, whose new token it mints and whose hash it stores with its expiry, replacing any
// earlier one.
func (s *Store) MintInvitation(ctx context.Context, id int64, send int) (InvitationMail, error) {
	fail := func(err error) (InvitationMail, error) {
		return InvitationMail{}, fmt.Errorf("store: mint invitation %d: %w", id, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var row struct {
		State  string        `db:"state"`
		Sends  int           `db:"sends"`
		Email  string        `db:"email"`
		UserID sql.NullInt64 `db:"user_id"`
	}
	err = tx.GetContext(ctx, &row, `SELECT state, sends, email, user_id FROM invitations WHERE id = $1 FOR UPDATE`, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return InvitationMail{Done: true}, nil
	case err != nil:
		return fail(err)
	case row.State != "pending" || row.Sends != send:
		return InvitationMail{Done: true}, nil
	}
	m := InvitationMail{To: row.Email}
	var taken bool
	if err := tx.GetContext(ctx, &taken, `
		SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id IS DISTINCT FROM $2 AND NOT automatic)
		    OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash <> '')`, row.Email, row.UserID); err != nil {
		return fail(err)
	}
	if taken {
		_, err = tx.ExecContext(ctx, `UPDATE invitations SET token_hash = NULL, expires_at = NULL, mailed = 'sign_in' WHERE id = $1`, id)
	} else {
		m.Token = newToken()
		_, err = tx.ExecContext(ctx, `
			UPDATE invitations SET token_hash = $2, expires_at = $3, mailed = 'link' WHERE id = $1`,
			id, hashToken(m.Token), s.now().Add(InvitationValid))
	}
	if err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return m, nil
}

// MarkInvitationFailed records that the mail server refused send of invitation id for good, in a
// few words (reason), which the practice's list shows; its link (if minted) stops working.
func (s *Store) MarkInvitationFailed(ctx context.Context, id int64, send int, reason string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE invitations SET mailed = 'failed', mail_problem = $3, token_hash = NULL
		WHERE id = $1 AND sends = $2 AND state = 'pending'`, id, send, reason)
	if err != nil {
		return fmt.Errorf("store: mark invitation %d failed: %w", id, err)
	}
	return nil
}

// OpenInvitation is what an invitation's link page shows: the address the account will have.
type OpenInvitation struct {
	Email string
	Staff bool
}

// InvitationByToken finds the pending, unexpired invitation a link's token names, reading only.
func (s *Store) InvitationByToken(ctx context.Context, token string) (OpenInvitation, error) {
	var inv OpenInvitation
	var role string
	err := s.db.QueryRowContext(ctx, `
		SELECT email, role FROM invitations WHERE token_hash = $1 AND state = 'pending' AND expires_at > $2`,
		hashToken(token), s.now()).Scan(&inv.Email, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return OpenInvitation{}, ErrInvitationInvalid
	}
	if err != nil {
		return OpenInvitation{}, fmt.Errorf("store: invitation by token: %w", err)
	}
	inv.Staff = role == string(RoleStaff)
	return inv, nil
}

// AcceptInvitation uses a link: under the invitation's row lock it makes the account (or, for
// an administrator made by `practice create`, gives it its password) with passwordHash, marks the
// invitation accepted and forgets its token, all in one transaction. A link not valid any more
// answers ErrInvitationInvalid, an address that took an account since ErrAddressInUse; neither
// changes anything.
func (s *Store) AcceptInvitation(ctx context.Context, token, passwordHash string, o Origin) (User, error) {
	fail := func(err error) (User, error) { return User{}, fmt.Errorf("store: accept invitation: %w", err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var row struct {
		ID            int64          `db:"id"`
		PracticeID    int64          `db:"practice_id"`
		Email         string         `db:"email"`
		Role          Role           `db:"role"`
		StaffRole     sql.NullString `db:"staff_role"`
		Administrator bool           `db:"administrator"`
		FullName      []byte         `db:"full_name"`
		DateOfBirth   []byte         `db:"date_of_birth"`
		UserID        sql.NullInt64  `db:"user_id"`
	}
	err = tx.GetContext(ctx, &row, `
		SELECT id, practice_id, email, role, staff_role, administrator, full_name, date_of_birth, user_id
		FROM invitations WHERE token_hash = $1 AND state = 'pending' AND expires_at > $2 FOR UPDATE`,
		hashToken(token), s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrInvitationInvalid
	}
	if err != nil {
		return fail(err)
	}
	name, err := s.keys.Open(row.FullName, invitationAD("full_name", row.ID, row.PracticeID))
	if err != nil {
		return fail(err)
	}
	var u User
	if row.UserID.Valid {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = ''`,
			row.UserID.Int64, passwordHash)
		if err != nil {
			return fail(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return User{}, ErrInvitationInvalid
		}
		u.ID = row.UserID.Int64
	} else {
		// The unique address decides a race with anything else that takes it: a savepoint keeps
		// the transaction usable to say so.
		if _, err := tx.ExecContext(ctx, `SAVEPOINT account`); err != nil {
			return fail(err)
		}
		err := tx.GetContext(ctx, &u.ID, `
			INSERT INTO users (practice_id, role, email, password_hash, full_name, initials, staff_role, administrator)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			row.PracticeID, row.Role, row.Email, passwordHash, string(name), initialsOf(string(name)), row.StaffRole, row.Administrator)
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "23505" {
			return User{}, ErrAddressInUse
		}
		if err != nil {
			return fail(err)
		}
		if row.DateOfBirth != nil {
			birth, err := s.keys.Open(row.DateOfBirth, invitationAD("date_of_birth", row.ID, row.PracticeID))
			if err != nil {
				return fail(err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET date_of_birth = $2 WHERE id = $1`,
				u.ID, s.keys.Seal(birth, userBirthAD(u.ID))); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE invitations SET state = 'accepted', accepted_at = now(), token_hash = NULL, user_id = $2 WHERE id = $1`,
		row.ID, u.ID); err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: u.ID, Action: "invitation_accepted", ObjectType: "invitation", ObjectID: row.ID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE id = $1`, u.ID); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return u, nil
}

// NewPractice is what `securemessages practice create` makes.
type NewPractice struct {
	Name       string
	AdminEmail string
	AdminName  string // "" for "Practice administrator", which they can be renamed from later
	// Mail: enqueue the invitation's e-mail. Without it, the caller mints the link itself
	// (MintInvitation) and hands it to the operator.
	Mail bool
}

// CreatePracticeWithAdmin makes a practice (its settings row comes from the trigger of migration
// 00018), its first administrator (staff, the administrator right, no password yet: nobody can
// sign in as them until the invitation is accepted) and that administrator's invitation, in one
// transaction. It returns the practice and the invitation's id.
func (s *Store) CreatePracticeWithAdmin(ctx context.Context, np NewPractice) (Practice, int64, error) {
	fail := func(err error) (Practice, int64, error) {
		return Practice{}, 0, fmt.Errorf("store: create practice: %w", err)
	}
	var v ValidationError
	np.Name = strings.TrimSpace(np.Name)
	if np.Name == "" || utf8.RuneCountInString(np.Name) > 200 {
		v.add("name", "the practice's name must be 1 to 200 characters")
	}
	if !ValidEmail(np.AdminEmail) {
		v.add("admin_email", "the administrator's e-mail must be one address such as name@example.com")
	}
	if np.AdminName = strings.TrimSpace(np.AdminName); np.AdminName == "" {
		np.AdminName = "Practice administrator"
	} else if msg := CheckName(np.AdminName); msg != "" {
		v.add("admin_name", msg)
	}
	if err := v.orNil(); err != nil {
		return Practice{}, 0, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	p := Practice{Name: np.Name}
	if err := tx.GetContext(ctx, &p.ID, `INSERT INTO practices (name) VALUES ($1) RETURNING id`, np.Name); err != nil {
		return fail(err)
	}
	var adminID int64
	err = tx.GetContext(ctx, &adminID, `
		INSERT INTO users (practice_id, role, email, password_hash, full_name, initials, administrator)
		VALUES ($1, 'staff', $2, '', $3, $4, true) RETURNING id`,
		p.ID, normalEmail(np.AdminEmail), np.AdminName, initialsOf(np.AdminName))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return Practice{}, 0, ErrAddressInUse
	}
	if err != nil {
		return fail(err)
	}
	// The administrator's staff role is given later, as to any staff member who has none.
	id, err := s.insertInvitation(ctx, tx, invitation{practiceID: p.ID, userID: adminID, noMail: !np.Mail,
		n: NewInvitation{Email: np.AdminEmail, FullName: np.AdminName, Administrator: true}})
	if err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{Action: "practice_created", ObjectType: "practice", ObjectID: p.ID}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return p, id, nil
}
