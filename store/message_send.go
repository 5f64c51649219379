package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// NewConversation is what the compose form sends.
type NewConversation struct {
	PatientID        int64 // the patient a staff member writes to; ignored for a patient, who writes as themself
	Subject          string
	Body             string
	RequestedStaffID int64 // 0 for anyone at the practice
	ResponseMethod   string
	NoResponseNeeded bool
	BillingConsent   bool
	SubmitKey        string // one per form shown: a form posted twice makes one message
}

// NewReply is a follow-up or a reply, sent under an earlier message.
type NewReply struct {
	ParentID int64
	// Subject is the reply's own, optional: empty, it carries its parent's as "Re: …"
	// (ReplySubject), so that a deep thread's rows can still tell its messages apart.
	Subject        string
	Body           string
	BillingConsent bool
	SubmitKey      string
}

// Sent tells what a send created. Duplicate is set when the form had already been sent, in which
// case nothing new was written and Event is empty.
type Sent struct {
	ConversationID int64 `db:"conversation_id"`
	MessageID      int64 `db:"message_id"`
	Event          Event `db:"-"`
	Duplicate      bool  `db:"-"`
}

// Validate checks the compose form's fields that need no database, naming the text as the
// sender's form labels it: a patient writes "Complaints / Questions / Symptoms", staff a "Message".
func (n NewConversation) Validate(sender Role) error {
	var v ValidationError
	body := "Complaints / Questions / Symptoms"
	if sender == RoleStaff {
		body = "Message"
	}
	checkText(&v, "subject", "Subject", n.Subject, MaxSubjectLen)
	checkText(&v, "body", body, n.Body, MaxBodyLen)
	if _, ok := responseMethodLabel(n.ResponseMethod); n.ResponseMethod != "" && !ok {
		v.add("method", "Choose a response method from the list.")
	}
	if _, err := uuid.Parse(n.SubmitKey); err != nil {
		v.add("form", "The form has expired; please send it again.")
	}
	return v.orNil()
}

// Validate checks a follow-up or reply's fields that need no database.
func (n NewReply) Validate() error {
	var v ValidationError
	if strings.TrimSpace(n.Subject) != "" {
		checkText(&v, "subject", "Subject", n.Subject, MaxSubjectLen)
	}
	checkText(&v, "body", "Message", n.Body, MaxBodyLen)
	if _, err := uuid.Parse(n.SubmitKey); err != nil {
		v.add("form", "The form has expired; please send it again.")
	}
	return v.orNil()
}

