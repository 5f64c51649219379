package store_test

import (
	"fmt"
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

// BenchmarkInboxPage reads the first page of a list with 20 conversations of five messages each,
// as a patient and as staff: the store's share of an inbox render (go test ./store -run '^$'
// -bench InboxPage -benchmem). "read" keeps no conversations, so every page reads them all (as
// after a change to each); "kept" keeps them, as the server does, so a repeated page reads only
// the ids and revisions. The time includes PostgreSQL on loopback; the allocations are the
// server's alone.
func BenchmarkInboxPage(b *testing.B) {
	s := storetest.NewDemo(b)
	ctx := b.Context()
	viewer := func(email string) store.Viewer {
		u, err := s.UserByEmail(ctx, email)
		if err != nil {
			b.Fatal(err)
		}
		return u.Viewer()
	}
	patient, nurse := viewer("tom.becker@riverside.example"), viewer("nurse@riverside.example")
	for i := range store.PageSize {
		sent := start(b, s, patient, store.NewConversation{Subject: fmt.Sprintf("Question %d", i)})
		parent := sent.MessageID
		for j := range 4 {
			who := patient
			if j%2 == 0 {
				who = nurse
			}
			parent = reply(b, s, who, parent, fmt.Sprintf("Answer %d.%d", i, j)).MessageID
		}
	}
	for _, keep := range []int{0, store.PageSize} {
		s.KeepConversations(keep)
		for name, v := range map[string]store.Viewer{"patient": patient, "staff": nurse} {
			name = map[int]string{0: "read/", store.PageSize: "kept/"}[keep] + name
			b.Run(name, func(b *testing.B) {
				benchmarkPage(b, s, v)
			})
		}
	}
}

func benchmarkPage(b *testing.B, s *store.Store, v store.Viewer) {
	ctx := b.Context()
	for b.Loop() {
		page, err := s.InboxPage(ctx, v, store.InboxFilter{})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Conversations) != store.PageSize {
			b.Fatalf("%d conversations", len(page.Conversations))
		}
	}
}
