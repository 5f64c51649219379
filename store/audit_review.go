package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// The audit review (HIPAA 164.308(a)(1)(ii)(D), information system activity review): a
// practice's administrator searches the practice's audit log by patient, staff member, action and
// date, sees who opened a patient's messages, and exports what a search finds. Everything here
// reads only rows whose practice_id is the reviewer's own practice (written by the chain's
// trigger, migration 00023), and says who, when and what kind of thing, never what a message
// said: no subject or text is decrypted here.

// AuditAction is one action the audit log records, and how the review says it.
type AuditAction struct {
	Code    string // audit_log.action
	Wording string // "Opened a message's details"
}

// ActionAuditExported is the row an export writes.
const ActionAuditExported = "audit_exported"

// auditActions is the one table of what each action is called, in the order the review's action
// list offers them. Every action the code writes must be here (TestAuditWordingCoversEveryAction
// reads the code for them): an action without its words would be shown as its code.
var auditActions = []AuditAction{
	{"message_read", "Opened a message's details"},
	{"message_unread", "Marked a message as unread"},
	{"conversation_started", "Started a conversation"},
	{"reply_sent", "Sent a reply"},
	{"follow_up_sent", "Sent a follow-up"},
	{"auto_reply_sent", "Sent the after-hours automatic reply"},
	{"message_cancelled", "Cancelled a message"},
	{"conversation_archived", "Archived a conversation"},
	{"conversation_reopened", "Re-opened a conversation"},
	{"access_denied", "Was refused a message or conversation that is not theirs"},
	{"signed_in", "Signed in"},
	{"password_passed", "Gave the right password, the second factor still to come"},
	{"second_factor_passed", "Signed in with the second factor"},
	{"second_factor_failed", "Gave a wrong password or code for the second factor"},
	{"second_factor_enabled", "Turned two-step sign-in on"},
	{"second_factor_disabled", "Turned two-step sign-in off"},
	{"sign_in_failed", "Failed to sign in"},
	{"signed_out", "Signed out"},
	{"signed_out_elsewhere", "Signed out their other sessions"},
	{"password_check_failed", "Gave a wrong current password"},
	{"password_reset_requested", "Asked for a password reset link"},
	{"practice_created", "Created the practice and its first administrator"},
	{"invitation_sent", "Invited someone"},
	{"invitation_resent", "Sent an invitation again"},
	{"invitation_revoked", "Revoked an invitation"},
	{"invitation_accepted", "Accepted an invitation and set a password"},
	{"patients_imported", "Imported patients from a CSV file"},
	{"account_changed:" + ChangeName, "Changed a person's name or initials"},
	{"account_changed:" + ChangeRole, "Changed a person's role or administrator right"},
	{"account_changed:" + ChangeDeactivated, "Deactivated an account"},
	{"account_changed:" + ChangeReactivated, "Reactivated an account"},
	{"account_changed:" + ChangeSecondFactorReset, "Reset a person's two-step sign-in"},
	{"account_changed:" + ChangePasswordChanged, "Changed their password"},
	{"account_changed:" + ChangePasswordReset, "Reset their password by a link"},
	{"notification_preference_changed", "Changed which e-mails they get"},
	{"notification_unsubscribed", "Unsubscribed from e-mails by a link"},
	{"practice_settings_changed:" + SectionFee, "Changed the fee settings"},
	{"practice_settings_changed:" + SectionLimits, "Changed the limits"},
	{"practice_settings_changed:" + SectionCompose, "Changed the compose form choices"},
	{"practice_settings_changed:" + SectionNotice, "Changed the notice"},
	{"practice_settings_changed:" + SectionHours, "Changed the time zone, hours or holidays"},
	{"practice_settings_changed:" + SectionAutoReply, "Changed the after-hours auto-reply"},
	{ActionAuditExported, "Exported the audit log"},
}

// AuditActions is the wording table, in the review's order.
func AuditActions() []AuditAction { return auditActions }

