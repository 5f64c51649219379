package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// Each form of a person's page posts here: the store checks the change (store.PersonAllowed,
// asked again in its transaction) and makes it; the answer is the person's page as saved (a
// redirect without JavaScript), or as typed with each field's problem (422), or with the reason
// the change does not apply (409). Nothing changes on a refusal.

func (a *App) personRename(c *fiber.Ctx) error {
	form := PersonForm{FullName: c.FormValue("full_name"), Initials: c.FormValue("initials")}
	return a.personChange(c, personName, personName, func(id int64) error {
		return a.store.Rename(c.UserContext(), session(c).User, a.origin(c), id, form.FullName, form.Initials)
	}, func(pv *PersonView) { pv.Form.FullName, pv.Form.Initials = form.FullName, form.Initials })
}

func (a *App) personSetRole(c *fiber.Ctx) error {
	form := PersonForm{Role: c.FormValue("staff_role"), Administrator: c.FormValue("administrator") == "yes"}
	return a.personChange(c, personRole, personRole, func(id int64) error {
		return a.store.SetRole(c.UserContext(), session(c).User, a.origin(c), id, store.StaffRole(form.Role), form.Administrator)
	}, func(pv *PersonView) { pv.Form.Role, pv.Form.Administrator = form.Role, form.Administrator })
}

func (a *App) personDeactivate(c *fiber.Ctx) error {
	return a.personChange(c, personStatus, "deactivated", func(id int64) error {
		if err := a.store.Deactivate(c.UserContext(), session(c).User, a.origin(c), id); err != nil {
			return err
		}
		// Their sessions ended with the change; their open pages' streams end now, on every
		// instance. Were Redis down, each stream ends at its next session check instead.
		if err := a.hub.UserEnded(c.UserContext(), id); err != nil {
			a.log.Warn("deactivation not broadcast", "request_id", requestID(c), "error", err.Error())
		}
		return nil
	}, nil)
}

func (a *App) personReactivate(c *fiber.Ctx) error {
	return a.personChange(c, personStatus, "reactivated", func(id int64) error {
		return a.store.Reactivate(c.UserContext(), session(c).User, a.origin(c), id)
	}, nil)
}

func (a *App) personResetSecondFactor(c *fiber.Ctx) error {
	return a.personChange(c, personSecondFactor, personSecondFactor, func(id int64) error {
		return a.store.ResetSecondFactor(c.UserContext(), session(c).User, a.origin(c), id)
	}, nil)
}

// personChange runs one change of the :id's person and answers it. done is the ?done= code of
// the change; typed puts what was typed back into a refused form.
func (a *App) personChange(c *fiber.Ctx, section, done string, change func(id int64) error, typed func(*PersonView)) error {
	id, ok := a.ids.ParseUser(c.Params("id"))
	if !ok || id <= 0 {
		return errNoPerson
	}
	err := change(id)
	var invalid *store.ValidationError
	var refusal *store.Refusal
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNoPerson
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAdministrator
	case err == nil && id == session(c).User.ID && done == "deactivated":
		// Their own session ended with the rest: on to the sign-in page, the cookie forgotten.
		a.clearSessionCookie(c)
		if isFragment(c) {
			c.Set("HX-Redirect", "/signin")
			return c.SendStatus(fiber.StatusNoContent)
		}
		return c.Redirect("/signin", fiber.StatusSeeOther)
	case err == nil && !isFragment(c):
		return c.Redirect("/practice/people/"+c.Params("id")+"?done="+done, fiber.StatusSeeOther)
	case err == nil:
		pv, err := a.personView(c)
		if err != nil {
			return err
		}
		pv.Section, pv.Done = section, personDone[done]
		return a.showPerson(c, fiber.StatusOK, pv)
	case errors.As(err, &invalid), errors.As(err, &refusal):
		pv, verr := a.personView(c)
		if verr != nil {
			return verr
		}
		if typed != nil {
			typed(pv)
		}
		pv.Section = section
		status := fiber.StatusUnprocessableEntity
		if invalid != nil {
			pv.Problems = invalid.Fields
		} else {
			status, pv.Problems = fiber.StatusConflict, Problems{"form": refusal.Reason}
		}
		return a.showPerson(c, status, pv)
	}
	return err
}
