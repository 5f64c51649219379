package store

import "errors"

// ErrNotAllowed is a change the viewer has no right to make (PracticeAllowed); nothing changed.
var ErrNotAllowed = errors.New("store: not allowed")

// PracticeActions are what a user may do to a practice as a whole, beside what Allowed lets them
// do to its messages.
type PracticeActions struct {
	ChangeSettings bool // the settings page: fee, limits, compose choices, notice, hours, auto-reply
	ReviewAudit    bool // the audit review: search the practice's audit log, who opened a patient's messages, export
}

// PracticeAllowed is the one place that decides who may change a practice's settings and review
// its audit log: an
// administrator of that practice, and nobody else. A right held at one practice reaches nothing
// of another's, and a patient never holds it, whatever their row says. Templates ask it to show
// the link, the handlers' middleware before anything is read, and the store again inside the
// change's transaction, with the user's row as it is then (a right taken away a moment before
// counts).
func PracticeAllowed(u User, practiceID int64) PracticeActions {
	admin := u.ID != 0 && u.Role == RoleStaff && u.Administrator && u.PracticeID == practiceID
	return PracticeActions{ChangeSettings: admin, ReviewAudit: admin}
}
