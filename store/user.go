package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// User is a patient or a staff member of one practice.
type User struct {
	ID              int64  `db:"id"`
	PracticeID      int64  `db:"practice_id"`
	Role            Role   `db:"role"`
	Email           string `db:"email"`
	PasswordHash    string `db:"password_hash"`
	FullName        string `db:"full_name"`
	Initials        string `db:"initials"`
	Title           string `db:"title"`
	AnswersMessages bool   `db:"answers_messages"`
	TOTPEnabled     bool   `db:"totp_enabled"`
	// StaffRole is a staff member's role, "" for a patient or a staff member given none yet.
	StaffRole StaffRole `db:"staff_role"`
	// Administrator is the right to change the practice's settings (PracticeAllowed).
	Administrator bool `db:"administrator"`
}

// StaffRole is what a staff member does at the practice.
type StaffRole string

// Staff roles; an administrator is any of them with the right (User.Administrator).
const (
	StaffPhysician StaffRole = "physician"
	StaffNurse     StaffRole = "nurse"
	StaffFrontDesk StaffRole = "front_desk"
)

// Label is the role as the settings page names it.
func (r StaffRole) Label() string {
	switch r {
	case StaffPhysician:
		return "Physician"
	case StaffNurse:
		return "Nurse"
	case StaffFrontDesk:
		return "Front desk"
	}
	return ""
}

// Scan reads the column, NULL (no role) as "".
func (r *StaffRole) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r = ""
	case string:
		*r = StaffRole(v)
	case []byte:
		*r = StaffRole(v)
	default:
		return fmt.Errorf("store: staff role from %T", src)
	}
	return nil
}

// Viewer is the user as the subject of queries.
func (u User) Viewer() Viewer { return Viewer{UserID: u.ID, PracticeID: u.PracticeID, Role: u.Role} }

// Practice is a medical practice; MessageFeeCents > 0 means it charges for message time.
type Practice struct {
	ID              int64  `db:"id"`
	Name            string `db:"name"`
	MessageFeeCents int    `db:"message_fee_cents"`
	// TimeZone is the IANA name of the zone the practice's dates are shown in ("America/Chicago"),
	// checked when the store reads it with a session (SessionByToken) and when it is written; ""
	// where the practice has named none, whose dates show in the configured default (Location).
	TimeZone string `db:"time_zone"`
}

// Charges reports whether patients must consent to a fee to send a message.
func (p Practice) Charges() bool { return p.MessageFeeCents > 0 }

// Location is the practice's time zone, or def where it has named none (or, which the store
// never hands out, one Go does not know).
func (p Practice) Location(def *time.Location) *time.Location {
	if p.TimeZone == "" {
		return def
	}
	z, err := LoadZone(p.TimeZone)
	if err != nil {
		return def
	}
	return z
}

// zones keeps each time zone loaded: time.LoadLocation reads and parses the zone's file on every
// call, and every request reads its practice's. There are a few hundred names at most.
var zones sync.Map // IANA name -> *time.Location

// LoadZone checks an IANA time zone name ("America/Chicago") against Go's zone database and
// gives the zone. "Local" and "" are refused: a practice's zone must not be the server's.
func LoadZone(name string) (*time.Location, error) {
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q is not an IANA name such as America/Chicago", name)
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA name such as America/Chicago: %w", name, err)
	}
	zones.Store(name, z)
	return z, nil
}

const userColumns = `id, practice_id, role, email, password_hash, full_name, initials, title, answers_messages, totp_enabled, staff_role, administrator`

// UserByEmail finds a user who may sign in by sign-in address (case-insensitive): a deactivated
// person is not found, so signing in as them answers as an unknown address does.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.db.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE email = $1 AND NOT automatic AND deactivated_at IS NULL`,
		normalEmail(email))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user by email: %w", err)
	}
	return u, nil
}

// ResponderStaff lists the viewer's practice's staff who answer messages, for the compose form.
func (s *Store) ResponderStaff(ctx context.Context, v Viewer) ([]User, error) {
	var staff []User
	err := s.db.SelectContext(ctx, &staff, `
		SELECT `+userColumns+` FROM users
		WHERE practice_id = $1 AND role = 'staff' AND answers_messages
		ORDER BY full_name`, v.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: responder staff of practice %d: %w", v.PracticeID, err)
	}
	return staff, nil
}

// Patients lists the viewer's practice's patients, for staff starting a conversation.
func (s *Store) Patients(ctx context.Context, v Viewer) ([]User, error) {
	if v.Role != RoleStaff {
		return nil, nil
	}
	var patients []User
	err := s.db.SelectContext(ctx, &patients, `
		SELECT `+userColumns+` FROM users
		WHERE practice_id = $1 AND role = 'patient'
		ORDER BY full_name`, v.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: patients of practice %d: %w", v.PracticeID, err)
	}
	return patients, nil
}

// CreatePractice adds a practice (used by the demo loader and tests), its dates shown in the
// IANA time zone timeZone, or in the configured default where timeZone is "".
func (s *Store) CreatePractice(ctx context.Context, name string, feeCents int, timeZone string) (Practice, error) {
	p := Practice{Name: name, MessageFeeCents: feeCents, TimeZone: timeZone}
	if _, err := LoadZone(timeZone); timeZone != "" && err != nil {
		return Practice{}, fmt.Errorf("store: create practice: %w", err)
	}
	err := s.db.GetContext(ctx, &p.ID, `
		INSERT INTO practices (name, message_fee_cents, time_zone) VALUES ($1, $2, nullif($3, '')) RETURNING id`,
		name, feeCents, timeZone)
	if err != nil {
		return Practice{}, fmt.Errorf("store: create practice: %w", err)
	}
	return p, nil
}

// CreateUser adds a user whose password is already hashed.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	u.Email = normalEmail(u.Email)
	err := s.db.GetContext(ctx, &u.ID, `
		INSERT INTO users (practice_id, role, email, password_hash, full_name, initials, title, answers_messages,
		                   staff_role, administrator)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10) RETURNING id`,
		u.PracticeID, u.Role, u.Email, u.PasswordHash, u.FullName, u.Initials, u.Title, u.AnswersMessages,
		string(u.StaffRole), u.Administrator)
	if err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}
