package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// PracticeSettings are what a practice's administrator sets, by the settings page's sections.
// They are read from PostgreSQL by every request that uses them (there is no cache of practices
// to invalidate), so a change applies at once on every instance.
type PracticeSettings struct {
	PracticeID int64
	Fee        FeeSettings
	Limits     LimitSettings
	Compose    ComposeSettings
	Notice     NoticeSettings
	Hours      HoursSettings
	AutoReply  AutoReplySettings
}

// Sections of the settings, as they are audited (practice_setting_changes.section).
const (
	SectionFee       = "fee"
	SectionLimits    = "limits"
	SectionCompose   = "compose"
	SectionNotice    = "notice"
	SectionHours     = "hours"
	SectionAutoReply = "auto_reply"
)

// FeeSettings: whether patients pay for message time, how much, the consent they tick, and for
// which messages.
type FeeSettings struct {
	On          bool   `json:"on"`
	Cents       int    `json:"cents"`
	ConsentText string `json:"consent_text"` // {fee} is replaced by the amount (ConsentLabel)
	AppliesTo   string `json:"applies_to"`   // FeeAllMessages or FeeNewConversations
}

// Which messages the fee applies to.
const (
	FeeAllMessages      = "all"
	FeeNewConversations = "new"
)

// FeePlaceholder is where the consent wording shows the amount.
const FeePlaceholder = "{fee}"

// ConsentLabel is the consent wording with the amount in it.
func (f FeeSettings) ConsentLabel() string {
	return strings.ReplaceAll(f.ConsentText, FeePlaceholder, FormatFee(f.Cents))
}

// Charges reports whether a patient's message needs consent: the first of a conversation
// (first) or any other.
func (f FeeSettings) Charges(first bool) bool {
	return f.On && f.Cents > 0 && (first || f.AppliesTo == FeeAllMessages)
}

// LimitSettings bound what a patient sends; staff are never limited.
type LimitSettings struct {
	MaxBody int `json:"max_body"` // characters of a message's text, at most MaxBodyLen
	PerDay  int `json:"per_day"`  // messages within a day; 0 not set
	PerWeek int `json:"per_week"` // messages within a week; 0 not set
}

// Bounds of the limits an administrator may set: beyond them a limit is a typing mistake.
const (
	MinBodyLimit  = 100
	MaxPerDay     = 100
	MaxPerWeek    = 500
	maxHolidays   = 100
	maxNoticeLen  = 300
	maxConsentLen = 300
	maxAutoLen    = 1000
)

// SendLimits are the practice's limits as the send path counts them, or fallback (the
// configured SEND_LIMIT) where the practice has set neither.
func (l LimitSettings) SendLimits(fallback SendLimits) []SendLimits {
	var limits []SendLimits
	if l.PerDay > 0 {
		limits = append(limits, SendLimits{Messages: l.PerDay, Window: 24 * time.Hour})
	}
	if l.PerWeek > 0 {
		limits = append(limits, SendLimits{Messages: l.PerWeek, Window: 7 * 24 * time.Hour})
	}
	if len(limits) == 0 && fallback.Messages > 0 {
		limits = append(limits, fallback)
	}
	return limits
}

// ComposeSettings: whom a patient may ask for, and how they may ask to be answered.
type ComposeSettings struct {
	StaffChoice bool     `json:"staff_choice"` // the "who should respond" drop-down shows
	Listed      []int64  `json:"listed"`       // the staff it lists (users.answers_messages)
	Methods     []string `json:"methods"`      // response method codes offered, in ResponseMethods' order
}

// Offers reports whether the response method is offered.
func (c ComposeSettings) Offers(code string) bool { return slices.Contains(c.Methods, code) }

// OfferedMethods are the response methods offered, in the form's order.
func (c ComposeSettings) OfferedMethods() []ResponseMethod {
	var list []ResponseMethod
	for _, m := range ResponseMethods {
		if c.Offers(m.Code) {
			list = append(list, m)
		}
	}
	return list
}

// NoticeSettings: the standing notice over a patient's inbox and the reply promise after it.
type NoticeSettings struct {
	Notice       string `json:"notice"`
	ReplyPromise string `json:"reply_promise"`
}

