package store

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// A patient import is a CSV file (name, email, date_of_birth, with a header row) an administrator
// uploads: ParsePatientCSV reads it, UploadPatientImport keeps its rows sealed for the preview,
// and ConfirmPatientImport invites the good rows in one transaction, once. Rows whose address
// already has an account or an invitation at the practice are reported, not invited again, so
// the same file imported twice invites nobody twice.

// ImportValid is how long an upload waits for its confirmation.
const ImportValid = time.Hour

// MaxImportRows bounds one file (the request's size limit bounds it too).
const MaxImportRows = 500

// ErrImportExpired is an upload confirmed after ImportValid: upload the file again.
var ErrImportExpired = errors.New("store: patient import expired")

// CSVError is a file that cannot be read as the import's CSV at all; Msg says why, for the person
// who made it.
type CSVError struct{ Msg string }

func (e *CSVError) Error() string { return "store: patient CSV: " + e.Msg }

// ImportRow is one data row of the file.
type ImportRow struct {
	Line        int    `json:"line"` // in the file, the header being line 1
	Name        string `json:"name"`
	Email       string `json:"email"`
	DateOfBirth string `json:"date_of_birth"`
	Problem     string `json:"problem,omitempty"` // what is wrong with it; "" for a good row
	// Invited: the confirmation invited this row (kept with the rows).
	Invited bool `json:"invited,omitempty"`
	// Known: the address has an account or an invitation at the practice already (set when the
	// upload is read, not stored).
	Known bool `json:"-"`
}

// Status is the row as the preview names it.
func (r ImportRow) Status() string {
	switch {
	case r.Problem != "":
		return r.Problem
	case r.Invited:
		return "Invited."
	case r.Known:
		return "Already invited or has an account: not invited again."
	}
	return "Ready to invite."
}

// Good reports whether the row would be invited.
func (r ImportRow) Good() bool { return r.Problem == "" && !r.Known }

// importColumns are the header's names.
var importColumns = []string{"name", "email", "date_of_birth"}

// ParsePatientCSV reads the file: a CSVError when it is not the import's CSV (not CSV, no
// header, a column missing, no rows, too many), otherwise every data row, each bad one with its
// problem: a missing name, a bad e-mail, a bad date, an address given twice.
func ParsePatientCSV(r io.Reader, now time.Time) ([]ImportRow, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &CSVError{"The file is empty. It needs a header row (name,email,date_of_birth) and a row for each patient."}
	}
	if err != nil {
		return nil, csvProblem(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[h] = i
	}
	for _, want := range importColumns {
		if _, ok := col[want]; !ok {
			return nil, &CSVError{fmt.Sprintf("The first row must name the columns name, email and date_of_birth; %q is missing.", want)}
		}
	}
	var rows []ImportRow
	first := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvProblem(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows) == MaxImportRows {
			return nil, &CSVError{fmt.Sprintf("The file has more than %d patients; split it into smaller files.", MaxImportRows)}
		}
		row := ImportRow{Line: line, Name: strings.TrimSpace(rec[col["name"]]),
			Email: normalEmail(rec[col["email"]]), DateOfBirth: strings.TrimSpace(rec[col["date_of_birth"]])}
		switch {
		case row.Name == "":
			row.Problem = "The name is missing."
		case CheckName(row.Name) != "":
			row.Problem = CheckName(row.Name)
		case !ValidEmail(row.Email):
			row.Problem = "The e-mail address is not valid."
		case CheckBirthDate(row.DateOfBirth, now) != "":
			row.Problem = "The date of birth is not a date between 1900 and today written YYYY-MM-DD."
		}
		if n, dup := first[row.Email]; dup && row.Problem == "" {
			row.Problem = fmt.Sprintf("The e-mail address is on line %d already.", n)
		} else if !dup && row.Problem == "" {
			first[row.Email] = line
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, &CSVError{"The file has a header row but no patients."}
	}
	return rows, nil
}

func csvProblem(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return &CSVError{fmt.Sprintf("Line %d does not have the three columns name, email and date_of_birth.", pe.Line)}
		}
		return &CSVError{fmt.Sprintf("Line %d is not valid CSV (%s).", pe.Line, pe.Err)}
	}
	return &CSVError{"The file could not be read as CSV."}
}

func importAD(id string, practiceID int64) []byte {
	return []byte("sm/v1|patient_imports.rows|" + id + "|" + strconv.FormatInt(practiceID, 10))
}

// UploadPatientImport keeps rows for the preview and the confirmation, sealed, and answers the
// upload's id.
func (s *Store) UploadPatientImport(ctx context.Context, actor User, rows []ImportRow) (string, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ChangeSettings {
		return "", ErrNotAllowed
	}
	plain, err := json.Marshal(rows)
	if err != nil {
		return "", fmt.Errorf("store: upload patient import: %w", err)
	}
	id := uuid.NewString()
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO patient_imports (id, practice_id, uploaded_by, rows, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, actor.PracticeID, actor.ID, s.keys.Seal(plain, importAD(id, actor.PracticeID)), s.now().Add(ImportValid)); err != nil {
		return "", fmt.Errorf("store: upload patient import: %w", err)
	}
	return id, nil
}

// PatientImport is an upload as its preview shows it.
type PatientImport struct {
	ID        string
	Rows      []ImportRow
	Confirmed bool
	Expired   bool
}

// Counts are how many rows would be invited, are bad, and are known already.
func (p PatientImport) Counts() (good, bad, known int) {
	for _, r := range p.Rows {
		switch {
		case r.Problem != "":
			bad++
		case r.Known || r.Invited:
			known++
		default:
			good++
		}
	}
	return
}

