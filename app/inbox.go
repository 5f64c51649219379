package app

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// inboxOptions say what the inbox shows besides the list.
type inboxOptions struct {
	showAll bool
	open    *MessageNode // a message with its slot open (details, a form, a question)
	only    int64        // show this conversation alone (the whole-page view of one message)
	compose *ComposeForm
	notice  Notice
	made    int64 // the newest event of a change this request made, which the list shows
}

// inboxView loads the viewer's conversations and builds the inbox around them.
func (a *App) inboxView(c *fiber.Ctx, o inboxOptions) (*ViewData, error) {
	sess := session(c)
	v := sess.User.Viewer()
	filter := store.InboxFilter{IncludeArchived: o.showAll, Page: pageParam(c), ConversationID: o.only}
	if v.Role == store.RoleStaff && o.only == 0 {
		filter.Assignment = assignment(c)
	}
	page, err := a.store.InboxPage(c.UserContext(), v, filter)
	if err != nil {
		return nil, err
	}
	vd := a.newViewData(c, "Messages")
	vd.Practice = sess.Practice
	vd.Notice = o.notice
	// Read with the session, before the list, or written by this request before it: the page
	// never claims an event it does not show, and its own change does not come back to it live.
	liveAfter := max(sess.NewestEvent, o.made)
	iv := &InboxView{ShowAll: o.showAll, Staff: v.Role == store.RoleStaff, Assignment: filter.Assignment,
		Compose: o.compose, CSRFToken: vd.CSRFToken, Page: page.Page, More: page.More,
		LiveAfter: a.ids.Event(liveAfter), ids: a.ids, zone: sess.Practice.Location(a.cfg.PracticeZone)}
	if iv.Staff {
		if iv.Awaiting, err = a.store.AwaitingCount(c.UserContext(), v, liveAfter); err != nil {
			return nil, err
		}
	} else {
		ps, err := a.store.PracticeSettings(c.UserContext(), v)
		if err != nil {
			return nil, err
		}
		iv.Standing = &ps.Notice
	}
	if vd.NewCount, err = a.store.NewCount(c.UserContext(), v, liveAfter); err != nil {
		return nil, err
	}
	q, now := iv.Q(), iv.now()
	for _, conv := range page.Conversations {
		// A list with a message's panel open is rendered fresh and not kept.
		h, err := a.convs.HTML(a.convs.key(conv, v, q, now), o.open == nil, func() *ConversationView {
			return conversationView(v, conv, iv, q, now, o.open)
		})
		if err != nil {
			return nil, err
		}
		iv.Conversations = append(iv.Conversations, h)
	}
	vd.Inbox = iv
	return vd, nil
}

// conversationView builds a conversation of the list for the viewer.
func conversationView(v store.Viewer, conv *store.Conversation, iv *InboxView, q string, now time.Time, open *MessageNode) *ConversationView {
	cv := &ConversationView{ID: iv.ids.Conversation(conv.ID), Archived: conv.Archived()}
	if iv.Staff {
		cv.PatientName = conv.PatientName
		cv.Instructions = conv.Instructions
		cv.RequestedStaffName = conv.RequestedStaffName
		cv.Awaiting = conv.AwaitingPractice()
	}
	for _, m := range conv.Messages {
		cv.Messages = append(cv.Messages, buildNode(v, m, cv.ID, iv, q, now, open))
	}
	return cv
}

// fragmentInbox is what a fragment's links and forms need of the inbox (the view they keep: archived
// shown, staff filter, page; and the CSRF token) without loading the list, which a fragment does
// not show.
func (a *App) fragmentInbox(c *fiber.Ctx) *InboxView {
	sess := session(c)
	iv := &InboxView{ShowAll: showAll(c), Staff: sess.User.Role == store.RoleStaff, Page: pageParam(c),
		CSRFToken: maskCSRF(sess.CSRFToken), ids: a.ids, zone: sess.Practice.Location(a.cfg.PracticeZone)}
	if iv.Staff {
		iv.Assignment = assignment(c)
	}
	return iv
}

// messageNode builds a message and its replies for the viewer, asking store.Allowed for the
// actions. open, if it is this message, carries the slot to show under it.
func messageNode(v store.Viewer, m *store.Message, iv *InboxView, open *MessageNode) *MessageNode {
	return buildNode(v, m, iv.ids.Conversation(m.ConversationID), iv, iv.Q(), iv.now(), open)
}

// buildNode is messageNode with what every message of a page shares made once: the public id of
// the conversation, the list's query and the time dates are shown against, in the zone they are
// shown in (InboxView.now).
func buildNode(v store.Viewer, m *store.Message, conv string, iv *InboxView, q string, now time.Time, open *MessageNode) *MessageNode {
	n := &MessageNode{
		ID:             iv.ids.Message(m.ID),
		ConversationID: conv,
		Subject:        m.Subject,
		Sent:           stamp(m.CreatedAt, now),
		Flag:           flagFor(v, m),
		New:            store.Unread(v, m.Facts()),
		Receipt:        receiptFor(v, m, now),
		Actions:        store.Allowed(v, m.Facts()),
		Inbox:          iv,
	}
	n.Links = linksFor(n.ID, conv, n.Actions, q)
	if open != nil && open.ID == n.ID {
		n.Slot = open.Slot
	}
	for _, r := range m.Replies {
		n.Replies = append(n.Replies, buildNode(v, r, conv, iv, q, now, open))
	}
	return n
}

