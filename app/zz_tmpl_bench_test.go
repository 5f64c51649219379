package app

import (
	"html/template"
	"io"
	"testing"
	"time"

	"securemessages/static"
	"securemessages/store"
	"securemessages/views"
)

func BenchmarkTmpInboxRender(b *testing.B) {
	assets, _ := static.Load()
	engine, err := views.New(template.FuncMap{"asset": assets.URL, "date": formatDate, "fee": store.FormatFee, "maxBody": func() int { return store.MaxBodyLen }})
	if err != nil {
		b.Fatal(err)
	}
	u := store.User{ID: 7, PracticeID: 1, Role: store.RolePatient, FullName: "Maria Lopez"}
	v := u.Viewer()
	vd := &ViewData{Title: "Messages", User: &u, CSRFToken: maskCSRF("abcdefghijklmnopqrstuvwxyz0123456789abcdefg"), Practice: store.Practice{Name: "Riverside"}}
	vd.CSRFHeaders = csrfHeaders(vd.CSRFToken)
	iv := &InboxView{CSRFToken: vd.CSRFToken, Page: 1, More: true, LiveAfter: 1234}
	id := int64(1000)
	for c := 0; c < 50; c++ {
		cv := &ConversationView{ID: int64(c), Inbox: iv}
		var parent *store.Message
		root := &store.Message{ID: id, ConversationID: int64(c), AuthorID: 7, AuthorRole: store.RolePatient, AuthorName: "Maria Lopez", AuthorInitials: "ML", Subject: "Refill for my blood pressure medication", CreatedAt: time.Now().Add(-time.Hour * 24 * 40)}
		id++
		parent = root
		for k := 0; k < 4; k++ {
			m := &store.Message{ID: id, ConversationID: int64(c), AuthorID: 3, AuthorRole: store.RoleStaff, AuthorName: "Dr. Amelia Chen", AuthorInitials: "AC", Subject: "Re: Refill for my blood pressure medication", CreatedAt: time.Now().Add(-time.Hour * 24 * 30), ActedOn: k < 3}
			if k%2 == 1 {
				m.AuthorID, m.AuthorRole = 7, store.RolePatient
			}
			id++
			parent.Replies = append(parent.Replies, m)
			parent = m
		}
		cv.Messages = append(cv.Messages, messageNode(v, root, iv, nil))
		iv.Conversations = append(iv.Conversations, cv)
	}
	vd.Inbox = iv
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := engine.Render(io.Discard, "pages/inbox", vd); err != nil {
			b.Fatal(err)
		}
	}
}