// AuditWording is how the review says an action; an action the table lacks is said as its code.
func AuditWording(code string) string {
	for _, a := range auditActions {
		if a.Code == code {
			return a.Wording
		}
	}
	return code
}

func knownAction(code string) bool {
	for _, a := range auditActions {
		if a.Code == code {
			return true
		}
	}
	return false
}

// AuditSearch is what the review looks for; each zero value matches everything.
type AuditSearch struct {
	PatientID int64  // whose data the row is about
	StaffID   int64  // who acted
	Action    string // an AuditAction's code
	From, To  string // "2026-12-01", days in the practice's time zone, both included
	Before    int64  // the last row of the page before (keyset): the page starts after it
}

// AuditPageSize is how many rows a page of the review shows.
const AuditPageSize = 50

// AuditEntry is one row of the practice's audit log as the review shows it.
type AuditEntry struct {
	ID          int64     `db:"id"`
	At          time.Time `db:"occurred_at"`
	ActorName   string    `db:"actor_name"` // "" for a row of nobody signed in
	ActorRole   Role      `db:"actor_role"`
	Action      string    `db:"action"`
	Outcome     string    `db:"outcome"`
	PatientID   int64     `db:"patient_id"`
	PatientName string    `db:"patient_name"` // "" for a row about no patient
	ClientIP    string    `db:"client_ip"`
	RequestID   string    `db:"request_id"`
	Detail      string    `db:"detail"`
}

// Wording is how the review says the row's action.
func (e AuditEntry) Wording() string { return AuditWording(e.Action) }

// PatientOpener is one person who opened a patient's messages: a staff member, or the patient.
type PatientOpener struct {
	UserID   int64     `db:"user_id"`
	FullName string    `db:"full_name"`
	Role     Role      `db:"role"`
	Title    string    `db:"title"`
	First    time.Time `db:"first_at"`
	Last     time.Time `db:"last_at"`
	Opens    int       `db:"opens"`    // every opening of a message's details
	Messages int       `db:"messages"` // how many different messages
}

// auditBounds is a search made ready for SQL: its days as instants of the practice's zone.
type auditBounds struct {
	from, until sql.NullTime
}

// checkAuditSearch refuses what the review's form cannot mean (an unknown action, a date that is
// not one, from after to, a patient or staff member not of the reviewer's practice), naming each
// field, and turns the days into instants in the practice's time zone.
func (s *Store) checkAuditSearch(ctx context.Context, q sqlx.QueryerContext, reviewer User, f AuditSearch) (auditBounds, error) {
	if !PracticeAllowed(reviewer, reviewer.PracticeID).ReviewAudit {
		return auditBounds{}, ErrNotAllowed
	}
	var p struct {
		Zone     string `db:"time_zone"`
		Patients int    `db:"patients"`
		Staff    int    `db:"staff"`
	}
	err := sqlx.GetContext(ctx, q, &p, `
		SELECT coalesce(p.time_zone, '') AS time_zone,
		       (SELECT count(*) FROM users u WHERE u.id = $2 AND u.practice_id = p.id AND u.role = 'patient') AS patients,
		       (SELECT count(*) FROM users u WHERE u.id = $3 AND u.practice_id = p.id AND u.role = 'staff') AS staff
		FROM practices p WHERE p.id = $1`, reviewer.PracticeID, f.PatientID, f.StaffID)
	if err != nil {
		return auditBounds{}, fmt.Errorf("store: audit search of practice %d: %w", reviewer.PracticeID, err)
	}
	zone := Practice{TimeZone: p.Zone}.Location(s.defaultZone())
	invalid := &ValidationError{}
	if f.PatientID != 0 && p.Patients == 0 {
		invalid.add("patient", "Choose a patient of this practice from the list.")
	}
	if f.StaffID != 0 && p.Staff == 0 {
		invalid.add("staff", "Choose a staff member of this practice from the list.")
	}
	if f.Action != "" && !knownAction(f.Action) {
		invalid.add("action", "Choose an action from the list.")
	}
	var b auditBounds
	day := func(field, text string) (time.Time, bool) {
		if text == "" {
			return time.Time{}, false
		}
		d, err := time.ParseInLocation(time.DateOnly, text, zone)
		if err != nil {
			invalid.add(field, "Enter a date such as 2026-12-01.")
			return time.Time{}, false
		}
		return d, true
	}
	from, hasFrom := day("from", f.From)
	to, hasTo := day("to", f.To)
	if hasFrom && hasTo && from.After(to) {
		invalid.add("to", "The end date must be on or after the start date.")
	}
	if hasFrom {
		b.from = sql.NullTime{Time: from, Valid: true}
	}
	if hasTo {
		b.until = sql.NullTime{Time: to.AddDate(0, 0, 1), Valid: true} // the whole of the last day
	}
	return b, invalid.orNil()
}