// StartConversation sends the first message of a new conversation. "No response needed" archives
// the conversation as it is sent. Where the practice charges for message time, a patient's message
// needs their consent to the fee, which is sealed into its instructions with the fee agreed.
// A patient over their SendLimits gets a *SendLimited and nothing is written. A message from
// staff enqueues its patient's e-mail notification in the same transaction (notification.go).
func (s *Store) StartConversation(ctx context.Context, v Viewer, o Origin, n NewConversation) (Sent, error) {
	problems := problemsOf(n.Validate(v.Role))
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Sent{}, fmt.Errorf("store: start conversation: %w", err)
	}
	defer tx.Rollback()

	if sent, found, err := findSent(ctx, tx, v, n.SubmitKey); err != nil || found {
		return sent, err
	}
	settings, err := s.senderSettings(ctx, tx, v)
	if err != nil {
		return Sent{}, err
	}
	if err := s.checkSendLimit(ctx, tx, v, settings); err != nil {
		return Sent{}, err
	}
	practice, err := practiceOf(ctx, tx, v)
	if err != nil {
		return Sent{}, err
	}
	checkAgainstSettings(&problems, v, settings, "Complaints / Questions / Symptoms", n.Body, n.ResponseMethod, n.RequestedStaffID)
	patientID := v.UserID
	if v.Role == RoleStaff {
		patientID, err = patientOfPractice(ctx, tx, v, n.PatientID)
		if errors.Is(err, ErrNotFound) {
			problems.add("patient", "Choose a patient from the list.")
		} else if err != nil {
			return Sent{}, err
		}
	}
	if n.RequestedStaffID != 0 {
		if err := checkResponder(ctx, tx, v, n.RequestedStaffID); errors.Is(err, ErrUnknownStaff) {
			problems.add("staff", "Choose a staff member from the list.")
		} else if err != nil {
			return Sent{}, err
		}
	}
	instr := Instructions{ResponseMethod: n.ResponseMethod, NoResponseNeeded: n.NoResponseNeeded}
	if err := applyConsent(&problems, &instr, v, practice, settings.Fee, true, n.BillingConsent); err != nil {
		return Sent{}, err
	}

	var convID int64
	err = tx.GetContext(ctx, &convID, `
		INSERT INTO conversations (practice_id, patient_id, archived_at)
		VALUES ($1, $2, CASE WHEN $3 THEN now() END) RETURNING id`,
		v.PracticeID, patientID, n.NoResponseNeeded)
	if err != nil {
		return Sent{}, fmt.Errorf("store: start conversation: %w", err)
	}
	msg := outgoing{conversationID: convID, subject: n.Subject, body: n.Body, instructions: instr,
		requestedStaffID: n.RequestedStaffID, submitKey: n.SubmitKey}
	sent, err := s.insertMessage(ctx, tx, v, msg)
	if err != nil || sent.Duplicate {
		return sent, err // a concurrent copy of this form won; this transaction's conversation is rolled back
	}
	sent.Event, err = writeEvent(ctx, tx, Event{Kind: EventMessageSent, PracticeID: v.PracticeID,
		PatientID: patientID, ConversationID: convID, MessageID: sent.MessageID})
	if err != nil {
		return Sent{}, fmt.Errorf("store: start conversation: %w", err)
	}
	if err := s.notifyPatient(ctx, tx.Tx, v, sent, patientID); err != nil {
		return Sent{}, err
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: "conversation_started",
		ObjectType: "message", ObjectID: sent.MessageID, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return Sent{}, fmt.Errorf("store: start conversation: %w", err)
	}
	if !n.NoResponseNeeded {
		if err := s.autoReply(ctx, tx, v, o, settings, convID, patientID, sent.MessageID, n.Subject); err != nil {
			return Sent{}, fmt.Errorf("store: start conversation: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Sent{}, fmt.Errorf("store: start conversation: %w", err)
	}
	return sent, nil
}

// SendReply sends a follow-up or reply under parent, if Allowed still lets the viewer do so once
// the conversation is locked. Whether it is a follow-up or a reply depends only on whose side
// the parent is on.
func (s *Store) SendReply(ctx context.Context, v Viewer, o Origin, n NewReply) (Sent, error) {
	problems := problemsOf(n.Validate())
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	defer tx.Rollback()

	conv, err := lockConversationOfMessage(ctx, tx, v, n.ParentID)
	if err != nil {
		return Sent{}, err
	}
	if sent, found, err := findSent(ctx, tx, v, n.SubmitKey); err != nil || found {
		return sent, err
	}
	parent, err := messageFacts(ctx, tx, n.ParentID)
	if err != nil {
		return Sent{}, err
	}
	parent.ThreadArchived = conv.archived
	allowed := Allowed(v, parent.MessageFacts)
	if !allowed.FollowUp && !allowed.Reply {
		return Sent{}, ErrNoLongerApplies
	}
	settings, err := s.senderSettings(ctx, tx, v)
	if err != nil {
		return Sent{}, err
	}
	if err := s.checkSendLimit(ctx, tx, v, settings); err != nil {
		return Sent{}, err
	}
	practice, err := practiceOf(ctx, tx, v)
	if err != nil {
		return Sent{}, err
	}
	checkAgainstSettings(&problems, v, settings, "Message", n.Body, "", 0)
	var instr Instructions
	if err := applyConsent(&problems, &instr, v, practice, settings.Fee, false, n.BillingConsent); err != nil {
		return Sent{}, err
	}
	subject := n.Subject
	if strings.TrimSpace(subject) == "" {
		parentSubject, err := s.keys.Open(parent.subject, messageAD("subject", n.ParentID, conv.id))
		if err != nil {
			return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
		}
		subject = ReplySubject(string(parentSubject))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET acted_on = true WHERE id = $1`, n.ParentID); err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE conversations SET last_activity_at = now() WHERE id = $1`, conv.id); err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	msg := outgoing{conversationID: conv.id, parentID: n.ParentID, subject: subject,
		body: n.Body, instructions: instr, submitKey: n.SubmitKey}
	sent, err := s.insertMessage(ctx, tx, v, msg)
	if err != nil || sent.Duplicate {
		return sent, err
	}
	sent.Event, err = writeEvent(ctx, tx, Event{Kind: EventMessageSent, PracticeID: conv.practiceID,
		PatientID: conv.patientID, ConversationID: conv.id, MessageID: sent.MessageID})
	if err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	if err := s.notifyPatient(ctx, tx.Tx, v, sent, conv.patientID); err != nil {
		return Sent{}, err
	}
	action := "reply_sent"
	if allowed.FollowUp {
		action = "follow_up_sent"
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: action, ObjectType: "message",
		ObjectID: sent.MessageID, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	if err := s.autoReply(ctx, tx, v, o, settings, conv.id, conv.patientID, sent.MessageID, subject); err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	if err := tx.Commit(); err != nil {
		return Sent{}, fmt.Errorf("store: reply to message %d: %w", n.ParentID, err)
	}
	return sent, nil
}

// problemsOf starts a list of problems from a Validate result.
func problemsOf(err error) ValidationError {
	var v *ValidationError
	if errors.As(err, &v) {
		return *v
	}
	return ValidationError{}
}

// ReplySubject is the subject a reply carries unless it has its own: the one it answers, marked
// as a reply once.
func ReplySubject(parent string) string {
	if strings.HasPrefix(parent, "Re: ") {
		return parent
	}
	s := "Re: " + parent
	if utf8.RuneCountInString(s) > MaxSubjectLen {
		s = string([]rune(s)[:MaxSubjectLen])
	}
	return s
}

// applyConsent requires a patient's consent where the practice charges for this message (the
// first of a conversation, or any where the fee applies to all), and records the fee agreed;
// problems found so far are returned with it.
func applyConsent(problems *ValidationError, instr *Instructions, v Viewer, p Practice, fee FeeSettings, first, consent bool) error {
	if v.Role == RolePatient && p.Charges() && fee.Charges(first) {
		if !consent {
			problems.add("consent", fmt.Sprintf("%s charges %s for message time: tick the box to agree before sending.",
				p.Name, FormatFee(p.MessageFeeCents)))
		}
		instr.BillingConsent = consent
		instr.FeeCents = p.MessageFeeCents
	}
	return problems.orNil()
}

// senderSettings reads the practice's settings that shape a patient's send; staff are bound by
// none of them, and get the zero value.
func (s *Store) senderSettings(ctx context.Context, tx *sqlx.Tx, v Viewer) (PracticeSettings, error) {
	if v.Role != RolePatient {
		return PracticeSettings{}, nil
	}
	return loadSettings(ctx, tx, v.PracticeID)
}

// checkAgainstSettings adds the problems of a patient's message with the practice's settings: the
// longest message, the response methods offered, and whether a staff member may be named at all.
func checkAgainstSettings(problems *ValidationError, v Viewer, ps PracticeSettings, label, body, method string, staffID int64) {
	if v.Role != RolePatient {
		return
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(body)); n > ps.Limits.MaxBody {
		problems.add("body", fmt.Sprintf("%s must be at most %d characters (it is %d).", label, ps.Limits.MaxBody, n))
	}
	if method != "" && !ps.Compose.Offers(method) {
		problems.add("method", "Choose a response method from the list.")
	}
	if staffID != 0 && !ps.Compose.StaffChoice {
		problems.add("staff", "Choose a staff member from the list.")
	}
}

// FormatFee writes an amount of cents as dollars.
func FormatFee(cents int) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

type outgoing struct {
	conversationID   int64
	parentID         int64
	subject, body    string
	instructions     Instructions
	requestedStaffID int64
	submitKey        string
}

// insertMessage seals and writes a message. The id is drawn first because it is bound into the
// ciphertexts. A unique (author, submit key) makes a second copy of the same form a no-op.
func (s *Store) insertMessage(ctx context.Context, tx *sqlx.Tx, v Viewer, m outgoing) (Sent, error) {
	var id int64
	if err := tx.GetContext(ctx, &id, `SELECT nextval(pg_get_serial_sequence('messages', 'id'))`); err != nil {
		return Sent{}, fmt.Errorf("store: draw message id: %w", err)
	}
	subject := s.keys.Seal([]byte(strings.TrimSpace(m.subject)), messageAD("subject", id, m.conversationID))
	body := s.keys.Seal([]byte(strings.TrimSpace(m.body)), messageAD("body", id, m.conversationID))
	instr := s.keys.Seal(encodeInstructions(m.instructions), messageAD("instructions", id, m.conversationID))
	var inserted int64
	err := tx.GetContext(ctx, &inserted, `
		INSERT INTO messages (id, conversation_id, parent_id, author_id, subject, body, instructions,
		                      requested_staff_id, submit_key)
		VALUES ($1, $2, NULLIF($3, 0), $4, $5, $6, $7, NULLIF($8, 0), $9)
		ON CONFLICT (author_id, submit_key) DO NOTHING
		RETURNING id`,
		id, m.conversationID, m.parentID, v.UserID, subject, body, instr, m.requestedStaffID, m.submitKey)
	if errors.Is(err, sql.ErrNoRows) {
		// Another copy of the same form committed first: answer with what it sent.
		if err := tx.Rollback(); err != nil {
			return Sent{}, fmt.Errorf("store: send message: %w", err)
		}
		sent, _, err := findSent(ctx, s.db, v, m.submitKey)
		return sent, err
	}
	if err != nil {
		return Sent{}, fmt.Errorf("store: send message: %w", err)
	}
	return Sent{ConversationID: m.conversationID, MessageID: inserted}, nil
}

// findSent looks for the message a form with this key already sent.
func findSent(ctx context.Context, q sqlx.QueryerContext, v Viewer, key string) (Sent, bool, error) {
	if _, err := uuid.Parse(key); err != nil {
		return Sent{}, false, nil // not a key we issued; Validate reports it
	}
	sent := Sent{Duplicate: true}
	err := sqlx.GetContext(ctx, q, &sent, `
		SELECT conversation_id, id AS message_id FROM messages WHERE author_id = $1 AND submit_key = $2`,
		v.UserID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return Sent{}, false, nil
	}
	if err != nil {
		return Sent{}, false, fmt.Errorf("store: look up sent form: %w", err)
	}
	return sent, true, nil
}

func practiceOf(ctx context.Context, tx *sqlx.Tx, v Viewer) (Practice, error) {
	var p Practice
	err := tx.GetContext(ctx, &p, `SELECT id, name, message_fee_cents FROM practices WHERE id = $1`, v.PracticeID)
	if err != nil {
		return Practice{}, fmt.Errorf("store: practice %d: %w", v.PracticeID, err)
	}
	return p, nil
}

func patientOfPractice(ctx context.Context, tx *sqlx.Tx, v Viewer, patientID int64) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `
		SELECT id FROM users WHERE id = $1 AND practice_id = $2 AND role = 'patient'`, patientID, v.PracticeID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: patient %d: %w", patientID, err)
	}
	return id, nil
}

func checkResponder(ctx context.Context, tx *sqlx.Tx, v Viewer, staffID int64) error {
	var ok bool
	err := tx.GetContext(ctx, &ok, `
		SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND practice_id = $2
		                AND role = 'staff' AND answers_messages)`, staffID, v.PracticeID)
	if err != nil {
		return fmt.Errorf("store: staff %d: %w", staffID, err)
	}
	if !ok {
		return ErrUnknownStaff
	}
	return nil
}
