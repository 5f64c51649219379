package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"securemessages/store"
)

// composeShow opens the new-message form at the top of the inbox.
func (a *App) composeShow(c *fiber.Ctx) error {
	form, err := a.composeForm(c, store.NewConversation{SubmitKey: uuid.NewString()}, nil)
	if err != nil {
		return err
	}
	return a.showCompose(c, fiber.StatusOK, form)
}

// composeForm fills the form with what was typed and, for a patient, the practice's staff and
// fee; for staff, the practice's patients to write to.
func (a *App) composeForm(c *fiber.Ctx, n store.NewConversation, problems map[string]string) (*ComposeForm, error) {
	sess := session(c)
	v := sess.User.Viewer()
	form := &ComposeForm{
		Subject: n.Subject, Body: n.Body, NoResponseNeeded: n.NoResponseNeeded, SubmitKey: n.SubmitKey,
		Problems: problems, MaxSubject: store.MaxSubjectLen, MaxBody: store.MaxBodyLen,
	}
	if v.Role == store.RoleStaff {
		patients, err := a.store.Patients(c.UserContext(), v)
		if err != nil {
			return nil, err
		}
		form.FromStaff, form.PatientID, form.Patients = true, a.chosen(n.PatientID), a.people(patients)
		return form, nil
	}
	// The patient's own instructions to the practice: whom they would like to answer, and how,
	// as far as the practice's settings offer them, read now so a change applies at once.
	ps, err := a.store.PracticeSettings(c.UserContext(), v)
	if err != nil {
		return nil, err
	}
	form.MaxBody = ps.Limits.MaxBody
	if form.ShowStaff = ps.Compose.StaffChoice; form.ShowStaff {
		staff, err := a.store.ResponderStaff(c.UserContext(), v)
		if err != nil {
			return nil, err
		}
		form.StaffID, form.Staff = a.chosen(n.RequestedStaffID), a.people(staff)
	}
	form.Method, form.Methods = n.ResponseMethod, ps.Compose.OfferedMethods()
	form.Consent = n.BillingConsent
	if sess.Practice.Charges() && ps.Fee.Charges(true) {
		form.Fee, form.ConsentLabel = store.FormatFee(sess.Practice.MessageFeeCents), ps.Fee.ConsentLabel()
	}
	return form, nil
}

// people lists users under their public ids.
func (a *App) people(users []store.User) []Person {
	list := make([]Person, len(users))
	for i, u := range users {
		list[i] = Person{ID: a.ids.User(u.ID), FullName: u.FullName, Title: u.Title}
	}
	return list
}

// chosen is the public id of a person chosen on the form, "" for none or for a choice that was
// not a person (optionalUser).
func (a *App) chosen(id int64) string {
	if id <= 0 {
		return ""
	}
	return a.ids.User(id)
}

// showCompose answers with the compose form: for htmx the form alone, otherwise the inbox with the
// form open at its top.
func (a *App) showCompose(c *fiber.Ctx, status int, form *ComposeForm) error {
	if isFragment(c) {
		if status >= 400 {
			c.Set("HX-Retarget", "#compose")
			c.Set("HX-Reswap", "outerHTML")
		}
		iv := a.fragmentInbox(c)
		iv.Compose = form
		return a.render(c, view{status: status, fragment: "partials/compose", fragmentData: iv})
	}
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c), compose: form})
	if err != nil {
		return err
	}
	return a.render(c, view{status: status, page: "pages/inbox", data: vd})
}
