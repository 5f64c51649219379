package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
	"securemessages/views/htmltest"
)

// TestFormatDate: a date shows in the zone of the time it is shown against (the practice's), as
// a time today, a day and time this year, and with the year before, whatever the server's zone.
func TestFormatDate(t *testing.T) {
	zone := func(name string) *time.Location {
		z, err := store.LoadZone(name)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	chicago, berlin := zone("America/Chicago"), zone("Europe/Berlin")
	// 01:59 UTC on February 10th is 7:59 PM on February 9th in Chicago, the next morning in Berlin.
	sent := time.Date(2026, 2, 10, 1, 59, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		now  time.Time
		want string
	}{
		{"today in Chicago", time.Date(2026, 2, 9, 22, 0, 0, 0, chicago), "7:59 PM"},
		{"today in Berlin", time.Date(2026, 2, 10, 9, 0, 0, 0, berlin), "2:59 AM"},
		{"yesterday in Chicago", time.Date(2026, 2, 10, 8, 0, 0, 0, chicago), "Feb 9, 7:59 PM"},
		{"today in UTC", time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC), "1:59 AM"},
		{"later this year in Berlin", time.Date(2026, 12, 31, 23, 0, 0, 0, berlin), "Feb 10, 2:59 AM"},
		{"the next year in Chicago", time.Date(2027, 1, 2, 9, 0, 0, 0, chicago), "Feb 9, 2026, 7:59 PM"},
		// New Year's Eve in Chicago is already the new year in UTC: the year is Chicago's.
		{"New Year's Eve in Chicago", time.Date(2026, 12, 31, 20, 0, 0, 0, chicago), "Feb 9, 7:59 PM"},
	} {
		if got := formatDate(sent, c.now); got != c.want {
			t.Errorf("%s: formatDate(%s, %s) = %q, want %q", c.name, sent, c.now, got, c.want)
		}
	}
	newYear := time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC) // 9 PM on Dec 31st 2026 in Chicago
	if got, want := formatDate(newYear, time.Date(2026, 12, 31, 22, 0, 0, 0, chicago)), "9:00 PM"; got != want {
		t.Errorf("a message of New Year's Eve in Chicago, sent after midnight UTC: %q, want %q", got, want)
	}
	if got, want := formatDate(newYear, time.Date(2027, 1, 1, 4, 0, 0, 0, time.UTC)), "3:00 AM"; got != want {
		t.Errorf("the same message in UTC: %q, want %q", got, want)
	}
}

// TestInboxTimeZone: the list names its zone by its IANA name, with the abbreviation where the
// zone has one of letters.
func TestInboxTimeZone(t *testing.T) {
	for name, want := range map[string][]string{
		"America/Chicago": {"America/Chicago (CST)", "America/Chicago (CDT)"}, // by the season the test runs in
		"UTC":             {"UTC"},
		"Asia/Dubai":      {"Asia/Dubai"}, // its abbreviation is "+04"
	} {
		z, err := store.LoadZone(name)
		if err != nil {
			t.Fatal(err)
		}
		iv := &InboxView{zone: z}
		if got := iv.TimeZone(); !slices.Contains(want, got) {
			t.Errorf("zone %s is named %q, want one of %q", name, got, want)
		}
		if got := iv.TimeZoneName(); got != name {
			t.Errorf("zone %s: TimeZoneName %q", name, got)
		}
	}
	if _, err := store.LoadZone("Local"); err == nil {
		t.Error(`LoadZone("Local") is accepted: a practice's zone would be the server's`)
	}
	if _, err := store.LoadZone("Mars/Olympus_Mons"); err == nil {
		t.Error("an unknown zone is accepted")
	}
}

// TestInboxShowsPracticeTime: the inbox shows dates in the practice's zone and names it, the
// <time datetime> stays exact UTC, and a conversation kept for the list is not shown again in a
// zone the practice has left.
func TestInboxShowsPracticeTime(t *testing.T) {
	t.Parallel()
	both(t, func(t *testing.T, htmx bool) {
		e := newEnv(t)
		lab := e.mariasInbox(t).lab
		patient := e.signIn(t, maria).variant(htmx)
		for _, name := range []string{storetest.TimeZone, "Asia/Tokyo"} {
			if _, err := e.st.DB().Exec(`UPDATE practices SET time_zone = $1`, name); err != nil {
				t.Fatal(err)
			}
			zone, err := store.LoadZone(name)
			if err != nil {
				t.Fatal(err)
			}
			before := formatDate(lab.CreatedAt, time.Now().In(zone))
			inbox := inboxOf(t, patient.get(t, "/inbox"), htmx)
			after := formatDate(lab.CreatedAt, time.Now().In(zone)) // the same, unless midnight passed
			when := e.messageLI(inbox, lab.ID).First(htmltest.Tag("time"))
			if got := when.TextContent(); got != before && got != after {
				t.Errorf("practice in %s: the message shows %q, want %q", name, got, before)
			}
			if got, want := when.Attr["datetime"], lab.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"); got != want {
				t.Errorf("practice in %s: datetime %q, want %q", name, got, want)
			}
			if got := inbox.Attr["data-time-zone"]; got != name {
				t.Errorf("#inbox's data-time-zone %q, want %q", got, name)
			}
			note := inbox.First(func(n *htmltest.Node) bool { return n.HasClass("time-zone") })
			if note == nil || !strings.Contains(note.TextContent(), "Times are in the practice's time zone, "+name) {
				t.Errorf("practice in %s: the zone is not named: %v", name, note)
			}
		}
	})
}

// TestConfigPracticeTimeZone: the zone of practices that name none is UTC unless
// PRACTICE_TIME_ZONE names an IANA zone; anything else stops start-up with a line that says what
// is wanted.
func TestConfigPracticeTimeZone(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": "postgres://localhost/app", "MESSAGE_KEYS": storetest.KeySpec}
	cfg, err := ConfigFromEnv(getenv(vars))
	if err != nil || cfg.PracticeZone != time.UTC {
		t.Errorf("unset: %v, %v; want UTC", cfg.PracticeZone, err)
	}
	vars["PRACTICE_TIME_ZONE"] = "America/Chicago"
	if cfg, err = ConfigFromEnv(getenv(vars)); err != nil || cfg.PracticeZone.String() != "America/Chicago" {
		t.Errorf("America/Chicago: %v, %v", cfg.PracticeZone, err)
	}
	for _, bad := range []string{"Central", "Local", "America/Nowhere"} {
		vars["PRACTICE_TIME_ZONE"] = bad
		if _, err := ConfigFromEnv(getenv(vars)); err == nil || !strings.Contains(err.Error(), "PRACTICE_TIME_ZONE") {
			t.Errorf("PRACTICE_TIME_ZONE=%q: %v, want a line naming it", bad, err)
		}
	}
}