// linksFor makes the addresses of the links and buttons a message allows, msg and conv being the
// public ids of the message and its conversation; q is the list's query.
func linksFor(msg, conv string, a store.Actions, q string) MessageLinks {
	l := MessageLinks{State: stateAction(conv, a, q)}
	if a.ShowDetails {
		l.Details = messageURL(msg, q)
	}
	if a.FollowUp || a.Reply {
		l.Reply = messageReplyURL(msg, q)
	}
	if a.Cancel {
		l.Cancel = messageCancelURL(msg, q)
	}
	if a.MarkUnread {
		l.Unread = messageUnreadURL(msg, q)
	}
	return l
}

// receiptFor says where a message stands: to its author's side, "Sent" until someone it is
// addressed to reads it, then who read it and when; to staff, also who on staff read a patient's
// message. A patient is told it was the care team, and who. Times are in now's zone, as dates.
func receiptFor(v store.Viewer, m *store.Message, now time.Time) string {
	ownSide := m.AuthorRole == v.Role
	if len(m.Reads) == 0 {
		if ownSide {
			return "Sent"
		}
		return ""
	}
	if v.Role == store.RolePatient {
		if !ownSide {
			return "" // the patient's own reads of the practice's messages are theirs to know
		}
		names := make([]string, len(m.Reads))
		for i, r := range m.Reads {
			names[i] = r.ReaderName
		}
		return "Read by the care team · " + formatDate(m.Reads[0].At, now) + " (" + strings.Join(names, ", ") + ")"
	}
	reads := make([]string, len(m.Reads))
	for i, r := range m.Reads {
		reads[i] = r.ReaderName + " · " + formatDate(r.At, now)
	}
	return "Read by " + strings.Join(reads, "; ")
}

// SlotLinks are the addresses an open slot's forms and Close link use. Only an open slot calls
// it, so the hundred messages of a page do not pay for them.
func (n *MessageNode) SlotLinks() SlotLinks {
	q := n.Inbox.Q()
	return SlotLinks{Replies: messageRepliesURL(n.ID), Cancel: messageCancelURL(n.ID, ""),
		Close: messageSlotURL(n.ID, q), List: inboxURL(q), AtMessage: inboxAtURL(n.ID, q)}
}

// stateAction is where a conversation's Archive or Re-Open buttons post, as store.Allowed gives
// them (a thread-wide action, the same on every message); "" if neither applies. q is the list's
// query, which the answer keeps.
func stateAction(id string, a store.Actions, q string) string {
	switch {
	case a.Reopen:
		return conversationReopenURL(id, q)
	case a.Archive:
		return conversationArchiveURL(id, q)
	}
	return ""
}

// stamp is when a message was sent: exact UTC for the machine, shown in now's zone (formatDate).
func stamp(t, now time.Time) Stamp {
	return Stamp{Machine: t.UTC().Format("2006-01-02T15:04:05Z"), Shown: formatDate(t, now)}
}

func flagFor(v store.Viewer, m *store.Message) Flag {
	if m.AuthorID == v.UserID {
		return Flag{Who: "You", Mine: true} // the template writes "Me" and "Sent by you" as they are
	}
	f := Flag{Text: m.AuthorInitials, Label: "From " + m.AuthorName, Who: m.AuthorName}
	if v.Role == store.RoleStaff {
		// Every other author a patient sees is the practice; staff see both sides.
		f.Kind = FlagColleague
		if m.AuthorRole == store.RolePatient {
			f.Kind = FlagPatient
		}
		f.Label += ", " + f.Kind
	}
	return f
}

// now is the time dates are shown against, in the practice's time zone, the zone they are shown in.
func (iv *InboxView) now() time.Time {
	if iv.zone == nil {
		return time.Now().UTC()
	}
	return time.Now().In(iv.zone)
}

// TimeZoneName is the IANA name of the zone the list's dates are in ("America/Chicago"), for the
// script that compares it with the browser's (static/js/time-zone.js).
func (iv *InboxView) TimeZoneName() string { return iv.now().Location().String() }

// TimeZone names the zone the list's dates are in for people: "America/Chicago (CST)", or the
// name alone where the zone has no abbreviation of letters ("UTC", "Asia/Dubai", whose is "+04").
func (iv *InboxView) TimeZone() string {
	now := iv.now()
	name, abbr := now.Location().String(), now.Format("MST")
	if abbr == name || strings.ContainsAny(abbr, "+-0123456789") {
		return name
	}
	return name + " (" + abbr + ")"
}

