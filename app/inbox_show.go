package app

import (
	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// liveNotice is what a live refresh announces (politely) when it brings someone else's change.
const liveNotice = "New activity in your conversations."

// quietNews is how many events a live refresh reads to tell whether they are only reads.
const quietNews = 20

// onlyReads reports whether news are reads and Mark as Unread alone (at most quietNews of them):
// they change marks and counts, which the refresh shows, but no conversation, so it announces
// nothing (the reader's own read in another tab would otherwise be "new activity").
func onlyReads(news []store.Event) bool {
	if len(news) > quietNews {
		return false
	}
	for _, e := range news {
		if e.Kind != store.EventMessageRead && e.Kind != store.EventMessageUnread {
			return false
		}
	}
	return true
}

// inboxShow lists the open conversations, or all of them with ?all=1.
//
// The page's live stream makes the inbox fetch itself with ?live=1&after=N, N being the public id
// of the newest event the inbox on the page reflects. Nothing newer for this viewer means the event was the echo
// of a change the page has already shown (its own Send or Archive): 204, and htmx leaves the page,
// and its notice, alone. Otherwise the fresh inbox says so in its status line.
func (a *App) inboxShow(c *fiber.Ctx) error {
	notice := Notice{Text: notices[c.Query("notice")]}
	if isFragment(c) && c.Query("live") == "1" {
		news, err := a.store.EventsAfter(c.UserContext(), session(c).User.Viewer(), a.lastID(c.Query("after")), quietNews+1)
		if err != nil {
			return err
		}
		if len(news) == 0 {
			return c.SendStatus(fiber.StatusNoContent)
		}
		if !onlyReads(news) {
			notice = Notice{Text: liveNotice, Live: true}
		}
	}
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c), notice: notice})
	if err != nil {
		return err
	}
	return a.render(c, view{page: "pages/inbox", data: vd, fragment: "partials/inbox-swap", fragmentData: vd})
}
