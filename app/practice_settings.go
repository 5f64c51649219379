package app

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// SettingsView is the practice's settings page: a form per section, each as saved or, for the
// section just posted and refused, as typed.
type SettingsView struct {
	Fee       FeeForm
	Limits    LimitsForm
	Compose   ComposeSettingsForm
	Notice    NoticeForm
	Hours     HoursForm
	AutoReply AutoReplyForm
	Section   string   // the section posted, whose Problems or Saved the page shows
	Problems  Problems // about Section's fields
	Saved     bool     // Section was saved
	CSRFToken string
	Staff     []SettingsStaff
	Methods   []store.ResponseMethod
	Zones     []string // suggested time zones; any IANA name is taken
	Fallback  string   // the configured SEND_LIMIT, said where the practice sets no count
}

// SettingsStaff is a staff member the practice may list in "who should respond".
type SettingsStaff struct {
	ID       string // public
	FullName string
	Role     string
	Listed   bool
}

// FeeForm is the fee section as typed.
type FeeForm struct {
	On          bool
	Amount      string // dollars, "25.00"
	ConsentText string
	AppliesTo   string
}

// LimitsForm is the limits section as typed; "" for no count.
type LimitsForm struct{ MaxBody, PerDay, PerWeek string }

// ComposeSettingsForm is the compose choices section as typed.
type ComposeSettingsForm struct {
	StaffChoice bool
	Methods     []string
}

// Offers reports whether the method's box is ticked.
func (f ComposeSettingsForm) Offers(code string) bool { return slices.Contains(f.Methods, code) }

// NoticeForm is the notice section as typed.
type NoticeForm struct{ Notice, ReplyPromise string }

// HoursForm is the hours section as typed.
type HoursForm struct {
	TimeZone string
	Days     []DayForm // Monday first
	Holidays string    // a line each: "2026-12-25 Christmas Day"
}

// DayForm is one weekday's hours; Key names its fields ("mon": open_mon, opens_mon, closes_mon).
type DayForm struct {
	Key, Name     string
	Open          bool
	Opens, Closes string
}

// AutoReplyForm is the auto-reply section as typed.
type AutoReplyForm struct {
	On   bool
	Text string
}

// weekdays in the order the form lists them.
var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

func dayKey(d time.Weekday) string { return strings.ToLower(d.String()[:3]) }

// suggestedZones are offered in the time zone field's list.
var suggestedZones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
	"America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "UTC"}

// settingsSections are the sections a form posts, each the name of its partial and its DOM id.
var settingsSections = []string{store.SectionFee, store.SectionLimits, store.SectionCompose, store.SectionNotice,
	store.SectionHours, store.SectionAutoReply}

// settingsShow shows the practice's settings to its administrator. After a save without
// JavaScript, ?saved= names the section saved, which says so.
func (a *App) settingsShow(c *fiber.Ctx) error {
	sv, err := a.settingsView(c)
	if err != nil {
		return err
	}
	if saved := c.Query("saved"); slices.Contains(settingsSections, saved) {
		sv.Section, sv.Saved = saved, true
	}
	return a.showSettings(c, fiber.StatusOK, sv)
}

// settingsView is every section as saved now.
func (a *App) settingsView(c *fiber.Ctx) (*SettingsView, error) {
	sess := session(c)
	v := sess.User.Viewer()
	ps, err := a.store.PracticeSettings(c.UserContext(), v)
	if err != nil {
		return nil, err
	}
	staff, err := a.store.PracticeStaff(c.UserContext(), v)
	if err != nil {
		return nil, err
	}
	sv := &SettingsView{
		Fee: FeeForm{On: ps.Fee.On, Amount: fmt.Sprintf("%d.%02d", ps.Fee.Cents/100, ps.Fee.Cents%100),
			ConsentText: ps.Fee.ConsentText, AppliesTo: ps.Fee.AppliesTo},
		Limits:    LimitsForm{MaxBody: itoa(int64(ps.Limits.MaxBody)), PerDay: countText(ps.Limits.PerDay), PerWeek: countText(ps.Limits.PerWeek)},
		Compose:   ComposeSettingsForm{StaffChoice: ps.Compose.StaffChoice, Methods: ps.Compose.Methods},
		Notice:    NoticeForm{Notice: ps.Notice.Notice, ReplyPromise: ps.Notice.ReplyPromise},
		Hours:     HoursForm{TimeZone: ps.Hours.TimeZone},
		AutoReply: AutoReplyForm{On: ps.AutoReply.On, Text: ps.AutoReply.Text},
		CSRFToken: maskCSRF(sess.CSRFToken),
		Methods:   store.ResponseMethods,
		Zones:     suggestedZones,
	}
	if sv.Hours.TimeZone == "" {
		sv.Hours.TimeZone = a.cfg.PracticeZone.String()
	}
	for _, d := range weekdays {
		h := ps.Hours.Days[d]
		sv.Hours.Days = append(sv.Hours.Days, DayForm{Key: dayKey(d), Name: d.String(), Open: h.Open, Opens: h.Opens, Closes: h.Closes})
	}
	var lines []string
	for _, h := range ps.Hours.Holidays {
		lines = append(lines, h.Day+" "+h.Name)
	}
	sv.Hours.Holidays = strings.Join(lines, "\n")
	for _, u := range staff {
		sv.Staff = append(sv.Staff, SettingsStaff{ID: a.ids.User(u.ID), FullName: u.FullName, Role: u.StaffRole.Label(),
			Listed: slices.Contains(ps.Compose.Listed, u.ID)})
	}
	if l := a.cfg.SendLimits; l.Messages > 0 {
		sv.Fallback = fmt.Sprintf("%d messages in the last %s", l.Messages, window(l.Window))
	}
	return sv, nil
}

func countText(n int) string {
	if n == 0 {
		return ""
	}
	return itoa(int64(n))
}

// showSettings answers with the page, or for htmx with the section posted (the whole settings
// for a GET), refused or saved.
func (a *App) showSettings(c *fiber.Ctx, status int, sv *SettingsView) error {
	vd := a.newViewData(c, "Practice settings")
	vd.Practice = session(c).Practice
	vd.Settings = sv
	fragment := "partials/settings"
	if c.Method() == fiber.MethodPost {
		fragment = "partials/settings-" + sv.Section
		c.Set("HX-Retarget", "#settings-"+sv.Section)
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: "pages/settings", data: vd, fragment: fragment, fragmentData: sv})
}

// SettingsState is what a section's form shows above its fields: whether it was just saved, or
// the problems that refused it.
type SettingsState struct {
	View *SettingsView
	Name string
}

// State is the section name's SettingsState.
func (sv *SettingsView) State(name string) SettingsState { return SettingsState{View: sv, Name: name} }