// Q is the query that keeps the list's view (archived shown, staff filter, page) across links.
func (iv *InboxView) Q() string { return viewQuery(iv.ShowAll, iv.Assignment, iv.Page) }

// LiveURL is where the inbox fetches itself when its live stream reports a change: the same view,
// marked live, with the newest event it reflects (see inboxShow).
func (iv *InboxView) LiveURL() string { return liveURL(iv.Q(), iv.LiveAfter) }

// EventsURL is the page's live stream, replaying what came after the page was made.
func (iv *InboxView) EventsURL() string { return eventsURL(iv.LiveAfter) }

// With is the first page of the same view with another staff filter.
func (iv *InboxView) With(assignment string) string {
	return inboxURL(viewQuery(iv.ShowAll, assignment, 1))
}

// Toggled is the first page of the same view with archived conversations toggled.
func (iv *InboxView) Toggled() string { return inboxURL(viewQuery(!iv.ShowAll, iv.Assignment, 1)) }

// Older is the next page of the list, further back in time.
func (iv *InboxView) Older() string { return inboxURL(viewQuery(iv.ShowAll, iv.Assignment, iv.Page+1)) }

// Newer is the page before this one.
func (iv *InboxView) Newer() string { return inboxURL(viewQuery(iv.ShowAll, iv.Assignment, iv.Page-1)) }

// showAll reads whether the archived conversations are shown, from a link or a form.
func showAll(c *fiber.Ctx) bool { return c.Query("all") == "1" || c.FormValue("all") == "1" }

// assignment reads the staff queue's filter; anything unknown shows everything.
func assignment(c *fiber.Ctx) string {
	a := c.Query("assigned")
	if a == "" {
		a = c.FormValue("assigned")
	}
	switch a {
	case store.AssignedToMe, store.Unassigned, store.NotOpened:
		return a
	}
	return ""
}

// pageParam reads the list's page; anything but a positive number is the first.
func pageParam(c *fiber.Ctx) int {
	p := c.Query("page")
	if p == "" {
		p = c.FormValue("page")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 100000 {
		return 1
	}
	return n
}

// listURL is the inbox address for the view a request was made from.
func listURL(c *fiber.Ctx) string {
	return inboxURL(viewQuery(showAll(c), assignment(c), pageParam(c)))
}

// idParam reads the :id of a URL, a public id that parse reads (a.ids.ParseMessage or
// ParseConversation); anything else, an internal number among them, is a bad link.
func idParam(c *fiber.Ctx, parse func(string) (int64, bool)) (int64, error) {
	id, ok := parse(c.Params("id"))
	if !ok || id <= 0 {
		return 0, fiber.NewError(fiber.StatusBadRequest, "That link is not valid: it does not name a message or conversation.")
	}
	return id, nil
}

// Notices shown after a change, by the short code a redirect carries.
var notices = map[string]string{
	"sent":      "Your message was sent.",
	"archived":  "The conversation was archived.",
	"reopened":  "The conversation was re-opened.",
	"cancelled": "Your message was cancelled and deleted.",
	"unread":    "The message was marked as unread.",
}

// changed answers a successful change: for htmx, the refreshed inbox (order may have changed)
// with a notice; otherwise a redirect to it, so a reload does not post again.
func (a *App) changed(c *fiber.Ctx, code string, events ...store.Event) error {
	var made int64
	for _, e := range events {
		made = max(made, e.ID)
		a.publish(c, e)
	}
	if !isFragment(c) {
		return c.Redirect(withQuery(listURL(c), "notice="+code), fiber.StatusSeeOther)
	}
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c), notice: Notice{Text: notices[code]}, made: made})
	if err != nil {
		return err
	}
	c.Set("HX-Push-Url", listURL(c))
	return a.render(c, view{page: "pages/inbox", data: vd, fragment: "partials/inbox-swap", fragmentData: vd})
}

// publish tells live pages of a committed change's event (none when its ID is 0).
func (a *App) publish(c *fiber.Ctx, e store.Event) {
	if err := a.hub.Publish(c.UserContext(), e); err != nil {
		// The change is committed and its event is in PostgreSQL; live pages catch up from there.
		a.log.Warn("publish failed", "request_id", requestID(c), "event_id", e.ID, "error", err.Error())
	}
}

// refused answers an action that no longer applies: the inbox as it now is, with the reason.
func (a *App) refused(c *fiber.Ctx, status int, reason string) error {
	vd, err := a.inboxView(c, inboxOptions{showAll: showAll(c), notice: Notice{Text: reason, Error: true}})
	if err != nil {
		return err
	}
	if isFragment(c) {
		// The answer is the whole inbox, also when the request aimed at a message's slot (the
		// Cancel and Reply links): htmx swaps error statuses too, and would nest it there.
		c.Set("HX-Retarget", "#inbox")
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: "pages/inbox", data: vd, fragment: "partials/inbox-swap", fragmentData: vd})
}
