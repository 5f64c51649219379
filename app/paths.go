package app

import (
	"net/url"
	"strconv"
	"strings"
)

// The product's addresses that carry an id or the list's view are built here, and only here: the
// handlers redirect to them and the view model hands them to the templates whole, so no template
// joins the parts of a URL. Each names a route of routes.go. Fixed addresses ("/signin",
// "/messages/new") are written as they are where they are used.
//
// q is a list query made by viewQuery ("" or "?all=1&assigned=mine&page=2"): it keeps the view of
// the list (archived shown, staff filter, page) across a link; ids are public (store.PublicIDs).

// inboxURL is the inbox in the view q.
func inboxURL(q string) string { return "/inbox" + q }

// inboxAtURL is the inbox in the view q, scrolled to a message.
func inboxAtURL(msg, q string) string { return inboxURL(q) + "#message-" + msg }

// liveURL is the inbox in the view q as its live stream asks for it after a change: marked live,
// with the newest event it reflects (see inboxShow).
func liveURL(q, after string) string { return withQuery(inboxURL(q), "live=1&after="+after) }

// eventsURL is the live stream, replaying from the event after.
func eventsURL(after string) string { return "/events?after=" + after }

// messageURL is a message's details, open under it.
func messageURL(msg, q string) string { return "/messages/" + msg + q }

// messageSlotURL is what is under a message, closed.
func messageSlotURL(msg, q string) string { return "/messages/" + msg + "/slot" + q }

// messageReplyURL is the Send Follow-Up or Reply form under a message.
func messageReplyURL(msg, q string) string { return "/messages/" + msg + "/reply" + q }

// messageRepliesURL is where that form posts.
func messageRepliesURL(msg string) string { return "/messages/" + msg + "/replies" }

// messageCancelURL is the question before a cancel (GET), and where its form posts.
func messageCancelURL(msg, q string) string { return "/messages/" + msg + "/cancel" + q }

// messageUnreadURL is where Mark as Unread posts.
func messageUnreadURL(msg, q string) string { return "/messages/" + msg + "/unread" + q }

// conversationArchiveURL and conversationReopenURL are where a conversation's state form posts.
func conversationArchiveURL(conv, q string) string { return "/conversations/" + conv + "/archive" + q }

func conversationReopenURL(conv, q string) string { return "/conversations/" + conv + "/reopen" + q }

// auditURL is the audit review searching q (AuditForm.query), and auditPatientURL who opened a
// patient's messages.
func auditURL(q url.Values) string {
	if len(q) == 0 {
		return "/practice/audit"
	}
	return "/practice/audit?" + q.Encode()
}

func auditPatientURL(patient string) string { return "/practice/audit/patients/" + patient }

// withQuery adds kv ("notice=sent") to the query of u.
func withQuery(u, kv string) string {
	if strings.Contains(u, "?") {
		return u + "&" + kv
	}
	return u + "?" + kv
}

// viewQuery is the query that keeps a view of the list: its page, archived shown, staff filter.
func viewQuery(all bool, assignment string, page int) string {
	q := url.Values{}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	if all {
		q.Set("all", "1")
	}
	if assignment != "" {
		q.Set("assigned", assignment)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
