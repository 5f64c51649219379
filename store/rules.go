package store

// Actions are what a viewer may do to one message. Allowed is the one place that decides them:
// templates ask it to draw the buttons, handlers ask it before acting, and the store asks it
// again inside the transaction, under the conversation's row lock, so the page only mirrors what
// the server enforces.
type Actions struct {
	ShowDetails bool
	FollowUp    bool // add to your own side of the conversation, under this message
	Reply       bool // answer the other side, under this message
	Archive     bool
	Reopen      bool
	Cancel      bool
	MarkUnread  bool // put a message the viewer's side has opened back among the new ones
}

// Any reports whether the viewer may change anything through this message.
func (a Actions) Any() bool {
	return a.FollowUp || a.Reply || a.Archive || a.Reopen || a.Cancel || a.MarkUnread
}

// MessageFacts are the facts about a message and its thread that the rules depend on.
type MessageFacts struct {
	AuthorID       int64
	AuthorRole     Role
	ActedOn        bool // a follow-up or reply under it, or an archive or re-open since it was sent
	ThreadArchived bool
	Opened         bool // the side the message is addressed to has opened it (messages.opened_at)
}

// Allowed decides which actions apply to a message for a viewer who may see it. (Whether the
// viewer may see it at all is decided by the queries, which are scoped to the viewer.)
//
// A message is on the viewer's side when the viewer's role wrote it: a patient's own messages,
// or, for staff, any message from the practice. Follow-Up adds to your side; Reply answers the
// other side. Cancel is only for a message the viewer wrote personally, before anybody acted on
// it. Mark as Unread is for the side a message is addressed to (Addressed), once that side has
// opened it, archived thread or not: it changes nobody's conversation, only what is new to them.
// An archive ends Cancel, including the one that closes a "no response needed" thread as its
// message is sent: an archived message is never cancelled, whether or not it was acted on since.
func Allowed(v Viewer, m MessageFacts) Actions {
	open := !m.ThreadArchived
	ownSide := m.AuthorRole == v.Role
	return Actions{
		ShowDetails: true,
		FollowUp:    open && ownSide,
		Reply:       open && !ownSide,
		Archive:     open,
		Reopen:      !open,
		Cancel:      open && m.AuthorID == v.UserID && !m.ActedOn,
		MarkUnread:  !ownSide && m.Opened,
	}
}

// Addressed reports whether a message is addressed to the viewer's side: a patient's message is
// for every staff member of the practice, the practice's for the patient. Only that side's reads
// open a message (messages.opened_at), only that side sees it as new, and only that side may
// mark it unread (Allowed's MarkUnread); the author's side reads it without changing either.
func Addressed(v Viewer, m MessageFacts) bool { return m.AuthorRole != v.Role }

// Unread reports whether a message is new to the viewer: addressed to their side and not opened
// by it since it was sent or last marked unread.
func Unread(v Viewer, m MessageFacts) bool { return Addressed(v, m) && !m.Opened }
