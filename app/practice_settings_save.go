package app

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// Each section of the settings page posts here: parse what was typed, let the store check and
// save it (store.PracticeAllowed asked again there), and answer with the saved section, or the
// section as typed with each field's problem (422, nothing changed).

func (a *App) settingsFee(c *fiber.Ctx) error {
	form := FeeForm{On: c.FormValue("fee_on") == "yes", Amount: strings.TrimSpace(c.FormValue("fee_amount")),
		ConsentText: c.FormValue("consent_text"), AppliesTo: c.FormValue("fee_applies_to")}
	cents, ok := parseDollars(form.Amount)
	var err error
	if !ok {
		err = problem("fee_amount", "Enter the fee in dollars, such as 25.00.")
	} else {
		err = a.store.UpdateFee(c.UserContext(), session(c).User, a.origin(c),
			store.FeeSettings{On: form.On, Cents: cents, ConsentText: form.ConsentText, AppliesTo: form.AppliesTo})
	}
	return a.settingsSaved(c, store.SectionFee, err, func(sv *SettingsView) { sv.Fee = form })
}

func (a *App) settingsLimits(c *fiber.Ctx) error {
	form := LimitsForm{MaxBody: strings.TrimSpace(c.FormValue("max_body")), PerDay: strings.TrimSpace(c.FormValue("per_day")),
		PerWeek: strings.TrimSpace(c.FormValue("per_week"))}
	err := a.store.UpdateLimits(c.UserContext(), session(c).User, a.origin(c), store.LimitSettings{
		MaxBody: formCount(form.MaxBody), PerDay: formCount(form.PerDay), PerWeek: formCount(form.PerWeek)})
	return a.settingsSaved(c, store.SectionLimits, err, func(sv *SettingsView) { sv.Limits = form })
}

func (a *App) settingsCompose(c *fiber.Ctx) error {
	form := ComposeSettingsForm{StaffChoice: c.FormValue("staff_choice") == "yes", Methods: formValues(c, "methods")}
	listed := formValues(c, "listed")
	ids := make([]int64, 0, len(listed))
	for _, id := range listed {
		ids = append(ids, a.optionalUser(id))
	}
	err := a.store.UpdateCompose(c.UserContext(), session(c).User, a.origin(c),
		store.ComposeSettings{StaffChoice: form.StaffChoice, Listed: ids, Methods: form.Methods})
	return a.settingsSaved(c, store.SectionCompose, err, func(sv *SettingsView) {
		sv.Compose = form
		for i := range sv.Staff {
			sv.Staff[i].Listed = false
			for _, id := range listed {
				sv.Staff[i].Listed = sv.Staff[i].Listed || id == sv.Staff[i].ID
			}
		}
	})
}

func (a *App) settingsNotice(c *fiber.Ctx) error {
	form := NoticeForm{Notice: c.FormValue("notice"), ReplyPromise: c.FormValue("reply_promise")}
	err := a.store.UpdateNotice(c.UserContext(), session(c).User, a.origin(c),
		store.NoticeSettings{Notice: form.Notice, ReplyPromise: form.ReplyPromise})
	return a.settingsSaved(c, store.SectionNotice, err, func(sv *SettingsView) { sv.Notice = form })
}

func (a *App) settingsHours(c *fiber.Ctx) error {
	form := HoursForm{TimeZone: strings.TrimSpace(c.FormValue("time_zone")), Holidays: c.FormValue("holidays")}
	h := store.HoursSettings{TimeZone: form.TimeZone}
	for _, d := range weekdays {
		k := dayKey(d)
		day := DayForm{Key: k, Name: d.String(), Open: c.FormValue("open_"+k) == "yes",
			Opens: strings.TrimSpace(c.FormValue("opens_" + k)), Closes: strings.TrimSpace(c.FormValue("closes_" + k))}
		form.Days = append(form.Days, day)
		h.Days[d] = store.DayHours{Open: day.Open, Opens: day.Opens, Closes: day.Closes}
	}
	for _, line := range strings.Split(form.Holidays, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			day, name, _ := strings.Cut(line, " ")
			h.Holidays = append(h.Holidays, store.Holiday{Day: day, Name: name})
		}
	}
	err := a.store.UpdateHours(c.UserContext(), session(c).User, a.origin(c), h)
	return a.settingsSaved(c, store.SectionHours, err, func(sv *SettingsView) { sv.Hours = form })
}

func (a *App) settingsAutoReply(c *fiber.Ctx) error {
	form := AutoReplyForm{On: c.FormValue("auto_reply_on") == "yes", Text: c.FormValue("auto_reply_text")}
	err := a.store.UpdateAutoReply(c.UserContext(), session(c).User, a.origin(c),
		store.AutoReplySettings{On: form.On, Text: form.Text})
	return a.settingsSaved(c, store.SectionAutoReply, err, func(sv *SettingsView) { sv.AutoReply = form })
}

// settingsSaved answers a section's post: without JavaScript a redirect to the page, which says
// the section was saved; for htmx the saved section. A refusal shows the section as typed (typed)
// with its problems, 422; a right no longer held, 403.
func (a *App) settingsSaved(c *fiber.Ctx, section string, err error, typed func(*SettingsView)) error {
	var invalid *store.ValidationError
	switch {
	case err == nil:
		if !isFragment(c) {
			return c.Redirect("/practice/settings?saved="+section+"#settings-"+section, fiber.StatusSeeOther)
		}
		sv, err := a.settingsView(c)
		if err != nil {
			return err
		}
		sv.Section, sv.Saved = section, true
		return a.showSettings(c, fiber.StatusOK, sv)
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAdministrator
	case errors.As(err, &invalid):
		sv, err := a.settingsView(c)
		if err != nil {
			return err
		}
		typed(sv)
		sv.Section, sv.Problems = section, invalid.Fields
		return a.showSettings(c, fiber.StatusUnprocessableEntity, sv)
	}
	return err
}

// problem is a refusal of one field found before the store was asked.
func problem(field, text string) error {
	return &store.ValidationError{Fields: map[string]string{field: text}}
}

// parseDollars reads an amount such as "25", "25.5", "$25.00" or "-5" as cents.
func parseDollars(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || len(whole) > 7 {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err1 := strconv.Atoi(whole)
	f, err2 := strconv.Atoi(frac)
	if err1 != nil || err2 != nil || strings.ContainsAny(whole+frac, "+-") {
		return 0, false
	}
	cents := w*100 + f
	if neg {
		cents = -cents
	}
	return cents, true
}

// formCount reads a count typed in a settings field: 0 for an empty field (no count), and -1,
// which every limit refuses, for a zero or anything that is not a whole number.
func formCount(s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return -1
	}
	return n
}

// formValues is every value posted under name (a group of checkboxes).
func formValues(c *fiber.Ctx, name string) []string {
	var values []string
	for _, v := range c.Request().PostArgs().PeekMulti(name) {
		values = append(values, string(v))
	}
	return values
}

// window writes a limit's window as "the last …" reads it: "10 minutes", "day", "2 weeks".
func window(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case d >= 7*24*time.Hour && d%(7*24*time.Hour) == 0:
		return plural(int(d/(7*24*time.Hour)), "week")
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	}
	return minutes(d)
}