// HoursSettings: the practice's time zone, business hours by weekday, and holidays.
type HoursSettings struct {
	TimeZone string      `json:"time_zone"` // "" for the configured default
	Days     [7]DayHours `json:"days"`      // by time.Weekday
	Holidays []Holiday   `json:"holidays"`
}

// DayHours is one weekday's opening, as wall-clock "15:04" in the practice's zone.
type DayHours struct {
	Open   bool   `json:"open"`
	Opens  string `json:"opens,omitempty"`
	Closes string `json:"closes,omitempty"`
}

// Holiday is a day the practice is closed, "2006-01-02".
type Holiday struct {
	Day  string `json:"day" db:"day"`
	Name string `json:"name" db:"name"`
}

// AutoReplySettings: the after-hours auto-reply.
type AutoReplySettings struct {
	On   bool   `json:"on"`
	Text string `json:"text"`
}

// Open reports whether the practice is open at t, in zone: a business day's hours, not a holiday.
func (h HoursSettings) Open(t time.Time, zone *time.Location) bool {
	t = t.In(zone)
	day := t.Format(time.DateOnly)
	for _, hol := range h.Holidays {
		if hol.Day == day {
			return false
		}
	}
	d := h.Days[t.Weekday()]
	if !d.Open {
		return false
	}
	now := t.Format("15:04")
	return d.Opens <= now && now < d.Closes
}

// PracticeSettings reads the settings of the viewer's practice: the forms and pages they shape
// are drawn for anyone of the practice; only PracticeAllowed may change them.
func (s *Store) PracticeSettings(ctx context.Context, v Viewer) (PracticeSettings, error) {
	return loadSettings(ctx, s.db, v.PracticeID)
}

type settingsRow struct {
	FeeOn         bool           `db:"fee_on"`
	FeeCents      int            `db:"fee_cents"`
	ConsentText   string         `db:"consent_text"`
	FeeAppliesTo  string         `db:"fee_applies_to"`
	MaxBody       int            `db:"max_body_chars"`
	PerDay        sql.NullInt64  `db:"per_day"`
	PerWeek       sql.NullInt64  `db:"per_week"`
	StaffChoice   bool           `db:"staff_choice"`
	Methods       pq.StringArray `db:"response_methods"`
	Listed        pq.Int64Array  `db:"listed"`
	Notice        string         `db:"notice_text"`
	ReplyPromise  string         `db:"reply_promise"`
	AutoReplyOn   bool           `db:"auto_reply_on"`
	AutoReplyText string         `db:"auto_reply_text"`
	TimeZone      string         `db:"time_zone"`
	Hours         []byte         `db:"hours"`
	Holidays      []byte         `db:"holidays"`
}

// loadSettings reads a practice's settings in one statement; lock takes its row for an update.
func loadSettings(ctx context.Context, q sqlx.QueryerContext, practiceID int64) (PracticeSettings, error) {
	return readSettings(ctx, q, practiceID, "")
}

