package app

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"securemessages/store"
)

// AuditView is the audit review: the search form as typed, and the page of rows it found, or
// the problems that refused it.
type AuditView struct {
	Form      AuditForm
	Patients  []AuditOption
	Staff     []AuditOption
	Actions   []AuditOption
	Rows      []AuditRow
	Searched  bool   // the form was valid and searched (an empty Rows is "nothing found")
	Older     string // the next, older page ("" for none)
	Problems  Problems
	CSRFToken string
	Zone      string // the practice's time zone, which days and times are in
	Opened    string // who opened the chosen patient's messages ("" when no patient is chosen)
}

// AuditForm is the review's search as typed: public ids, an action's code, days.
type AuditForm struct{ Patient, Staff, Action, From, To string }

// query is the search as an address's query, which its links and the export's form keep.
func (f AuditForm) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"patient": f.Patient, "staff": f.Staff, "action": f.Action, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// AuditOption is one choice of a list.
type AuditOption struct {
	Value, Label string
	Selected     bool
}

// AuditRow is one row of the results, as said to a person: never a message's subject or text.
type AuditRow struct {
	When    Stamp
	Who     string
	Role    string // "patient" or "staff", beside the name
	What    string
	Outcome string // "" for success
	Patient string
	Opened  string // who opened that patient's messages
}

// AuditOpenersView is who opened one patient's messages.
type AuditOpenersView struct {
	Patient string
	Openers []AuditOpenerRow
	Zone    string
	Back    string // the review, searching this patient
}

// AuditOpenerRow is one person who opened them.
type AuditOpenerRow struct {
	Name, Role  string
	First, Last Stamp
	Opens       int
	Messages    int
}

// errNotAuditReviewer answers the audit review for anyone but the practice's administrators.
var errNotAuditReviewer = fiber.NewError(fiber.StatusForbidden, "Only the practice's administrators can review its audit log.")

// errNoAuditPatient answers who opened the messages of a patient not of the practice: the same
// for another practice's patient as for an id that names nobody. (handleError says it: the
// router's own words for a 404 are "That page does not exist.")
var errNoAuditPatient = errors.New("app: no such patient at this practice")

// requireAuditReviewer lets through only those the rule lets review the practice's audit log
// (store.PracticeAllowed); it runs after requireUser. The store asks the rule again.
func (a *App) requireAuditReviewer(c *fiber.Ctx) error {
	if sess := session(c); !store.PracticeAllowed(sess.User, sess.User.PracticeID).ReviewAudit {
		return errNotAuditReviewer
	}
	return c.Next()
}

// auditForm reads the search from the query (a GET) or the form (the export's POST).
func auditForm(c *fiber.Ctx) AuditForm {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	if c.Method() == fiber.MethodGet {
		v = func(k string) string { return strings.TrimSpace(c.Query(k)) }
	}
	return AuditForm{Patient: v("patient"), Staff: v("staff"), Action: v("action"), From: v("from"), To: v("to")}
}

// auditSearch turns the typed search into the store's, a public id that is none of ours
// becoming the same problem as another practice's (the store's words).
func (a *App) auditSearch(f AuditForm) (store.AuditSearch, Problems) {
	q := store.AuditSearch{Action: f.Action, From: f.From, To: f.To}
	problems := Problems{}
	var ok bool
	if f.Patient != "" {
		if q.PatientID, ok = a.ids.ParseUser(f.Patient); !ok {
			problems["patient"] = "Choose a patient of this practice from the list."
		}
	}
	if f.Staff != "" {
		if q.StaffID, ok = a.ids.ParseUser(f.Staff); !ok {
			problems["staff"] = "Choose a staff member of this practice from the list."
		}
	}
	return q, problems
}

// auditShow is the review: the form, and what it finds, a page of rows at a time.
func (a *App) auditShow(c *fiber.Ctx) error {
	form := auditForm(c)
	q, problems := a.auditSearch(form)
	if b := c.Query("before"); b != "" {
		var ok bool
		if q.Before, ok = a.ids.ParseAudit(b); !ok {
			problems["form"] = "That page of the audit log does not exist; search again."
		}
	}
	av, err := a.auditView(c, form)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		av.Problems = problems
		return a.showAudit(c, fiber.StatusUnprocessableEntity, av)
	}
	rows, more, err := a.store.SearchAudit(c.UserContext(), session(c).User, q)
	var invalid *store.ValidationError
	switch {
	case errors.As(err, &invalid):
		av.Problems = invalid.Fields
		return a.showAudit(c, fiber.StatusUnprocessableEntity, av)
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAuditReviewer
	case err != nil:
		return err
	}
	av.Searched = true
	zone := a.practiceZone(c)
	for _, r := range rows {
		av.Rows = append(av.Rows, a.auditRow(r, zone))
	}
	if more {
		older := form.query()
		older.Set("before", a.ids.Audit(rows[len(rows)-1].ID))
		av.Older = auditURL(older)
	}
	return a.showAudit(c, fiber.StatusOK, av)
}

