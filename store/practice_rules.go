package store

import "errors"

// ErrNotAllowed is a change the viewer has no right to make (PracticeAllowed); nothing changed.
var ErrNotAllowed = errors.New("store: not allowed")

// PracticeActions are what a user may do to a practice as a whole, beside what Allowed lets them
// do to its messages.
type PracticeActions struct {
	ChangeSettings bool // the settings page: fee, limits, compose choices, notice, hours, auto-reply
	ManagePeople   bool // the people pages: list the practice's staff and patients, and PersonAllowed's changes
	ReviewAudit    bool // the audit review: search the practice's audit log, who opened a patient's messages, export
}

// PracticeAllowed is the one place that decides who may change a practice's settings, manage
// its people and review its audit log: an administrator of that practice, and nobody else. A right held at one practice
// reaches nothing of another's, and a patient never holds it, whatever their row says. Templates
// ask it to show the link, the handlers' middleware before anything is read, and the store again
// inside the change's transaction, with the user's row as it is then (a right taken away a moment
// before counts).
func PracticeAllowed(u User, practiceID int64) PracticeActions {
	admin := u.ID != 0 && u.Role == RoleStaff && u.Administrator && u.PracticeID == practiceID
	return PracticeActions{ChangeSettings: admin, ManagePeople: admin, ReviewAudit: admin}
}

// PersonActions are the changes an administrator may make to one person of the practice.
type PersonActions struct {
	View              bool // the person's page
	Rename            bool // display name and initials
	ChangeRole        bool // staff role (physician, nurse, front desk)
	GrantAdmin        bool // give the administrator right
	RevokeAdmin       bool // take it away
	Deactivate        bool
	Reactivate        bool
	ResetSecondFactor bool // turn their two-step sign-in off, for a lost phone
}

// Refusal is a change to a person that PersonAllowed does not give, with the reason in words for
// the administrator; nothing changed.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "store: refused: " + r.Reason }

// The refusals of the people pages' changes.
var (
	ErrLastAdministrator = &Refusal{"The practice must keep at least one active administrator: give the right to someone else first. Nothing was changed."}
	ErrNoSuchChange      = &Refusal{"That change does not apply to this person now. Nothing was changed."}
)

// PersonAllowed is the one place that decides what an administrator (actor) may change of a
// person (target), given how many active administrators the practice has now (activeAdmins).
// Only an administrator of the person's own practice may do anything (another practice's person
// is, to them, nobody: the handlers answer 404); the practice's automatic account is nobody's to
// change. Staff have a role and may hold the administrator right; patients have neither. A
// deactivated person can only be reactivated, and the practice's last active administrator can
// be neither demoted nor deactivated, by others or by themself, so a practice is never left
// without someone to manage it. The store asks it inside the change's transaction, with the
// practice's people locked, so two administrators demoting each other cannot both win.
func PersonAllowed(actor User, target Person, activeAdmins int) PersonActions {
	if !PracticeAllowed(actor, target.PracticeID).ManagePeople || target.ID == 0 || target.Automatic {
		return PersonActions{}
	}
	active := !target.DeactivatedAt.Valid
	staff := target.Role == RoleStaff
	lastAdmin := staff && target.Administrator && active && activeAdmins <= 1
	return PersonActions{
		View:              true,
		Rename:            active,
		ChangeRole:        active && staff,
		GrantAdmin:        active && staff && !target.Administrator,
		RevokeAdmin:       active && staff && target.Administrator && !lastAdmin,
		Deactivate:        active && !lastAdmin,
		Reactivate:        !active,
		ResetSecondFactor: active && target.TOTPEnabled,
	}
}