func readSettings(ctx context.Context, q sqlx.QueryerContext, practiceID int64, lock string) (PracticeSettings, error) {
	var r settingsRow
	err := sqlx.GetContext(ctx, q, &r, `
		SELECT ps.fee_on, ps.fee_cents, ps.consent_text, ps.fee_applies_to, ps.max_body_chars,
		       ps.per_day, ps.per_week, ps.staff_choice, ps.response_methods,
		       array(SELECT u.id FROM users u WHERE u.practice_id = ps.practice_id AND u.role = 'staff'
		             AND u.answers_messages ORDER BY u.id) AS listed,
		       ps.notice_text, ps.reply_promise, ps.auto_reply_on, ps.auto_reply_text,
		       coalesce(p.time_zone, '') AS time_zone,
		       coalesce((SELECT json_agg(json_build_object('weekday', h.weekday,
		                     'opens', to_char(h.opens, 'HH24:MI'), 'closes', to_char(h.closes, 'HH24:MI')))
		                 FROM practice_business_hours h WHERE h.practice_id = ps.practice_id), '[]') AS hours,
		       coalesce((SELECT json_agg(json_build_object('day', to_char(d.day, 'YYYY-MM-DD'), 'name', d.name) ORDER BY d.day)
		                 FROM practice_holidays d WHERE d.practice_id = ps.practice_id), '[]') AS holidays
		FROM practice_settings ps JOIN practices p ON p.id = ps.practice_id
		WHERE ps.practice_id = $1`+lock, practiceID)
	if errors.Is(err, sql.ErrNoRows) {
		return PracticeSettings{}, ErrNotFound
	}
	if err != nil {
		return PracticeSettings{}, fmt.Errorf("store: settings of practice %d: %w", practiceID, err)
	}
	ps := PracticeSettings{PracticeID: practiceID,
		Fee:       FeeSettings{On: r.FeeOn, Cents: r.FeeCents, ConsentText: r.ConsentText, AppliesTo: r.FeeAppliesTo},
		Limits:    LimitSettings{MaxBody: r.MaxBody, PerDay: int(r.PerDay.Int64), PerWeek: int(r.PerWeek.Int64)},
		Compose:   ComposeSettings{StaffChoice: r.StaffChoice, Listed: []int64(r.Listed), Methods: []string(r.Methods)},
		Notice:    NoticeSettings{Notice: r.Notice, ReplyPromise: r.ReplyPromise},
		Hours:     HoursSettings{TimeZone: r.TimeZone},
		AutoReply: AutoReplySettings{On: r.AutoReplyOn, Text: r.AutoReplyText},
	}
	var hours []struct {
		Weekday       int
		Opens, Closes string
	}
	if err := json.Unmarshal(r.Hours, &hours); err != nil {
		return PracticeSettings{}, fmt.Errorf("store: hours of practice %d: %w", practiceID, err)
	}
	for _, h := range hours {
		ps.Hours.Days[h.Weekday] = DayHours{Open: true, Opens: h.Opens, Closes: h.Closes}
	}
	if err := json.Unmarshal(r.Holidays, &ps.Hours.Holidays); err != nil {
		return PracticeSettings{}, fmt.Errorf("store: holidays of practice %d: %w", practiceID, err)
	}
	return ps, nil
}

// Validate checks the fee section, naming each problem by the settings form's field.
func (f FeeSettings) Validate() error {
	var v ValidationError
	switch {
	case f.Cents < 0:
		v.add("fee_amount", "The fee cannot be negative.")
	case f.Cents > 100000:
		v.add("fee_amount", "The fee must be at most $1000.00.")
	case f.On && f.Cents == 0:
		v.add("fee_amount", "Enter a fee above $0.00, or turn the fee off.")
	}
	checkSetting(&v, "consent_text", "The consent wording", f.ConsentText, 1, maxConsentLen)
	if _, bad := v.Fields["consent_text"]; !bad && !strings.Contains(f.ConsentText, FeePlaceholder) {
		v.add("consent_text", "The consent wording must show the fee: write {fee} where the amount goes.")
	}
	if f.AppliesTo != FeeAllMessages && f.AppliesTo != FeeNewConversations {
		v.add("fee_applies_to", "Choose which messages the fee applies to.")
	}
	return v.orNil()
}

// Validate checks the limits section.
func (l LimitSettings) Validate() error {
	var v ValidationError
	if l.MaxBody < MinBodyLimit || l.MaxBody > MaxBodyLen {
		v.add("max_body", fmt.Sprintf("The longest message must be between %d and %d characters.", MinBodyLimit, MaxBodyLen))
	}
	if l.PerDay < 0 || l.PerDay > MaxPerDay {
		v.add("per_day", fmt.Sprintf("Messages per day must be between 1 and %d, or left empty for no daily limit.", MaxPerDay))
	}
	if l.PerWeek < 0 || l.PerWeek > MaxPerWeek {
		v.add("per_week", fmt.Sprintf("Messages per week must be between 1 and %d, or left empty for no weekly limit.", MaxPerWeek))
	} else if l.PerWeek > 0 && l.PerDay > 0 && l.PerWeek < l.PerDay {
		v.add("per_week", "Messages per week cannot be fewer than messages per day.")
	}
	return v.orNil()
}