func (a *App) auditRow(r store.AuditEntry, zone *time.Location) AuditRow {
	row := AuditRow{When: auditStamp(r.At, zone), Who: r.ActorName, Role: string(r.ActorRole), What: r.Wording(), Patient: r.PatientName}
	if row.Who == "" {
		row.Who, row.Role = "Nobody signed in", ""
	}
	if r.Outcome != "success" {
		row.Outcome = strings.ReplaceAll(r.Outcome, "_", " ")
	}
	if r.PatientID != 0 {
		row.Opened = auditPatientURL(a.ids.User(r.PatientID))
	}
	return row
}

// auditStamp is a time in the practice's zone, always with its date: a review reads across days.
func auditStamp(t time.Time, zone *time.Location) Stamp {
	return Stamp{Machine: t.UTC().Format("2006-01-02T15:04:05Z"), Shown: t.In(zone).Format("Jan 2, 2006, 3:04:05 PM")}
}

func (a *App) practiceZone(c *fiber.Ctx) *time.Location {
	return session(c).Practice.Location(a.cfg.PracticeZone)
}

// auditView is the form's lists, with what was typed chosen.
func (a *App) auditView(c *fiber.Ctx, form AuditForm) (*AuditView, error) {
	sess := session(c)
	patients, staff, err := a.store.PracticePeople(c.UserContext(), sess.User)
	if errors.Is(err, store.ErrNotAllowed) {
		return nil, errNotAuditReviewer
	}
	if err != nil {
		return nil, err
	}
	av := &AuditView{Form: form, CSRFToken: maskCSRF(sess.CSRFToken), Zone: a.practiceZone(c).String()}
	for _, u := range patients {
		id := a.ids.User(u.ID)
		av.Patients = append(av.Patients, AuditOption{Value: id, Label: u.FullName, Selected: id == form.Patient})
		if id == form.Patient {
			av.Opened = auditPatientURL(id)
		}
	}
	for _, u := range staff {
		id := a.ids.User(u.ID)
		av.Staff = append(av.Staff, AuditOption{Value: id, Label: u.FullName, Selected: id == form.Staff})
	}
	for _, act := range store.AuditActions() {
		av.Actions = append(av.Actions, AuditOption{Value: act.Code, Label: act.Wording, Selected: act.Code == form.Action})
	}
	return av, nil
}

// showAudit answers with the page, or for htmx with the review's section (form and results),
// which the form's hx-get swaps and pushes to the address bar.
func (a *App) showAudit(c *fiber.Ctx, status int, av *AuditView) error {
	vd := a.newViewData(c, "Audit review")
	vd.Practice = session(c).Practice
	vd.Audit = av
	if c.Method() == fiber.MethodPost {
		// A refused export: the review's section, where its problems are said.
		c.Set("HX-Retarget", "#audit")
		c.Set("HX-Reswap", "outerHTML")
	} else if isFragment(c) {
		// htmx pushes a GET form's own hx-get, without what was chosen: the search is the address.
		c.Set("HX-Push-Url", utils.CopyString(c.OriginalURL()))
	}
	return a.render(c, view{status: status, page: "pages/audit", data: vd, fragment: "partials/audit", fragmentData: av})
}

// auditPatientShow is who opened one of the practice's patients' messages. Another practice's
// patient, or an id that is none, is not found.
func (a *App) auditPatientShow(c *fiber.Ctx) error {
	id, ok := a.ids.ParseUser(c.Params("id"))
	if !ok {
		return errNoAuditPatient
	}
	patient, openers, err := a.store.PatientOpeners(c.UserContext(), session(c).User, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNoAuditPatient
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAuditReviewer
	case err != nil:
		return err
	}
	zone := a.practiceZone(c)
	ov := &AuditOpenersView{Patient: patient.FullName, Zone: zone.String(),
		Back: auditURL(AuditForm{Patient: utils.CopyString(c.Params("id"))}.query())}
	for _, o := range openers {
		role := "patient"
		if o.Role == store.RoleStaff {
			role = "staff"
			if o.Title != "" {
				role = o.Title
			}
		}
		ov.Openers = append(ov.Openers, AuditOpenerRow{Name: o.FullName, Role: role, First: auditStamp(o.First, zone),
			Last: auditStamp(o.Last, zone), Opens: o.Opens, Messages: o.Messages})
	}
	vd := a.newViewData(c, "Who opened "+patient.FullName+"'s messages")
	vd.Practice = session(c).Practice
	vd.AuditOpeners = ov
	return a.render(c, view{page: "pages/audit-patient", data: vd, fragment: "partials/audit-patient", fragmentData: ov})
}