// auditSelect is the review's one statement: the practice's rows that match, newest first, from
// a place in the list on. Every name it shows is joined on the row's own practice too.
const auditSelect = `
	SELECT a.id, a.occurred_at, a.action, a.outcome, a.client_ip, a.request_id, coalesce(a.detail, '') AS detail,
	       coalesce(actor.full_name, '') AS actor_name, coalesce(actor.role, '') AS actor_role,
	       coalesce(pat.id, 0) AS patient_id, coalesce(pat.full_name, '') AS patient_name
	FROM audit_log a
	LEFT JOIN users actor ON actor.id = a.actor_id AND actor.practice_id = a.practice_id
	LEFT JOIN users pat ON pat.id = a.patient_id AND pat.practice_id = a.practice_id
	WHERE a.practice_id = $1
	  AND ($2::bigint = 0 OR a.patient_id = $2)
	  AND ($3::bigint = 0 OR a.actor_id = $3)
	  AND ($4::text = '' OR a.action = $4)
	  AND ($5::timestamptz IS NULL OR a.occurred_at >= $5)
	  AND ($6::timestamptz IS NULL OR a.occurred_at < $6)
	  AND ($7::bigint = 0 OR (a.occurred_at, a.id) <
	       (SELECT b.occurred_at, b.id FROM audit_log b WHERE b.id = $7 AND b.practice_id = $1))
	ORDER BY a.occurred_at DESC, a.id DESC`

func auditArgs(reviewer User, f AuditSearch, b auditBounds) []any {
	return []any{reviewer.PracticeID, f.PatientID, f.StaffID, f.Action, b.from, b.until, f.Before}
}

// SearchAudit is a page of the reviewer's practice's audit log that matches f, newest first, and
// whether an older page follows. A reviewer who is not the practice's administrator gets
// ErrNotAllowed; a search the form cannot mean, a *ValidationError.
func (s *Store) SearchAudit(ctx context.Context, reviewer User, f AuditSearch) ([]AuditEntry, bool, error) {
	b, err := s.checkAuditSearch(ctx, s.db, reviewer, f)
	if err != nil {
		return nil, false, err
	}
	var rows []AuditEntry
	if err := s.db.SelectContext(ctx, &rows, auditSelect+` LIMIT `+fmt.Sprint(AuditPageSize+1),
		auditArgs(reviewer, f, b)...); err != nil {
		return nil, false, fmt.Errorf("store: audit search of practice %d: %w", reviewer.PracticeID, err)
	}
	more := len(rows) > AuditPageSize
	if more {
		rows = rows[:AuditPageSize]
	}
	return rows, more, nil
}

// AuditExport hands each row an export found to each, newest first, as SearchAudit lists them.
type AuditExport func(ctx context.Context, each func(AuditEntry) error) error