// Validate checks the compose section's choices that need no database.
func (c ComposeSettings) Validate() error {
	var v ValidationError
	for _, m := range c.Methods {
		if _, ok := responseMethodLabel(m); !ok {
			v.add("methods", "Choose response methods from the list.")
		}
	}
	if len(c.Methods) == 0 {
		v.add("methods", "Offer at least one response method.")
	}
	if c.StaffChoice && len(c.Listed) == 0 {
		v.add("listed", "List at least one staff member, or do not show the choice.")
	}
	return v.orNil()
}

// Validate checks the notice section.
func (n NoticeSettings) Validate() error {
	var v ValidationError
	checkSetting(&v, "notice", "The notice", n.Notice, 1, maxNoticeLen)
	checkSetting(&v, "reply_promise", "The reply promise", n.ReplyPromise, 0, maxNoticeLen)
	return v.orNil()
}

// Validate checks the hours section: a time zone Go knows, each open day's hours, the holidays.
func (h HoursSettings) Validate() error {
	var v ValidationError
	if _, err := LoadZone(h.TimeZone); err != nil {
		v.add("time_zone", "Choose a time zone from the list, such as America/Chicago.")
	}
	for d, day := range h.Days {
		if !day.Open {
			continue
		}
		field, name := "hours_"+strings.ToLower(time.Weekday(d).String()[:3]), time.Weekday(d).String()
		opens, err1 := time.Parse("15:04", day.Opens)
		closes, err2 := time.Parse("15:04", day.Closes)
		switch {
		case err1 != nil || err2 != nil:
			v.add(field, name+": enter the opening and closing times, such as 08:00 and 17:00.")
		case !opens.Before(closes):
			v.add(field, name+": the practice must open before it closes.")
		}
	}
	if len(h.Holidays) > maxHolidays {
		v.add("holidays", fmt.Sprintf("At most %d holidays.", maxHolidays))
	}
	seen := map[string]bool{}
	for _, hol := range h.Holidays {
		if _, err := time.Parse(time.DateOnly, hol.Day); err != nil {
			v.add("holidays", fmt.Sprintf("%q is not a date: write each holiday as 2026-12-25 Christmas Day.", hol.Day))
		} else if seen[hol.Day] {
			v.add("holidays", fmt.Sprintf("%s is listed twice.", hol.Day))
		}
		seen[hol.Day] = true
		if n := utf8.RuneCountInString(strings.TrimSpace(hol.Name)); n == 0 || n > 100 {
			v.add("holidays", fmt.Sprintf("Give the holiday on %s a name of at most 100 characters.", hol.Day))
		}
	}
	return v.orNil()
}

// Validate checks the auto-reply section.
func (a AutoReplySettings) Validate() error {
	var v ValidationError
	checkSetting(&v, "auto_reply_text", "The auto-reply", a.Text, 1, maxAutoLen)
	return v.orNil()
}

func checkSetting(v *ValidationError, field, label, text string, min, max int) {
	n := utf8.RuneCountInString(strings.TrimSpace(text))
	switch {
	case !utf8.ValidString(text):
		v.add(field, label+" contains characters that cannot be read.")
	case n < min:
		v.add(field, label+" is required.")
	case n > max:
		v.add(field, fmt.Sprintf("%s must be at most %d characters (it is %d).", label, max, n))
	}
}

// UpdateFee changes the fee section.
func (s *Store) UpdateFee(ctx context.Context, actor User, o Origin, f FeeSettings) error {
	f.ConsentText = strings.TrimSpace(f.ConsentText)
	return s.changeSettings(ctx, actor, o, SectionFee, f.Validate(), func(ps PracticeSettings) any { return ps.Fee }, f,
		func(tx *sqlx.Tx, id int64) error {
			charged := 0
			if f.On {
				charged = f.Cents
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE practice_settings SET fee_on = $2, fee_cents = $3, consent_text = $4, fee_applies_to = $5
				WHERE practice_id = $1`, id, f.On, f.Cents, f.ConsentText, f.AppliesTo); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE practices SET message_fee_cents = $2 WHERE id = $1`, id, charged)
			return err
		})
}

