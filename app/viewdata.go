package app

import (
	"html/template"
	"time"

	"securemessages/store"
)

// ViewData is what every template is given: one struct, built by newViewData, with the screen's
// own part filled in by the handler.
type ViewData struct {
	Title       string
	User        *store.User // nil when signed out
	Practice    store.Practice
	CSRFToken   string // masked anew for each response
	CSRFHeaders string // the same token as JSON for hx-headers, built by json.Marshal
	Notice      Notice
	NewCount    int // messages new to the viewer (store.Unread), in the heading and <title>

	SignIn   *SignInView
	Inbox    *InboxView
	Error    *ErrorView
	Security *SecurityView

	Notifications *NotificationsView
	Unsubscribe   *UnsubscribeView
	Settings      *SettingsView
	People        *PeopleView
	Person        *PersonView
	Password      *PasswordView
	Sessions      *SessionsView
	Reset         *ResetView
	Audit         *AuditView
	AuditOpeners  *AuditOpenersView
	Invitations   *InvitationsView
	Accept        *AcceptView
	Import        *ImportView
}

// NotificationsView is the form of how a person hears of new messages by e-mail.
type NotificationsView struct {
	Choices  []NotificationChoice
	Problems Problems // keyed by kind
	Done     string
}

// NotificationChoice is one kind of e-mail and its radio group.
type NotificationChoice struct {
	Name    string // the kind: the radios' name
	Legend  string
	Options []DeliveryOption
}

// DeliveryOption is one radio of a NotificationChoice.
type DeliveryOption struct {
	ID, Value, Label string
	Checked          bool
}

// UnsubscribeView is the page an unsubscribe link opens: the question, or what was turned off.
type UnsubscribeView struct {
	Action string // where the question's button posts
	About  string // what the e-mails are about ("new messages and replies from your care team")
	Done   bool
}

// PracticeSettingsLink reports whether the header links to the practice's settings: the rule
// (store.PracticeAllowed) decides, as it does for the routes.
func (vd *ViewData) PracticeSettingsLink() bool {
	return vd.User != nil && store.PracticeAllowed(*vd.User, vd.User.PracticeID).ChangeSettings
}

// PeopleLink reports whether the header links to the practice's people, as PracticeSettingsLink.
func (vd *ViewData) PeopleLink() bool {
	return vd.User != nil && store.PracticeAllowed(*vd.User, vd.User.PracticeID).ManagePeople
}

// AuditReviewLink reports whether the header links to the audit review (store.PracticeAllowed).
func (vd *ViewData) AuditReviewLink() bool {
	return vd.User != nil && store.PracticeAllowed(*vd.User, vd.User.PracticeID).ReviewAudit
}

// SecurityView is the two-step sign-in settings, or the code prompt at sign-in.
type SecurityView struct {
	Enabled  bool
	Setup    *store.TOTPSetup // a secret just made, to confirm
	Code     string           // the code typed, kept when the form is refused
	Problems Problems
	Done     string
}

// Notice is a one-line message at the top of the inbox, announced politely to screen readers.
type Notice struct {
	Text  string
	Error bool
	Live  bool // news a live refresh brought: announced, but focus stays where the reader is
}

// SignInView is the sign-in form.
type SignInView struct {
	Email    string
	Problems Problems           // about the attempt as a whole: which of the two was wrong is not said
	Done     string             // a password just reset
	Demo     []store.DemoSignIn // listed only when the demo practice is loaded locally
}

// ErrorView is an error page.
type ErrorView struct {
	Status  int
	Message string
	Retry   *RetryForm // a form that could not be handled, to send again
}

// RetryForm is a posted form given back to be sent again.
type RetryForm struct {
	Action string
	Fields []RetryField
	Body   string // the message text, shown so the sender sees it is kept
}

// RetryField is one posted field.
type RetryField struct{ Name, Value string }

// InboxView is the list of conversations with whatever is open in it.
type InboxView struct {
	ShowAll       bool
	Staff         bool            // the viewer is staff: the practice's queue, with filters
	Assignment    string          // staff filter: store.AssignedToMe, store.Unassigned, store.NotOpened, or "" for all
	Awaiting      int             // staff: open conversations waiting for the practice's reply
	Conversations []template.HTML // each conversation's <li>: partials/conversation's output (conversationHTML)
	Compose       *ComposeForm    // nil: closed
	CSRFToken     string
	LiveAfter     string // the newest event when the page was made (public id); its live stream replays from there
	Page          int
	More          bool // an older page follows
	// ids writes the ids the page shows (never the internal ones: store.PublicIDs).
	ids *store.PublicIDs
	// Standing is the practice's notice and reply promise over a patient's inbox (nil for staff).
	Standing *store.NoticeSettings
	// zone is the practice's time zone, which dates are shown in (now); nil shows them in UTC.
	zone *time.Location
}

// ConversationView is one thread in the list: what partials/conversation shows.
type ConversationView struct {
	ID          string // public (store.PublicIDs)
	Archived    bool
	PatientName string
	Messages    []*MessageNode
	// For staff, at a glance: what the patient asked for when they wrote.
	Instructions       store.Instructions
	RequestedStaffName string
	Awaiting           bool
}