// ParseImportID checks that s can be an upload's id, so that a malformed one is not found
// without asking the database.
func ParseImportID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	return u.String(), err == nil && u.String() == s
}

type importRow struct {
	Rows        []byte     `db:"rows"`
	ExpiresAt   time.Time  `db:"expires_at"`
	ConfirmedAt *time.Time `db:"confirmed_at"`
}

// readImport reads an upload of the actor's practice, marking the rows
// known there now.
func (s *Store) readImport(ctx context.Context, q sqlx.QueryerContext, actor User, id string) (PatientImport, error) {
	if _, ok := ParseImportID(id); !ok {
		return PatientImport{}, ErrNotFound
	}
	var r importRow
	err := sqlx.GetContext(ctx, q, &r, `
		SELECT rows, expires_at, confirmed_at FROM patient_imports WHERE id = $1 AND practice_id = $2`, id, actor.PracticeID)
	if errors.Is(err, sql.ErrNoRows) {
		return PatientImport{}, ErrNotFound
	}
	if err != nil {
		return PatientImport{}, err
	}
	plain, err := s.keys.Open(r.Rows, importAD(id, actor.PracticeID))
	if err != nil {
		return PatientImport{}, err
	}
	p := PatientImport{ID: id, Confirmed: r.ConfirmedAt != nil, Expired: !s.now().Before(r.ExpiresAt)}
	if err := json.Unmarshal(plain, &p.Rows); err != nil {
		return PatientImport{}, err
	}
	var emails []string
	for _, row := range p.Rows {
		if row.Problem == "" {
			emails = append(emails, row.Email)
		}
	}
	var known []string
	if err := sqlx.SelectContext(ctx, q, &known, `
		SELECT email FROM users WHERE practice_id = $1 AND email = ANY($2)
		UNION
		SELECT email FROM invitations WHERE practice_id = $1 AND email = ANY($2) AND state IN ('pending', 'accepted')`,
		actor.PracticeID, pq.Array(emails)); err != nil {
		return PatientImport{}, err
	}
	for i := range p.Rows {
		p.Rows[i].Known = p.Rows[i].Problem == "" && !p.Rows[i].Invited && slices.Contains(known, p.Rows[i].Email)
	}
	return p, nil
}

// PatientImportPreview reads an upload of the actor's practice for its preview: ErrNotFound for
// another practice's or none.
func (s *Store) PatientImportPreview(ctx context.Context, actor User, id string) (PatientImport, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ChangeSettings {
		return PatientImport{}, ErrNotAllowed
	}
	p, err := s.readImport(ctx, s.db, actor, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return PatientImport{}, fmt.Errorf("store: patient import %s: %w", id, err)
	}
	return p, err
}

// ConfirmPatientImport invites every good row of an upload (under its row lock, with the rows
// known at the practice read again there) and marks it confirmed, in one transaction: all of them
// or, on any failure, none. A second confirmation answers ErrNoLongerApplies, an expired upload
// ErrImportExpired. It answers the upload as confirmed, each row as it was taken.
func (s *Store) ConfirmPatientImport(ctx context.Context, actor User, o Origin, id string) (PatientImport, int, error) {
	fail := func(err error) (PatientImport, int, error) {
		return PatientImport{}, 0, fmt.Errorf("store: confirm patient import %s: %w", id, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if err := lockAdministrator(ctx, tx, actor); err != nil {
		return PatientImport{}, 0, err
	}
	if _, ok := ParseImportID(id); !ok {
		return PatientImport{}, 0, ErrNotFound
	}
	// The upload's row lock first, then the addresses' (as Invite takes them), in order.
	var locked bool
	if err := tx.GetContext(ctx, &locked, `
		SELECT true FROM patient_imports WHERE id = $1 AND practice_id = $2 FOR UPDATE`, id, actor.PracticeID); errors.Is(err, sql.ErrNoRows) {
		return PatientImport{}, 0, ErrNotFound
	} else if err != nil {
		return fail(err)
	}
	p, err := s.readImport(ctx, tx, actor, id)
	if err != nil {
		return fail(err)
	}
	switch {
	case p.Confirmed:
		return p, 0, ErrNoLongerApplies
	case p.Expired:
		return p, 0, ErrImportExpired
	}
	var emails []string
	for _, r := range p.Rows {
		if r.Problem == "" {
			emails = append(emails, r.Email)
		}
	}
	slices.Sort(emails)
	for _, e := range emails {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, e, actor.PracticeID); err != nil {
			return fail(err)
		}
	}
	if p, err = s.readImport(ctx, tx, actor, id); err != nil { // known as of now, under the locks
		return fail(err)
	}
	invited := 0
	for i, r := range p.Rows {
		if !r.Good() {
			continue
		}
		if _, err := s.insertInvitation(ctx, tx, invitation{practiceID: actor.PracticeID, invitedBy: actor.ID, importID: id,
			n: NewInvitation{Email: r.Email, FullName: r.Name, Role: InvitePatient, DateOfBirth: r.DateOfBirth}}); err != nil {
			return fail(err)
		}
		p.Rows[i].Invited = true
		invited++
	}
	plain, err := json.Marshal(p.Rows)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE patient_imports SET confirmed_at = now(), rows = $2 WHERE id = $1`,
		id, s.keys.Seal(plain, importAD(id, actor.PracticeID))); err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: actor.ID, Action: "patients_imported", ObjectType: "practice", ObjectID: actor.PracticeID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	p.Confirmed = true
	return p, invited, nil
}

// PruneImports deletes uploads past their expiry: their rows are personal data kept only for the
// confirmation.
func (s *Store) PruneImports(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM patient_imports WHERE expires_at < $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("store: prune patient imports: %w", err)
	}
	return res.RowsAffected()
}