// ExportAudit checks f as SearchAudit does, records the export in the audit log (its filters in
// the row's detail, the patient searched for as the row's patient), and gives what streams every
// matching row, all pages of them. The row is written before anything is read, so an export cut
// off half way, or never read to its end, is on the record all the same.
func (s *Store) ExportAudit(ctx context.Context, reviewer User, o Origin, f AuditSearch) (AuditExport, error) {
	f.Before = 0
	b, err := s.checkAuditSearch(ctx, s.db, reviewer, f)
	if err != nil {
		return nil, err
	}
	detail, err := json.Marshal(struct {
		PatientID int64  `json:"patient_id,omitempty"`
		StaffID   int64  `json:"staff_id,omitempty"`
		Action    string `json:"action,omitempty"`
		From      string `json:"from,omitempty"`
		To        string `json:"to,omitempty"`
	}{f.PatientID, f.StaffID, f.Action, f.From, f.To})
	if err != nil {
		return nil, fmt.Errorf("store: audit export: %w", err)
	}
	if err := writeAudit(ctx, s.db, Audit{ActorID: reviewer.ID, Action: ActionAuditExported, ObjectType: "practice",
		ObjectID: reviewer.PracticeID, PatientID: f.PatientID, Detail: string(detail),
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return nil, fmt.Errorf("store: audit export: %w", err)
	}
	args := auditArgs(reviewer, f, b)
	return func(ctx context.Context, each func(AuditEntry) error) error {
		rows, err := s.db.QueryxContext(ctx, auditSelect, args...)
		if err != nil {
			return fmt.Errorf("store: audit export of practice %d: %w", reviewer.PracticeID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var e AuditEntry
			if err := rows.StructScan(&e); err != nil {
				return fmt.Errorf("store: audit export of practice %d: %w", reviewer.PracticeID, err)
			}
			if err := each(e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: audit export of practice %d: %w", reviewer.PracticeID, err)
		}
		return nil
	}, nil
}

// PatientOpeners is who opened a patient's messages (each message_read row about the patient,
// the patient's own included), with their first and last time and how often, the latest first;
// and the patient. A patient not of the reviewer's practice is ErrNotFound.
func (s *Store) PatientOpeners(ctx context.Context, reviewer User, patientID int64) (User, []PatientOpener, error) {
	if !PracticeAllowed(reviewer, reviewer.PracticeID).ReviewAudit {
		return User{}, nil, ErrNotAllowed
	}
	var patient User
	err := s.db.GetContext(ctx, &patient, `SELECT `+userColumns+` FROM users
		WHERE id = $1 AND practice_id = $2 AND role = 'patient'`, patientID, reviewer.PracticeID)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, nil, ErrNotFound
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("store: openers of patient %d: %w", patientID, err)
	}
	var openers []PatientOpener
	err = s.db.SelectContext(ctx, &openers, `
		SELECT u.id AS user_id, u.full_name, u.role, u.title,
		       min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at,
		       count(*) AS opens, count(DISTINCT a.object_id) AS messages
		FROM audit_log a JOIN users u ON u.id = a.actor_id AND u.practice_id = a.practice_id
		WHERE a.practice_id = $1 AND a.patient_id = $2 AND a.action = 'message_read' AND a.outcome = 'success'
		GROUP BY u.id, u.full_name, u.role, u.title
		ORDER BY max(a.occurred_at) DESC, u.id`, reviewer.PracticeID, patientID)
	if err != nil {
		return User{}, nil, fmt.Errorf("store: openers of patient %d: %w", patientID, err)
	}
	return patient, openers, nil
}

// PracticePeople is the reviewer's practice's patients and staff (the automatic account
// included, under its name, as it writes rows too), for the review's lists.
func (s *Store) PracticePeople(ctx context.Context, reviewer User) (patients, staff []User, err error) {
	if !PracticeAllowed(reviewer, reviewer.PracticeID).ReviewAudit {
		return nil, nil, ErrNotAllowed
	}
	var people []User
	if err := s.db.SelectContext(ctx, &people, `SELECT `+userColumns+` FROM users
		WHERE practice_id = $1 ORDER BY full_name, id`, reviewer.PracticeID); err != nil {
		return nil, nil, fmt.Errorf("store: people of practice %d: %w", reviewer.PracticeID, err)
	}
	for _, u := range people {
		if u.Role == RolePatient {
			patients = append(patients, u)
		} else {
			staff = append(staff, u)
		}
	}
	return patients, staff, nil
}
