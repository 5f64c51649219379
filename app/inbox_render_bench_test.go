package app

import (
	"io"
	"testing"
	"time"

	"securemessages/store"
)

// BenchmarkInboxRender renders a full inbox page of 20 conversations of 5 messages (what the
// first page of a patient with years of history shows) with no database: the views alone, built
// and rendered as inboxView does, first with no caches (every conversation built and rendered,
// as after a change to each), then with them (the page shown again). The parallel runs prove that
// pages render side by side (CONVENTIONS 8: a render that names a layout would hold the engine's
// lock); with -cpuprofile it shows where a render's time goes.
//
//	go test ./app -run '^$' -bench InboxRender -cpuprofile cpu.out
func BenchmarkInboxRender(b *testing.B) {
	for _, tc := range []struct {
		name    string
		entries int
	}{{"uncached", 0}, {"cached", defaultCacheEntries}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkInboxRender(b, tc.entries) })
	}
}

func benchmarkInboxRender(b *testing.B, entries int) {
	engine, convs := testViews(b, entries)
	page := benchInboxPage(convs)
	render := func(b *testing.B) {
		vd, err := page()
		if err != nil {
			b.Fatal(err)
		}
		if err := engine.Render(io.Discard, "pages/inbox", vd); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			render(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				render(b)
			}
		})
	})
}

// benchInboxPage makes the page of BenchmarkInboxRender, a patient's first page of 20
// conversations of 5 messages each, through convs as inboxView does.
func benchInboxPage(convs *conversationHTML) func() (*ViewData, error) {
	patient := store.User{ID: 7, PracticeID: 1, Role: store.RolePatient, FullName: "Maria Lopez", Initials: "ML"}
	var list []*store.Conversation
	id := int64(1000)
	for c := int64(1); c <= store.PageSize; c++ {
		var root, parent *store.Message
		for k := 0; k < 5; k++ {
			m := &store.Message{ID: id, ConversationID: c, AuthorID: 7, AuthorRole: store.RolePatient,
				AuthorName: "Maria Lopez", AuthorInitials: "ML", Subject: "Refill for my blood pressure medication",
				CreatedAt: time.Now().Add(-time.Duration(c*24+int64(k)) * time.Hour), ActedOn: k < 4}
			if k%2 == 1 {
				m.AuthorID, m.AuthorRole, m.AuthorName, m.AuthorInitials = 3, store.RoleStaff, "Dr. Amelia Chen", "AC"
			}
			id++
			if root == nil {
				root = m
			} else {
				parent.Replies = append(parent.Replies, m)
			}
			parent = m
		}
		list = append(list, &store.Conversation{ID: c, Revision: c, Messages: []*store.Message{root}})
	}
	return func() (*ViewData, error) {
		vd := &ViewData{Title: "Messages", User: &patient, Practice: store.Practice{ID: 1, Name: "Riverside Family Medicine"},
			CSRFToken: maskCSRF("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")}
		vd.CSRFHeaders = csrfHeaders(vd.CSRFToken)
		iv := &InboxView{CSRFToken: vd.CSRFToken, Page: 1, More: true, LiveAfter: testIDs.Event(1234), ids: testIDs}
		q, now, v := iv.Q(), time.Now(), patient.Viewer()
		for _, conv := range list {
			h, err := convs.HTML(convs.key(conv, v, q, now), true, func() *ConversationView {
				return conversationView(v, conv, iv, q, now, nil)
			})
			if err != nil {
				return nil, err
			}
			iv.Conversations = append(iv.Conversations, h)
		}
		vd.Inbox = iv
		return vd, nil
	}
}