// MessageNode is one message in a thread, with the actions Allowed gives the viewer.
type MessageNode struct {
	ID             string // public, as ConversationID (store.PublicIDs)
	ConversationID string
	Subject        string
	Sent           Stamp
	Flag           Flag
	New            bool   // new to the viewer (store.Unread): drawn heavier, marked, and said
	Receipt        string // where it stands for its author's side, or who of the viewer's side read it ("" for none)
	Actions        store.Actions
	Links          MessageLinks // where each of Actions leads, "" where it does not apply
	Slot           *Slot        // what is open under the message, if anything (never cached)
	Replies        []*MessageNode
	// The list the message is in, for an open Slot's forms. Outside an open Slot, partials/thread
	// must read nothing of it: a conversation's HTML is kept for other pages (conversationHTML).
	Inbox *InboxView
}

// Stamp is when a message was sent, for the machine (the datetime attribute) and as shown.
type Stamp struct{ Machine, Shown string }

// MessageLinks are the addresses of a message's links and buttons (paths.go), each keeping the
// list's view (its query). They are made once per message: an inbox page shows about a hundred
// messages, and every value the template writes goes through html/template's escapers, which cost
// more than the page's database work (docs/performance.md).
type MessageLinks struct {
	Details string // "/messages/<id>?all=1": the details under the message
	Reply   string // "/messages/<id>/reply?all=1": the Send Follow-Up or Reply form under the message
	Cancel  string // "/messages/<id>/cancel?all=1": the question before a cancel
	Unread  string // "/messages/<id>/unread?all=1": where Mark as Unread posts (with the inbox's form)
	// State is where Archive or Re-Open posts ("/conversations/<id>/archive?all=1"): a
	// thread-wide action, the same on every message of the conversation. Its button joins the
	// inbox's form, which carries the page's CSRF token (partials/inbox).
	State string
}

// SlotLinks are the addresses of an open slot (MessageNode.SlotLinks), keeping the list's view.
type SlotLinks struct {
	Replies   string // "/messages/<id>/replies": where the reply form posts
	Cancel    string // "/messages/<id>/cancel": where the cancel form posts
	Close     string // "/messages/<id>/slot?all=1": the slot emptied, which Close swaps in
	List      string // "/inbox?all=1": the list, the address Close leaves in the history
	AtMessage string // "/inbox?all=1#message-<id>": the list at the message, Close without JavaScript
}

// Flag says who sent a message: "Me" in red for the viewer's own (the template writes it, with
// the accessible name "Sent by you"), the author's initials in blue for anyone else. Label is the
// accessible name, so the flag is never colour alone. On the staff side, where both patients and
// colleagues write, Kind tells them apart: the template draws each its own way and Label names it.
type Flag struct {
	Mine  bool
	Text  string // others' only: "AC"
	Label string // others' only: "From Dr. Amelia Chen"; for staff "From Maria Lopez, patient"
	Who   string // "You", "Dr. Amelia Chen"
	Kind  string // for a staff viewer, FlagPatient or FlagColleague; "" for a patient's own inbox
}

// Flag kinds on the staff side.
const (
	FlagPatient   = "patient"
	FlagColleague = "colleague"
)

// Slot kinds: what can open under a message.
const (
	SlotDetails = "details"
	SlotReply   = "reply"
	SlotCancel  = "cancel"
)

// Slot is the panel under a message: its details, a follow-up or reply form, or the question
// before a cancel.
type Slot struct {
	Kind    string
	Details *store.Details
	Form    *ReplyForm
	// NotifyProblem, on a message's details for staff, is why its patient could not be e-mailed
	// about it ("address rejected"); "" when nothing failed.
	NotifyProblem string
}

// ReplyForm is the inline Send Follow-Up or Reply form.
type ReplyForm struct {
	FollowUp bool // Send Follow-Up on your own side; otherwise Reply
	// Subject is the reply's own, optional; DefaultSubject, shown as its placeholder, is the
	// "Re: …" it carries when left empty (store.ReplySubject).
	Subject        string
	DefaultSubject string
	Body           string
	Consent        bool
	SubmitKey      string
	Fee            string // the practice's fee, when it charges for this message
	ConsentLabel   string // the practice's consent wording, with the fee in it
	MaxBody        int    // the longest text: the practice's limit for a patient
	Problems       Problems
}

// ComposeForm is the new-message form: a patient's to their practice, or, with FromStaff, the
// practice's to a patient (the patient chosen, no instructions to the practice, no fee).
type ComposeForm struct {
	FromStaff        bool
	PatientID        string   // the public id chosen, "" for none
	Patients         []Person // staff choose whom to write to
	Subject          string
	Body             string
	StaffID          string
	Method           string
	NoResponseNeeded bool
	Consent          bool
	SubmitKey        string
	Fee              string
	ConsentLabel     string // the practice's consent wording, with the fee in it
	ShowStaff        bool   // the practice lets patients name who should respond
	Staff            []Person
	Methods          []store.ResponseMethod
	Problems         Problems
	MaxSubject       int
	MaxBody          int
}

// Person is someone the compose form lists, under their public id (store.PublicIDs).
type Person struct {
	ID       string
	FullName string
	Title    string
}