// UpdateLimits changes the limits section.
func (s *Store) UpdateLimits(ctx context.Context, actor User, o Origin, l LimitSettings) error {
	return s.changeSettings(ctx, actor, o, SectionLimits, l.Validate(), func(ps PracticeSettings) any { return ps.Limits }, l,
		func(tx *sqlx.Tx, id int64) error {
			_, err := tx.ExecContext(ctx, `
				UPDATE practice_settings SET max_body_chars = $2, per_day = nullif($3, 0), per_week = nullif($4, 0)
				WHERE practice_id = $1`, id, l.MaxBody, l.PerDay, l.PerWeek)
			return err
		})
}

// UpdateCompose changes whom patients may pick and how they may ask to be answered. Listed must
// be staff of the actor's practice (never its automatic account).
func (s *Store) UpdateCompose(ctx context.Context, actor User, o Origin, c ComposeSettings) error {
	slices.Sort(c.Listed)
	c.Listed = slices.Compact(c.Listed)
	var methods []string
	for _, m := range ResponseMethods {
		if slices.Contains(c.Methods, m.Code) {
			methods = append(methods, m.Code)
		}
	}
	problems := problemsOf(c.Validate())
	for _, m := range c.Methods {
		if !slices.Contains(methods, m) {
			problems.add("methods", "Choose response methods from the list.")
		}
	}
	c.Methods = methods
	if c.Listed == nil {
		c.Listed = []int64{}
	}
	return s.changeSettings(ctx, actor, o, SectionCompose, problems.orNil(), func(ps PracticeSettings) any { return ps.Compose }, c,
		func(tx *sqlx.Tx, id int64) error {
			var known int
			if err := tx.GetContext(ctx, &known, `
				SELECT count(*) FROM users WHERE id = ANY($1) AND practice_id = $2 AND role = 'staff' AND NOT automatic`,
				pq.Array(c.Listed), id); err != nil {
				return err
			}
			if known != len(c.Listed) {
				return &ValidationError{Fields: map[string]string{"listed": "Choose staff members from the list."}}
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE users SET answers_messages = (id = ANY($2))
				WHERE practice_id = $1 AND role = 'staff' AND NOT automatic`, id, pq.Array(c.Listed)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `
				UPDATE practice_settings SET staff_choice = $2, response_methods = $3 WHERE practice_id = $1`,
				id, c.StaffChoice, pq.Array(c.Methods))
			return err
		})
}

// UpdateNotice changes the standing notice and the reply promise.
func (s *Store) UpdateNotice(ctx context.Context, actor User, o Origin, n NoticeSettings) error {
	n.Notice, n.ReplyPromise = strings.TrimSpace(n.Notice), strings.TrimSpace(n.ReplyPromise)
	return s.changeSettings(ctx, actor, o, SectionNotice, n.Validate(), func(ps PracticeSettings) any { return ps.Notice }, n,
		func(tx *sqlx.Tx, id int64) error {
			_, err := tx.ExecContext(ctx, `
				UPDATE practice_settings SET notice_text = $2, reply_promise = $3 WHERE practice_id = $1`,
				id, n.Notice, n.ReplyPromise)
			return err
		})
}

// UpdateHours changes the time zone, business hours and holidays.
func (s *Store) UpdateHours(ctx context.Context, actor User, o Origin, h HoursSettings) error {
	for i := range h.Holidays {
		h.Holidays[i].Name = strings.TrimSpace(h.Holidays[i].Name)
	}
	slices.SortFunc(h.Holidays, func(a, b Holiday) int { return strings.Compare(a.Day, b.Day) })
	if h.Holidays == nil {
		h.Holidays = []Holiday{}
	}
	for d := range h.Days {
		if !h.Days[d].Open {
			h.Days[d] = DayHours{}
		}
	}
	return s.changeSettings(ctx, actor, o, SectionHours, h.Validate(), func(ps PracticeSettings) any { return ps.Hours }, h,
		func(tx *sqlx.Tx, id int64) error {
			if _, err := tx.ExecContext(ctx, `UPDATE practices SET time_zone = $2 WHERE id = $1`, id, h.TimeZone); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM practice_business_hours WHERE practice_id = $1`, id); err != nil {
				return err
			}
			for d, day := range h.Days {
				if !day.Open {
					continue
				}
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO practice_business_hours (practice_id, weekday, opens, closes) VALUES ($1, $2, $3, $4)`,
					id, d, day.Opens, day.Closes); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM practice_holidays WHERE practice_id = $1`, id); err != nil {
				return err
			}
			for _, hol := range h.Holidays {
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO practice_holidays (practice_id, day, name) VALUES ($1, $2, $3)`, id, hol.Day, hol.Name); err != nil {
					return err
				}
			}
			return nil
		})
}

// UpdateAutoReply changes the after-hours auto-reply.
func (s *Store) UpdateAutoReply(ctx context.Context, actor User, o Origin, a AutoReplySettings) error {
	a.Text = strings.TrimSpace(a.Text)
	return s.changeSettings(ctx, actor, o, SectionAutoReply, a.Validate(), func(ps PracticeSettings) any { return ps.AutoReply }, a,
		func(tx *sqlx.Tx, id int64) error {
			_, err := tx.ExecContext(ctx, `
				UPDATE practice_settings SET auto_reply_on = $2, auto_reply_text = $3 WHERE practice_id = $1`, id, a.On, a.Text)
			return err
		})
}

// changeSettings is every section's change: PracticeAllowed asked again with the actor's row as
// it is now, the settings' row locked (changes of one practice's settings queue), the section's
// old value read, the new one written, and both kept in practice_setting_changes, with a row in
// the audit log's chain, all in one transaction. A refused change writes nothing.
func (s *Store) changeSettings(ctx context.Context, actor User, o Origin, section string, invalid error,
	old func(PracticeSettings) any, new any, write func(tx *sqlx.Tx, practiceID int64) error) error {
	practiceID := actor.PracticeID
	fail := func(err error) error {
		return fmt.Errorf("store: change %s settings of practice %d: %w", section, practiceID, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var now User
	err = tx.GetContext(ctx, &now, `SELECT `+userColumns+` FROM users WHERE id = $1`, actor.ID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !PracticeAllowed(now, practiceID).ChangeSettings {
		return ErrNotAllowed
	}
	if err != nil {
		return fail(err)
	}
	if invalid != nil {
		return invalid
	}
	before, err := readSettings(ctx, tx, practiceID, ` FOR UPDATE OF ps`)
	if err != nil {
		return fail(err)
	}
	if err := write(tx, practiceID); err != nil {
		var v *ValidationError
		if errors.As(err, &v) {
			return err
		}
		return fail(err)
	}
	oldJSON, err := json.Marshal(old(before))
	if err != nil {
		return fail(err)
	}
	newJSON, err := json.Marshal(new)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO practice_setting_changes (practice_id, actor_id, section, old, new) VALUES ($1, $2, $3, $4, $5)`,
		practiceID, actor.ID, section, oldJSON, newJSON); err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: actor.ID, Action: "practice_settings_changed:" + section,
		ObjectType: "practice", ObjectID: practiceID, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// SettingChange is one audited change of a practice's settings.
type SettingChange struct {
	ActorID int64     `db:"actor_id"`
	Section string    `db:"section"`
	Old     string    `db:"old"`
	New     string    `db:"new"`
	At      time.Time `db:"at"`
}

// SettingChanges lists the changes of the actor's practice's settings, newest first, for an
// administrator.
func (s *Store) SettingChanges(ctx context.Context, actor User) ([]SettingChange, error) {
	if !PracticeAllowed(actor, actor.PracticeID).ChangeSettings {
		return nil, ErrNotAllowed
	}
	var list []SettingChange
	err := s.db.SelectContext(ctx, &list, `
		SELECT actor_id, section, old::text AS old, new::text AS new, at FROM practice_setting_changes
		WHERE practice_id = $1 ORDER BY id DESC`, actor.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: setting changes of practice %d: %w", actor.PracticeID, err)
	}
	return list, nil
}

// PracticeStaff lists the practice's staff (not its automatic account), for the settings page.
func (s *Store) PracticeStaff(ctx context.Context, v Viewer) ([]User, error) {
	var staff []User
	err := s.db.SelectContext(ctx, &staff, `
		SELECT `+userColumns+` FROM users
		WHERE practice_id = $1 AND role = 'staff' AND NOT automatic
		ORDER BY full_name`, v.PracticeID)
	if err != nil {
		return nil, fmt.Errorf("store: staff of practice %d: %w", v.PracticeID, err)
	}
	return staff, nil
}
