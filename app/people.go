package app

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// PeopleView is the practice's people, for its administrators: staff, then patients.
type PeopleView struct {
	Staff    []PersonRow
	Patients []PersonRow
}

// PersonRow is one person in the list.
type PersonRow struct {
	ID            string // public
	FullName      string
	Email         string
	Role          string // the staff role's label, "" for a patient or one without
	Administrator bool
	Active        bool
}

// PersonView is one person's page: who they are, and a form for each change PersonAllowed gives
// the administrator, as saved or, for the form just posted and refused, as typed.
type PersonView struct {
	ID            string // public
	FullName      string
	Initials      string
	Email         string
	Patient       bool
	Role          store.StaffRole
	Administrator bool
	Active        bool
	Deactivated   Stamp
	TOTPEnabled   bool
	Self          bool
	May           store.PersonActions
	Roles         []RoleOption
	Form          PersonForm // what the name and role forms show
	Section       string     // the form posted ("name", "role", "status", "second_factor")
	Problems      Problems   // about Section's fields, or "form"
	Done          string     // what was just changed, said in words
	CSRFToken     string
	Changes       []PersonChangeRow
}

// RoleOption is a role in the role form's list.
type RoleOption struct {
	Value, Label string
}

// PersonForm is the name and role forms as typed.
type PersonForm struct {
	FullName, Initials string
	Role               string
	Administrator      bool
}

// PersonChangeRow is one line of the person's account history.
type PersonChangeRow struct {
	What     string
	Old, New string
	At       Stamp
}

// Person forms, as the page names them (Section, and the ?done= of a redirect).
const (
	personName         = "name"
	personRole         = "role"
	personStatus       = "status"
	personSecondFactor = "second_factor"
)

// personDone says what a change did, by the code a redirect carries.
var personDone = map[string]string{
	personName:         "The name was saved.",
	personRole:         "The role was saved.",
	"deactivated":      "Deactivated: they are signed out everywhere and cannot sign in. Their messages stay as they are.",
	"reactivated":      "Reactivated: they can sign in again with their password.",
	personSecondFactor: "Two-step sign-in is off for them: they sign in with their password until they set it up again.",
}

var errNoPerson = fiber.NewError(fiber.StatusNotFound, "That person was not found in your practice.")

// peopleShow lists the practice's staff and patients for its administrator.
func (a *App) peopleShow(c *fiber.Ctx) error {
	sess := session(c)
	list, err := a.store.People(c.UserContext(), sess.User)
	if errors.Is(err, store.ErrNotAllowed) {
		return errNotAdministrator
	}
	if err != nil {
		return err
	}
	pv := &PeopleView{}
	for _, p := range list {
		row := PersonRow{ID: a.ids.User(p.ID), FullName: p.FullName, Email: p.Email, Role: p.StaffRole.Label(),
			Administrator: p.Administrator, Active: p.Active()}
		if p.Role == store.RoleStaff {
			pv.Staff = append(pv.Staff, row)
		} else {
			pv.Patients = append(pv.Patients, row)
		}
	}
	vd := a.newViewData(c, "People")
	vd.Practice = sess.Practice
	vd.People = pv
	return a.render(c, view{page: "pages/people", data: vd, fragment: "partials/people", fragmentData: pv})
}

// personShow is one person's page. After a change without JavaScript, ?done= says what it did.
func (a *App) personShow(c *fiber.Ctx) error {
	pv, err := a.personView(c)
	if err != nil {
		return err
	}
	pv.Done = personDone[c.Query("done")]
	return a.showPerson(c, fiber.StatusOK, pv)
}

// personView is the person of the :id, as saved now; another practice's person is not found.
func (a *App) personView(c *fiber.Ctx) (*PersonView, error) {
	sess := session(c)
	id, ok := a.ids.ParseUser(c.Params("id"))
	if !ok || id <= 0 {
		return nil, errNoPerson
	}
	p, may, err := a.store.PersonOf(c.UserContext(), sess.User, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoPerson
	case errors.Is(err, store.ErrNotAllowed):
		return nil, errNotAdministrator
	case err != nil:
		return nil, err
	}
	changes, err := a.store.AccountChanges(c.UserContext(), sess.User, id)
	if err != nil {
		return nil, err
	}
	now := time.Now().In(sess.Practice.Location(a.cfg.PracticeZone))
	pv := &PersonView{ID: a.ids.User(p.ID), FullName: p.FullName, Initials: p.Initials, Email: p.Email,
		Patient: p.Role == store.RolePatient, Role: p.StaffRole, Administrator: p.Administrator, Active: p.Active(),
		TOTPEnabled: p.TOTPEnabled, Self: p.ID == sess.User.ID, May: may, CSRFToken: maskCSRF(sess.CSRFToken),
		Form: PersonForm{FullName: p.FullName, Initials: p.Initials, Role: string(p.StaffRole), Administrator: p.Administrator}}
	if p.DeactivatedAt.Valid {
		pv.Deactivated = stamp(p.DeactivatedAt.Time, now)
	}
	for _, r := range store.StaffRoles {
		pv.Roles = append(pv.Roles, RoleOption{Value: string(r), Label: r.Label()})
	}
	for _, ch := range changes {
		pv.Changes = append(pv.Changes, PersonChangeRow{What: changeLabel(ch.What), Old: ch.Old, New: ch.New, At: stamp(ch.At, now)})
	}
	return pv, nil
}

// changeLabel names an account change in the person's history.
func changeLabel(what string) string {
	switch what {
	case store.ChangeRole:
		return "Role"
	case store.ChangeName:
		return "Name"
	case store.ChangeDeactivated:
		return "Deactivated"
	case store.ChangeReactivated:
		return "Reactivated"
	case store.ChangeSecondFactorReset:
		return "Two-step sign-in reset"
	case store.ChangePasswordChanged:
		return "Password changed"
	case store.ChangePasswordReset:
		return "Password reset by e-mail"
	}
	return what
}

// showPerson answers with the person's page, or for htmx the person's part of it.
func (a *App) showPerson(c *fiber.Ctx, status int, pv *PersonView) error {
	vd := a.newViewData(c, pv.FullName)
	vd.Practice = session(c).Practice
	vd.Person = pv
	if c.Method() == fiber.MethodPost {
		c.Set("HX-Retarget", "#person")
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: "pages/person", data: vd, fragment: "partials/person", fragmentData: pv})
}

// PersonState is what a form of the person's page shows above its fields: what was just done,
// or the problems that refused it.
type PersonState struct {
	View *PersonView
	Name string
}

// State is the form name's PersonState.
func (pv *PersonView) State(name string) PersonState { return PersonState{View: pv, Name: name} }
