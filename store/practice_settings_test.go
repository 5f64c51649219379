package store_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"securemessages/store"
)

// TestPracticeAllowed: only an administrator of the practice may change its settings.
func TestPracticeAllowed(t *testing.T) {
	t.Parallel()
	admin := store.User{ID: 1, PracticeID: 7, Role: store.RoleStaff, Administrator: true}
	for _, tc := range []struct {
		name     string
		u        store.User
		practice int64
		want     bool
	}{
		{"administrator of the practice", admin, 7, true},
		{"administrator of another practice", admin, 8, false},
		{"staff without the right", store.User{ID: 2, PracticeID: 7, Role: store.RoleStaff}, 7, false},
		{"a patient whose row says administrator", store.User{ID: 3, PracticeID: 7, Role: store.RolePatient, Administrator: true}, 7, false},
		{"a patient", store.User{ID: 4, PracticeID: 7, Role: store.RolePatient}, 7, false},
		{"nobody", store.User{PracticeID: 7, Role: store.RoleStaff, Administrator: true}, 7, false},
	} {
		if got := store.PracticeAllowed(tc.u, tc.practice).ChangeSettings; got != tc.want {
			t.Errorf("%s: ChangeSettings = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func demoUser(t *testing.T, s *store.Store, email string) store.User {
	t.Helper()
	u, err := s.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return u
}

func settingsOf(t *testing.T, s *store.Store, v store.Viewer) store.PracticeSettings {
	t.Helper()
	ps, err := s.PracticeSettings(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestSettingsSections: each section refuses bad values by field, changing nothing, and saves good
// ones with a change row holding the old and new values and a row in the audit chain.
func TestSettingsSections(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	admin := demoUser(t, f.s, "admin@riverside.example")
	ps := settingsOf(t, f.s, f.maria)
	if !ps.Fee.On || ps.Fee.Cents != 2500 || ps.Limits.MaxBody != store.MaxBodyLen || !ps.Compose.StaffChoice ||
		len(ps.Compose.Methods) != 3 || len(ps.Compose.Listed) != 3 || !ps.Hours.Days[time.Monday].Open || ps.Hours.Days[time.Sunday].Open {
		t.Fatalf("defaults: %+v", ps)
	}
	nurse := f.nurse.UserID
	for _, tc := range []struct {
		section string
		bad     func() error
		field   string
		good    func() error
		check   func(ps store.PracticeSettings) bool
	}{
		{store.SectionFee,
			func() error {
				return f.s.UpdateFee(ctx, admin, origin, store.FeeSettings{On: true, Cents: -5, ConsentText: "I agree to {fee}.", AppliesTo: "all"})
			}, "fee_amount",
			func() error {
				return f.s.UpdateFee(ctx, admin, origin, store.FeeSettings{On: true, Cents: 1500, ConsentText: "I accept {fee}.", AppliesTo: "new"})
			},
			func(ps store.PracticeSettings) bool { return ps.Fee.Cents == 1500 && ps.Fee.AppliesTo == "new" }},
		{store.SectionFee,
			func() error {
				return f.s.UpdateFee(ctx, admin, origin, store.FeeSettings{On: true, Cents: 100, ConsentText: "I agree.", AppliesTo: "all"})
			}, "consent_text", nil, nil},
		{store.SectionLimits,
			func() error { return f.s.UpdateLimits(ctx, admin, origin, store.LimitSettings{MaxBody: 0, PerDay: 3}) }, "max_body",
			func() error {
				return f.s.UpdateLimits(ctx, admin, origin, store.LimitSettings{MaxBody: 500, PerDay: 3, PerWeek: 10})
			},
			func(ps store.PracticeSettings) bool {
				return ps.Limits == store.LimitSettings{MaxBody: 500, PerDay: 3, PerWeek: 10}
			}},
		{store.SectionLimits,
			func() error {
				return f.s.UpdateLimits(ctx, admin, origin, store.LimitSettings{MaxBody: 500, PerDay: 100000})
			}, "per_day", nil, nil},
		{store.SectionCompose,
			func() error {
				return f.s.UpdateCompose(ctx, admin, origin, store.ComposeSettings{StaffChoice: true, Listed: []int64{f.hNurse.UserID}, Methods: []string{"phone"}})
			}, "listed",
			func() error {
				return f.s.UpdateCompose(ctx, admin, origin, store.ComposeSettings{StaffChoice: true, Listed: []int64{nurse}, Methods: []string{"phone"}})
			},
			func(ps store.PracticeSettings) bool {
				return len(ps.Compose.Listed) == 1 && ps.Compose.Listed[0] == nurse && ps.Compose.Methods[0] == "phone"
			}},
		{store.SectionNotice,
			func() error { return f.s.UpdateNotice(ctx, admin, origin, store.NoticeSettings{Notice: "  "}) }, "notice",
			func() error {
				return f.s.UpdateNotice(ctx, admin, origin, store.NoticeSettings{Notice: "Not for emergencies.", ReplyPromise: "We answer within a day."})
			},
			func(ps store.PracticeSettings) bool { return ps.Notice.ReplyPromise == "We answer within a day." }},
		{store.SectionHours,
			func() error {
				return f.s.UpdateHours(ctx, admin, origin, store.HoursSettings{TimeZone: "Mars/Olympus"})
			}, "time_zone",
			func() error {
				h := store.HoursSettings{TimeZone: "America/Chicago", Holidays: []store.Holiday{{Day: "2026-12-25", Name: "Christmas Day"}}}
				h.Days[time.Saturday] = store.DayHours{Open: true, Opens: "09:00", Closes: "12:00"}
				return f.s.UpdateHours(ctx, admin, origin, h)
			},
			func(ps store.PracticeSettings) bool {
				return ps.Hours.TimeZone == "America/Chicago" && ps.Hours.Days[time.Saturday].Opens == "09:00" &&
					!ps.Hours.Days[time.Monday].Open && len(ps.Hours.Holidays) == 1
			}},
		{store.SectionHours,
			func() error {
				h := store.HoursSettings{TimeZone: "America/Chicago"}
				h.Days[time.Monday] = store.DayHours{Open: true, Opens: "17:00", Closes: "08:00"}
				return f.s.UpdateHours(ctx, admin, origin, h)
			}, "hours_mon", nil, nil},
		{store.SectionAutoReply,
			func() error {
				return f.s.UpdateAutoReply(ctx, admin, origin, store.AutoReplySettings{On: true, Text: strings.Repeat("x", 1001)})
			}, "auto_reply_text",
			func() error {
				return f.s.UpdateAutoReply(ctx, admin, origin, store.AutoReplySettings{On: true, Text: "We are closed."})
			},
			func(ps store.PracticeSettings) bool { return ps.AutoReply.On && ps.AutoReply.Text == "We are closed." }},
	} {
		before := dbState(t, f.s)
		err := tc.bad()
		var invalid *store.ValidationError
		if !errors.As(err, &invalid) || invalid.Fields[tc.field] == "" {
			t.Errorf("%s: bad value: %v, want a problem with %s", tc.section, err, tc.field)
		}
		assertUnchanged(t, before, dbState(t, f.s))
		if tc.good == nil {
			continue
		}
		changes := count(t, f.s, `SELECT count(*) FROM practice_setting_changes`)
		if err := tc.good(); err != nil {
			t.Fatalf("%s: %v", tc.section, err)
		}
		if !tc.check(settingsOf(t, f.s, f.maria)) {
			t.Errorf("%s: not saved: %+v", tc.section, settingsOf(t, f.s, f.maria))
		}
		if n := count(t, f.s, `SELECT count(*) FROM practice_setting_changes`); n != changes+1 {
			t.Errorf("%s: %d change rows, want %d", tc.section, n, changes+1)
		}
		if n := count(t, f.s, `SELECT count(*) FROM practice_setting_changes WHERE id = (SELECT max(id) FROM practice_setting_changes)
			AND section = $1 AND actor_id = $2 AND old <> new`, tc.section, admin.ID); n != 1 {
			t.Errorf("%s: the change row does not hold the old and the new value", tc.section)
		}
		if a := lastAudit(t, f.s); a.Action != "practice_settings_changed:"+tc.section || a.ActorID != admin.ID {
			t.Errorf("%s: audit %+v", tc.section, a)
		}
	}
	// The fee's old value is kept as it was.
	if n := count(t, f.s, `SELECT count(*) FROM practice_setting_changes WHERE section = 'fee'
		AND (old->>'cents')::int = 2500 AND (new->>'cents')::int = 1500`); n != 1 {
		t.Error("the fee change does not record 2500 -> 1500")
	}
	if n := count(t, f.s, `SELECT message_fee_cents FROM practices WHERE id = $1`, f.maria.PracticeID); n != 1500 {
		t.Errorf("fee charged %d, want 1500", n)
	}
}

// TestSettingsOnlyByTheirAdministrator: staff without the right, patients and another practice's
// administrator change nothing.
func TestSettingsOnlyByTheirAdministrator(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	foreign := demoUser(t, f.s, "admin@hillcrest.example")
	good := store.LimitSettings{MaxBody: 500, PerDay: 1}
	for _, u := range []store.User{demoUser(t, f.s, "physician@riverside.example"), demoUser(t, f.s, "maria.lopez@riverside.example"), foreign} {
		before := dbState(t, f.s)
		// A foreign administrator's own practice is theirs; a forged user row aimed at Riverside is refused.
		target := u
		target.PracticeID = f.maria.PracticeID
		if err := f.s.UpdateLimits(t.Context(), target, origin, good); !errors.Is(err, store.ErrNotAllowed) {
			t.Errorf("%s: %v, want ErrNotAllowed", u.Email, err)
		}
		assertUnchanged(t, before, dbState(t, f.s))
	}
	if settingsOf(t, f.s, f.maria).Limits.PerDay != 0 {
		t.Error("Riverside's limits changed")
	}
}

// TestLimitsFromSettings: a patient's sends are bounded by the practice's per-day limit and its
// longest message; where the practice sets no count, the configured limit applies; staff never.
func TestLimitsFromSettings(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	f.s.LimitSends(store.SendLimits{Messages: 1, Window: time.Hour})
	admin := demoUser(t, f.s, "admin@riverside.example")
	if err := f.s.UpdateLimits(ctx, admin, origin, store.LimitSettings{MaxBody: 200, PerDay: 2}); err != nil {
		t.Fatal(err)
	}
	send := func(v store.Viewer, body string) error {
		_, err := f.s.StartConversation(ctx, v, origin, store.NewConversation{PatientID: f.maria.UserID, Subject: "Limits", Body: body,
			BillingConsent: true, SubmitKey: uuid.NewString()})
		return err
	}
	var invalid *store.ValidationError
	if err := send(f.maria, strings.Repeat("a", 201)); !errors.As(err, &invalid) || !strings.Contains(invalid.Fields["body"], "at most 200") {
		t.Errorf("a message over the practice's longest: %v", err)
	}
	for i := range 2 {
		if err := send(f.maria, "fine"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	var limited *store.SendLimited
	if err := send(f.maria, "fine"); !errors.As(err, &limited) || limited.Limit.Window != 24*time.Hour || limited.Limit.Messages != 2 {
		t.Errorf("third send of the day: %v", err)
	}
	for range 3 {
		if err := send(f.physician, strings.Repeat("a", 300)); err != nil {
			t.Errorf("staff are never limited: %v", err)
		}
	}
	// Hillcrest sets no count: the configured one (1 an hour) holds.
	if err := send(f.grace, "fine"); err != nil {
		t.Fatal(err)
	}
	if err := send(f.grace, "fine"); !errors.As(err, &limited) || limited.Limit.Window != time.Hour {
		t.Errorf("the configured limit where the practice sets none: %v", err)
	}
}

// TestComposeAndFeeSettingsApplyToSends: a method not offered or a staff member when the choice
// is hidden is refused; a fee for new conversations only asks no consent of a reply.
func TestComposeAndFeeSettingsApplyToSends(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	admin := demoUser(t, f.s, "admin@riverside.example")
	if err := f.s.UpdateCompose(ctx, admin, origin, store.ComposeSettings{Methods: []string{"message"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.UpdateFee(ctx, admin, origin, store.FeeSettings{On: true, Cents: 900, ConsentText: "I agree to pay {fee}.", AppliesTo: "new"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "s", Body: "b", ResponseMethod: "phone",
		RequestedStaffID: f.nurse.UserID, BillingConsent: true, SubmitKey: uuid.NewString()})
	var invalid *store.ValidationError
	if !errors.As(err, &invalid) || invalid.Fields["method"] == "" || invalid.Fields["staff"] == "" {
		t.Fatalf("a method not offered and a staff member with the choice hidden: %v", err)
	}
	_, err = f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "s", Body: "b", SubmitKey: uuid.NewString()})
	if !errors.As(err, &invalid) || !strings.Contains(invalid.Fields["consent"], "$9.00") {
		t.Fatalf("a new conversation without consent: %v", err)
	}
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Fee for new only", ResponseMethod: "message"})
	r := reply(t, f.s, f.physician, sent.MessageID, "Answer")
	if _, err := f.s.SendReply(ctx, f.maria, origin, store.NewReply{ParentID: r.MessageID, Body: "Thanks", SubmitKey: uuid.NewString()}); err != nil {
		t.Errorf("a reply where the fee is for new conversations only: %v", err)
	}
}

// TestAutoReply: outside business hours (the practice's zone, its holidays) a patient's message is
// answered at once, once a conversation a day, without ending Cancel or the patient's last word.
func TestAutoReply(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	admin := demoUser(t, f.s, "admin@riverside.example")
	if err := f.s.UpdateAutoReply(ctx, admin, origin, store.AutoReplySettings{On: true, Text: "We are closed; we will answer when we open."}); err != nil {
		t.Fatal(err)
	}
	h := store.HoursSettings{TimeZone: "America/Chicago", Holidays: []store.Holiday{{Day: "2026-12-24", Name: "Christmas Eve"}}}
	for d := time.Monday; d <= time.Friday; d++ {
		h.Days[d] = store.DayHours{Open: true, Opens: "08:00", Closes: "17:00"}
	}
	if err := f.s.UpdateHours(ctx, admin, origin, h); err != nil {
		t.Fatal(err)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, chicago) // a Wednesday, open
	f.s.SetClock(func() time.Time { return clock })
	autos := func(conv int64) int {
		return count(t, f.s, `SELECT count(*) FROM messages m JOIN users a ON a.id = m.author_id WHERE m.conversation_id = $1 AND a.automatic`, conv)
	}

	open := start(t, f.s, f.maria, store.NewConversation{Subject: "In hours"})
	if n := autos(open.ConversationID); n != 0 {
		t.Errorf("%d automatic replies in business hours", n)
	}

	clock = time.Date(2026, 12, 2, 19, 30, 0, 0, chicago) // the same Wednesday, evening
	after := start(t, f.s, f.maria, store.NewConversation{Subject: "After hours"})
	if n := autos(after.ConversationID); n != 1 {
		t.Fatalf("%d automatic replies after hours, want 1", n)
	}
	c := conversationBySubject(t, f.s, f.maria, "After hours")
	if len(c.Messages[0].Replies) != 1 || !strings.HasPrefix(c.Messages[0].Replies[0].Subject, store.AutoReplySubject) {
		t.Fatalf("the automatic reply is not under the message, marked: %+v", c.Messages[0].Replies)
	}
	if c.Messages[0].ActedOn || !store.Allowed(f.maria, c.Messages[0].Facts()).Cancel {
		t.Error("the automatic reply ended Cancel")
	}
	if n := count(t, f.s, `SELECT count(*) FROM conversations WHERE id = $1 AND patient_has_last_word`, after.ConversationID); n != 1 {
		t.Error("the automatic reply took the patient's last word")
	}
	if a := lastAudit(t, f.s); a.Action != "auto_reply_sent" {
		t.Errorf("audit %+v", a)
	}
	// Once a conversation a day.
	reply(t, f.s, f.maria, after.MessageID, "One more thing")
	if n := autos(after.ConversationID); n != 1 {
		t.Errorf("%d automatic replies the same day, want 1", n)
	}
	clock = time.Date(2026, 12, 24, 11, 0, 0, 0, chicago) // a Thursday, but a holiday
	follow := reply(t, f.s, f.maria, after.MessageID, "Still waiting")
	if n := autos(after.ConversationID); n != 2 {
		t.Errorf("%d automatic replies on a holiday, want 2", n)
	}
	// Cancel still applies, and takes the automatic reply with the message.
	if _, err := f.s.Cancel(ctx, f.maria, origin, follow.MessageID); err != nil {
		t.Fatalf("cancel after an automatic reply: %v", err)
	}
	if n := autos(after.ConversationID); n != 1 {
		t.Errorf("%d automatic replies after the cancel, want 1", n)
	}
	// Staff writing after hours get none; the automatic account signs nobody in and is listed nowhere.
	staffConv := start(t, f.s, f.physician, store.NewConversation{PatientID: f.maria.UserID, Subject: "From staff"})
	if n := autos(staffConv.ConversationID); n != 0 {
		t.Errorf("%d automatic replies to staff", n)
	}
	signIns, err := f.s.DemoSignIns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range signIns {
		if strings.Contains(si.Email, "automatic") {
			t.Errorf("the automatic account is listed: %+v", si)
		}
	}
	if _, err := f.s.UserByEmail(ctx, "automatic-reply+"+itoa(f.maria.PracticeID)+"@practice.invalid"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the automatic account can be found to sign in: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
