package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a message may hold, counted in characters.
const (
	MaxSubjectLen = 150
	MaxBodyLen    = 4000
)

// ResponseMethod is how a patient asks the practice to respond.
type ResponseMethod struct{ Code, Label string }

// ResponseMethods are the choices on the compose form, in the order shown.
var ResponseMethods = []ResponseMethod{
	{"message", "Secure message"},
	{"phone", "Phone call"},
	{"visit", "Schedule a visit"},
}

func responseMethodLabel(code string) (string, bool) {
	for _, m := range ResponseMethods {
		if m.Code == code {
			return m.Label, true
		}
	}
	return "", false
}

// Instructions are a message's special instructions, sealed with it.
type Instructions struct {
	ResponseMethod   string `json:"response_method,omitempty"`
	NoResponseNeeded bool   `json:"no_response_needed,omitempty"`
	BillingConsent   bool   `json:"billing_consent,omitempty"`
	FeeCents         int    `json:"fee_cents,omitempty"`
}

// ResponseMethodLabel is the response method as the patient chose it on the form.
func (i Instructions) ResponseMethodLabel() string {
	label, _ := responseMethodLabel(i.ResponseMethod)
	return label
}

// Message is one message of a conversation, as its viewer may see it.
type Message struct {
	ID             int64
	ConversationID int64
	ParentID       int64 // 0 for the message that started the conversation
	AuthorID       int64
	AuthorRole     Role
	AuthorName     string
	AuthorInitials string
	Subject        string
	CreatedAt      time.Time
	ActedOn        bool
	ThreadArchived bool
	Opened         bool   // the side it is addressed to has opened it (store.Unread)
	Reads          []Read // who of that side read it, first reader first (lists only: readConversations)
	Replies        []*Message
	Details        *Details // loaded only when the viewer opens the message
}

// Details are what Show Details reveals.
type Details struct {
	Body               string
	Instructions       Instructions
	RequestedStaffName string
}

// Facts are what Allowed needs to know of this message.
func (m *Message) Facts() MessageFacts {
	return MessageFacts{AuthorID: m.AuthorID, AuthorRole: m.AuthorRole, ActedOn: m.ActedOn,
		ThreadArchived: m.ThreadArchived, Opened: m.Opened}
}

// ValidationError lists what is wrong with a message, by form field, in words for the sender.
type ValidationError struct{ Fields map[string]string }

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	return fmt.Sprintf("store: invalid message (%s)", strings.Join(keys, ", "))
}

func (e *ValidationError) add(field, problem string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, seen := e.Fields[field]; !seen {
		e.Fields[field] = problem
	}
}

func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

func checkText(v *ValidationError, field, label, text string, max int) {
	n := utf8.RuneCountInString(strings.TrimSpace(text))
	switch {
	case !utf8.ValidString(text):
		v.add(field, label+" contains characters that cannot be read.")
	case n == 0:
		v.add(field, label+" is required.")
	case n > max:
		v.add(field, fmt.Sprintf("%s must be at most %d characters (it is %d).", label, max, n))
	}
}

func encodeInstructions(i Instructions) []byte {
	b, _ := json.Marshal(i) // a struct of strings, bools and ints always marshals
	return b
}

func decodeInstructions(b []byte, i *Instructions) error { return json.Unmarshal(b, i) }
