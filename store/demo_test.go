package store_test

import (
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

// TestLoadDemo: the demo holds two practices of three staff, an administrator and two patients
// each, and loading it again changes nothing.
func TestLoadDemo(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	before := dbState(t, f.s)
	signIns, err := f.s.LoadDemo(t.Context(), storetest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, before, dbState(t, f.s))
	if len(signIns) != 12 {
		t.Fatalf("%d sign-ins, want 12", len(signIns))
	}
	roles := map[string]map[store.Role]int{}
	emails := map[string]bool{}
	for _, si := range signIns {
		if roles[si.Practice] == nil {
			roles[si.Practice] = map[store.Role]int{}
		}
		roles[si.Practice][si.Role]++
		if emails[si.Email] || si.Name == "" {
			t.Errorf("sign-in %+v", si)
		}
		emails[si.Email] = true
	}
	for _, p := range []string{"Riverside Family Medicine", "Hillcrest Pediatrics"} {
		if roles[p][store.RoleStaff] != 4 || roles[p][store.RolePatient] != 2 {
			t.Errorf("%s: %v", p, roles[p])
		}
	}
	if !emails["maria.lopez@riverside.example"] || !emails["physician@hillcrest.example"] ||
		!emails["admin@riverside.example"] || !emails["admin@hillcrest.example"] {
		t.Errorf("demo addresses changed: %v", emails)
	}
	again, err := f.s.DemoSignIns(t.Context())
	if err != nil || len(again) != len(signIns) || again[0] != signIns[0] {
		t.Errorf("DemoSignIns = %v, %v", again, err)
	}
	// Every demo conversation has at least one message, and the outbox holds one event per send
	// and archive.
	if n := count(t, f.s, `SELECT count(*) FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)`); n != 0 {
		t.Errorf("%d empty conversations", n)
	}
	if e, m, a := count(t, f.s, `SELECT count(*) FROM events`), count(t, f.s, `SELECT count(*) FROM messages`),
		count(t, f.s, `SELECT count(*) FROM conversations WHERE archived_at IS NOT NULL`); e != m+a {
		t.Errorf("%d events for %d messages and %d archives", e, m, a)
	}
}

// TestLoadDemoOnEmptyDatabase: the loader fills a fresh database through the store's methods.
func TestLoadDemoOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	signIns, err := s.LoadDemo(t.Context(), storetest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	if len(signIns) != 12 {
		t.Errorf("%d sign-ins", len(signIns))
	}
	if n := count(t, s, `SELECT count(*) FROM messages`); n == 0 {
		t.Error("no messages")
	}
}
