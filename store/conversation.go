package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Conversation is one thread between a patient and their practice, its messages as a tree.
type Conversation struct {
	ID              int64
	PatientID       int64
	PatientName     string
	PatientInitials string
	ArchivedAt      *time.Time
	LastActivityAt  time.Time
	Revision        int64      // changes with anything a list shows of it (conversation_cache.go)
	Messages        []*Message // the first message, and under it the replies as a tree
	// The first message's special instructions, shown at a glance in the staff queue. A patient's
	// list leaves them out: the patient's page does not show them (their message's details do).
	Instructions       Instructions
	RequestedStaffName string
}

// AwaitingPractice reports whether the patient has the last word in an open conversation: the
// practice owes a reply.
func (c *Conversation) AwaitingPractice() bool {
	last := c.latest(c.Messages, nil)
	return !c.Archived() && last != nil && last.AuthorRole == RolePatient
}

func (c *Conversation) latest(ms []*Message, best *Message) *Message {
	for _, m := range ms {
		if best == nil || m.CreatedAt.After(best.CreatedAt) || (m.CreatedAt.Equal(best.CreatedAt) && m.ID > best.ID) {
			best = m
		}
		best = c.latest(m.Replies, best)
	}
	return best
}

// Archived reports whether the thread is closed.
func (c *Conversation) Archived() bool { return c.ArchivedAt != nil }

// InboxFilter chooses which conversations a list shows.
type InboxFilter struct {
	IncludeArchived bool
	ConversationID  int64  // only this conversation, when not 0
	Assignment      string // for staff: AssignedToMe, Unassigned, NotOpened, or "" for all
	Page            int    // 1-based page of PageSize conversations; 0 means the first
}

// PageSize is how many conversations one page of a list shows.
const PageSize = 20

// InboxPage is one page of a list.
type InboxPage struct {
	Conversations []*Conversation
	Page          int
	More          bool // an older page follows
}

// Filters of the staff queue: who the patient asked to answer, or what nobody on staff has read.
const (
	AssignedToMe = "mine"
	Unassigned   = "unassigned"
	NotOpened    = "unread" // a patient's message in it that nobody on staff has opened (store.Unread)
)

// inboxRow is one message of a list, with its conversation. A list sends the conversation's own
// columns (patient, archived, last activity) and what the patient asked for (instructions,
// requested staff) on the conversation's first row only, its first message's, rather than repeat
// them on every row: a page reads a row per message, and decoding a column the server already has
// costs as much as one it needs (docs/performance.md has the figures).
type inboxRow struct {
	ConversationID  int64          `db:"conversation_id"`
	PatientID       sql.NullInt64  `db:"patient_id"`
	PatientName     sql.NullString `db:"patient_name"`
	PatientInitials sql.NullString `db:"patient_initials"`
	ArchivedAt      sql.NullTime   `db:"archived_at"`
	LastActivityAt  sql.NullTime   `db:"last_activity_at"`
	Revision        sql.NullInt64  `db:"revision"`
	MessageID       int64          `db:"message_id"`
	ParentID        sql.NullInt64  `db:"parent_id"`
	AuthorID        int64          `db:"author_id"`
	AuthorRole      Role           `db:"author_role"`
	AuthorName      string         `db:"author_name"`
	AuthorInitials  string         `db:"author_initials"`
	Subject         []byte         `db:"subject"`
	ActedOn         bool           `db:"acted_on"`
	CreatedAt       time.Time      `db:"created_at"`
	// Only on the first message of each conversation, and not in a patient's list.
	RootInstructions   []byte         `db:"root_instructions"`
	RequestedStaffName sql.NullString `db:"requested_staff_name"`
}

// scan reads the columns of fetchPatientSQL, fetchStaffSQL and oneConversationSQL, in their order.
// The lists scan their rows by hand rather than through sqlx: sqlx finds each row's fields again
// by reflection, which showed in the server's CPU profile of an inbox page (docs/performance.md).
// TestInboxTree, TestInboxPages and TestQueueShowsWhatThePatientAsked read every column back.
func (r *inboxRow) scan(rows *sql.Rows) error {
	return rows.Scan(&r.ConversationID, &r.PatientID, &r.PatientName, &r.PatientInitials, &r.ArchivedAt,
		&r.LastActivityAt, &r.Revision, &r.MessageID, &r.ParentID, &r.AuthorID, &r.AuthorRole, &r.AuthorName,
		&r.AuthorInitials, &r.Subject, &r.ActedOn, &r.CreatedAt, &r.RootInstructions, &r.RequestedStaffName)
}

// Inbox lists one page (f.Page) of the viewer's conversations, newest activity first, each with
// its messages nested under the message they answer.
func (s *Store) Inbox(ctx context.Context, v Viewer, f InboxFilter) ([]*Conversation, error) {
	page, err := s.InboxPage(ctx, v, f)
	return page.Conversations, err
}

// InboxPage lists a page of the viewer's conversations (or f.ConversationID alone), and says
// whether an older page follows. Two statements at most, whatever the number of conversations:
// the page's conversations and their revisions, then the messages of those the conversation
// cache does not hold at that revision (none, when it holds them all).
func (s *Store) InboxPage(ctx context.Context, v Viewer, f InboxFilter) (InboxPage, error) {
	page := max(f.Page, 1)
	fail := func(err error) (InboxPage, error) {
		return InboxPage{}, fmt.Errorf("store: inbox of user %d: %w", v.UserID, err)
	}
	if f.ConversationID != 0 {
		list, err := s.readConversations(ctx, v, oneConversationSQL,
			[]any{f.ConversationID, v.PracticeID, v.patientScope(), f.IncludeArchived})
		if err != nil {
			return fail(err)
		}
		return InboxPage{Conversations: list, Page: page}, nil
	}
	query, args, err := listQuery(v, f, page)
	if err != nil {
		return fail(err)
	}
	var listed []conversationKey
	glance := v.Role != RolePatient
	err = s.query(ctx, query, args, func(rs *sql.Rows) error {
		listed = listed[:0] // a statement prepared again runs the query again
		for rs.Next() {
			k := conversationKey{glance: glance}
			if err := rs.Scan(&k.id, &k.revision); err != nil {
				return err
			}
			listed = append(listed, k)
		}
		return rs.Err()
	})
	if err != nil {
		return fail(err)
	}
	res := InboxPage{Page: page}
	if len(listed) > PageSize {
		listed, res.More = listed[:PageSize], true
	}
	res.Conversations = make([]*Conversation, len(listed))
	var missing []int64
	for i, k := range listed {
		if c, ok := s.lists.get(k); ok {
			res.Conversations[i] = c
		} else {
			missing = append(missing, k.id)
		}
	}
	if len(missing) > 0 {
		query, args := fetchQuery(v, missing)
		read, err := s.readConversations(ctx, v, query, args)
		if err != nil {
			return fail(err)
		}
		byID := make(map[int64]*Conversation, len(read))
		for _, c := range read {
			// Kept at the revision read with it, which a change committed between the two
			// statements makes newer than the one listed: the next list reads it again.
			s.lists.add(conversationKey{id: c.ID, revision: c.Revision, glance: glance}, c)
			byID[c.ID] = c
		}
		for i, k := range listed {
			if res.Conversations[i] == nil {
				res.Conversations[i] = byID[k.id]
			}
		}
		// A conversation gone between the two statements (its only message cancelled) is left out.
		res.Conversations = slices.DeleteFunc(res.Conversations, func(c *Conversation) bool { return c == nil })
	}
	return res, nil
}

// readConversations runs fetchPatientSQL, fetchStaffSQL or oneConversationSQL and builds its
// conversations, with their read state (addReadState): two statements.
func (s *Store) readConversations(ctx context.Context, v Viewer, query string, args []any) ([]*Conversation, error) {
	var rows []inboxRow
	err := s.query(ctx, query, args, func(rs *sql.Rows) error {
		rows = rows[:0] // a statement prepared again runs the query again
		for rs.Next() {
			rows = append(rows, inboxRow{})
			if err := rows[len(rows)-1].scan(rs); err != nil {
				return err
			}
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	list, err := s.buildTrees(rows)
	if err != nil {
		return nil, err
	}
	if err := s.addReadState(ctx, v, list); err != nil {
		return nil, err
	}
	return list, nil
}

// listQuery is the statement of the list f asks for, and its arguments.
//
// Each list (a patient's or the practice's; open or all; by assignment) is a statement of its
// own, not one with "this patient or anyone, archived or not, this filter or none" in it: each is
// prepared, and PostgreSQL keeps one plan for a prepared statement only when that plan suits
// every argument. With those alternatives in it, it plans the statement anew at every call, which
// costs more than running it.
func listQuery(v Viewer, f InboxFilter, page int) (string, []any, error) {
	if f.ConversationID != 0 {
		return oneConversationSQL, []any{f.ConversationID, v.PracticeID, v.patientScope(), f.IncludeArchived}, nil
	}
	shape := listShape{staff: v.Role != RolePatient, archived: f.IncludeArchived, assignment: f.Assignment, later: page > 1}
	query, ok := pageSQL[shape]
	if !ok {
		return "", nil, fmt.Errorf("no list %+v", shape)
	}
	var args []any
	switch {
	case !shape.staff:
		args = []any{v.UserID, v.PracticeID}
	case shape.assignment == AssignedToMe:
		args = []any{v.PracticeID, v.UserID}
	default:
		args = []any{v.PracticeID}
	}
	if shape.later {
		args = append(args, (page-1)*PageSize)
	}
	return query, args, nil
}

// listShape names one list's statement in pageSQL.
type listShape struct {
	staff      bool   // the practice's queue, not a patient's list
	archived   bool   // archived conversations too
	assignment string // staff: AssignedToMe, Unassigned or "" for all
	later      bool   // a page after the first
}

// pageSQL holds a statement for each list: the ids and revisions of a page of conversations,
// one more than fits (LIMIT is PageSize+1), to know whether another page follows. The first
// message says whom the patient asked for.
//
// The first page, which every live refresh fetches, has no OFFSET, and the page size is written
// in: with either left to an argument, PostgreSQL cannot tell how many rows a plan will be asked
// for, and plans the statement anew at every call.
var pageSQL = map[listShape]string{
	{}:                            listPatientOpenSQL,
	{later: true}:                 listPatientOpenLaterSQL,
	{archived: true}:              listPatientAllSQL,
	{archived: true, later: true}: listPatientAllLaterSQL,

	{staff: true}:                              listStaffOpenSQL,
	{staff: true, later: true}:                 listStaffOpenLaterSQL,
	{staff: true, archived: true}:              listStaffAllSQL,
	{staff: true, archived: true, later: true}: listStaffAllLaterSQL,

	{staff: true, assignment: AssignedToMe}:                              listMineOpenSQL,
	{staff: true, assignment: AssignedToMe, later: true}:                 listMineOpenLaterSQL,
	{staff: true, assignment: AssignedToMe, archived: true}:              listMineAllSQL,
	{staff: true, assignment: AssignedToMe, archived: true, later: true}: listMineAllLaterSQL,

	{staff: true, assignment: Unassigned}:                              listUnassignedOpenSQL,
	{staff: true, assignment: Unassigned, later: true}:                 listUnassignedOpenLaterSQL,
	{staff: true, assignment: Unassigned, archived: true}:              listUnassignedAllSQL,
	{staff: true, assignment: Unassigned, archived: true, later: true}: listUnassignedAllLaterSQL,

	{staff: true, assignment: NotOpened}:                              listNotOpenedOpenSQL,
	{staff: true, assignment: NotOpened, later: true}:                 listNotOpenedOpenLaterSQL,
	{staff: true, assignment: NotOpened, archived: true}:              listNotOpenedAllSQL,
	{staff: true, assignment: NotOpened, archived: true, later: true}: listNotOpenedAllLaterSQL,
}

// The statements of the lists and of the conversations they show, each written out whole, so
// that the statement PostgreSQL reports (pg_stat_statements, EXPLAIN, the server's log) is the one
// grep finds here, and a reader sees each as it runs. They are written by hand rather than built
// from shared pieces or generated: twenty short near-twins read more plainly than a template or
// a generator with its go:generate step and its own test, and a change to one shows whole in a
// diff. TestStatementsAsAssembled (statements_test.go) keeps the twins in step: it builds each
// from the pieces they were once assembled from and requires this very text, white space
// included, since a statement's text is also its prepared statement's key (prepared.go). That is
// why some lines end in white space.
const (
	// A patient's list: $1 patient, $2 practice, and on a later page $3 the number to skip.
	listPatientOpenSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.patient_id = $1 AND c.practice_id = $2 AND c.archived_at IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listPatientOpenLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.patient_id = $1 AND c.practice_id = $2 AND c.archived_at IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $3`
	listPatientAllSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.patient_id = $1 AND c.practice_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listPatientAllLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.patient_id = $1 AND c.practice_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $3`

	// The practice's queue: $1 practice, and on a later page $2 the number to skip.
	listStaffOpenSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND c.archived_at IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listStaffOpenLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND c.archived_at IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`
	listStaffAllSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listStaffAllLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`

	// What patients asked the staff member for: $1 practice, $2 the staff member, and on a later
	// page $3 the number to skip.
	listMineOpenSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND r.requested_staff_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listMineOpenLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND r.requested_staff_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $3`
	listMineAllSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND r.requested_staff_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listMineAllLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND r.requested_staff_id = $2
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $3`

	// What patients asked no one in particular for: $1 practice, and on a later page $2 the number
	// to skip.
	listUnassignedOpenSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND r.requested_staff_id IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listUnassignedOpenLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND r.requested_staff_id IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`
	listUnassignedAllSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND r.requested_staff_id IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listUnassignedAllLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
		WHERE c.practice_id = $1 AND r.requested_staff_id IS NULL
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`

	// What nobody on staff has read: a patient's message not opened (00014_unopened_index.sql).
	// $1 practice, and on a later page $2 the number to skip.
	listNotOpenedOpenSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND EXISTS (SELECT 1 FROM messages u JOIN users ua ON ua.id = u.author_id WHERE u.conversation_id = c.id AND u.opened_at IS NULL AND ua.role = 'patient')
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listNotOpenedOpenLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND c.archived_at IS NULL AND EXISTS (SELECT 1 FROM messages u JOIN users ua ON ua.id = u.author_id WHERE u.conversation_id = c.id AND u.opened_at IS NULL AND ua.role = 'patient')
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`
	listNotOpenedAllSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND EXISTS (SELECT 1 FROM messages u JOIN users ua ON ua.id = u.author_id WHERE u.conversation_id = c.id AND u.opened_at IS NULL AND ua.role = 'patient')
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21`
	listNotOpenedAllLaterSQL = `
		SELECT c.id, c.revision
		FROM conversations c 
		WHERE c.practice_id = $1 AND EXISTS (SELECT 1 FROM messages u JOIN users ua ON ua.id = u.author_id WHERE u.conversation_id = c.id AND u.opened_at IS NULL AND ua.role = 'patient')
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT 21 OFFSET $2`
)

// fetchQuery is the statement that reads the messages of the listed conversations ids, in their
// order, and its arguments: $1 the ids, $2 the practice, and for a patient $3 the patient. The
// ids come from the viewer's own list; the statement checks the viewer's scope again all the same.
func fetchQuery(v Viewer, ids []int64) (string, []any) {
	if v.Role == RolePatient {
		return fetchPatientSQL, []any{pq.Array(ids), v.PracticeID, v.UserID}
	}
	return fetchStaffSQL, []any{pq.Array(ids), v.PracticeID}
}

// The messages of the conversations in page, in the columns inboxRow.scan reads: fetchPatientSQL
// and fetchStaffSQL for a list's page, oneConversationSQL for one conversation ($1 the
// conversation, $2 practice, $3 patient or NULL for staff, $4 archived too). A conversation's first
// message comes first; the conversation's columns, and for staff what the patient asked for, come
// on its row only (NULL on the others). A patient's list leaves the instructions and the requested
// staff member out altogether.
const (
	fetchPatientSQL = `
		WITH page AS (
			SELECT p.id, p.rank
			FROM unnest($1::bigint[]) WITH ORDINALITY AS p (id, rank)
			JOIN conversations c ON c.id = p.id
			WHERE c.practice_id = $2 AND c.patient_id = $3
		)
		SELECT c.id AS conversation_id,
		       CASE WHEN m.parent_id IS NULL THEN c.patient_id END AS patient_id,
		       CASE WHEN m.parent_id IS NULL THEN p.full_name END AS patient_name,
		       CASE WHEN m.parent_id IS NULL THEN p.initials END AS patient_initials,
		       CASE WHEN m.parent_id IS NULL THEN c.archived_at END AS archived_at,
		       CASE WHEN m.parent_id IS NULL THEN c.last_activity_at END AS last_activity_at,
		       CASE WHEN m.parent_id IS NULL THEN c.revision END AS revision,
		       m.id AS message_id, m.parent_id, m.author_id, a.role AS author_role,
		       a.full_name AS author_name, a.initials AS author_initials,
		       m.subject, m.acted_on, m.created_at,
		       NULL::bytea AS root_instructions, NULL::text AS requested_staff_name
		FROM page
		JOIN conversations c ON c.id = page.id
		JOIN users p ON p.id = c.patient_id
		JOIN messages m ON m.conversation_id = c.id
		JOIN users a ON a.id = m.author_id
		
		ORDER BY page.rank, m.parent_id IS NOT NULL, m.created_at, m.id`

	fetchStaffSQL = `
		WITH page AS (
			SELECT p.id, p.rank
			FROM unnest($1::bigint[]) WITH ORDINALITY AS p (id, rank)
			JOIN conversations c ON c.id = p.id
			WHERE c.practice_id = $2 
		)
		SELECT c.id AS conversation_id,
		       CASE WHEN m.parent_id IS NULL THEN c.patient_id END AS patient_id,
		       CASE WHEN m.parent_id IS NULL THEN p.full_name END AS patient_name,
		       CASE WHEN m.parent_id IS NULL THEN p.initials END AS patient_initials,
		       CASE WHEN m.parent_id IS NULL THEN c.archived_at END AS archived_at,
		       CASE WHEN m.parent_id IS NULL THEN c.last_activity_at END AS last_activity_at,
		       CASE WHEN m.parent_id IS NULL THEN c.revision END AS revision,
		       m.id AS message_id, m.parent_id, m.author_id, a.role AS author_role,
		       a.full_name AS author_name, a.initials AS author_initials,
		       m.subject, m.acted_on, m.created_at,
		       CASE WHEN m.parent_id IS NULL THEN m.instructions END AS root_instructions,
		       CASE WHEN m.parent_id IS NULL THEN rs.full_name END AS requested_staff_name
		FROM page
		JOIN conversations c ON c.id = page.id
		JOIN users p ON p.id = c.patient_id
		JOIN messages m ON m.conversation_id = c.id
		JOIN users a ON a.id = m.author_id
		LEFT JOIN users rs ON rs.id = m.requested_staff_id
		ORDER BY page.rank, m.parent_id IS NOT NULL, m.created_at, m.id`

	oneConversationSQL = `
		WITH page AS (
			SELECT c.id, 1 AS rank
			FROM conversations c
			WHERE c.id = $1 AND c.practice_id = $2
			  AND ($3::bigint IS NULL OR c.patient_id = $3)
			  AND ($4 OR c.archived_at IS NULL)
		)
		SELECT c.id AS conversation_id,
		       CASE WHEN m.parent_id IS NULL THEN c.patient_id END AS patient_id,
		       CASE WHEN m.parent_id IS NULL THEN p.full_name END AS patient_name,
		       CASE WHEN m.parent_id IS NULL THEN p.initials END AS patient_initials,
		       CASE WHEN m.parent_id IS NULL THEN c.archived_at END AS archived_at,
		       CASE WHEN m.parent_id IS NULL THEN c.last_activity_at END AS last_activity_at,
		       CASE WHEN m.parent_id IS NULL THEN c.revision END AS revision,
		       m.id AS message_id, m.parent_id, m.author_id, a.role AS author_role,
		       a.full_name AS author_name, a.initials AS author_initials,
		       m.subject, m.acted_on, m.created_at,
		       CASE WHEN m.parent_id IS NULL THEN m.instructions END AS root_instructions,
		       CASE WHEN m.parent_id IS NULL THEN rs.full_name END AS requested_staff_name
		FROM page
		JOIN conversations c ON c.id = page.id
		JOIN users p ON p.id = c.patient_id
		JOIN messages m ON m.conversation_id = c.id
		JOIN users a ON a.id = m.author_id
		LEFT JOIN users rs ON rs.id = m.requested_staff_id
		ORDER BY page.rank, m.parent_id IS NOT NULL, m.created_at, m.id`
)

// Conversation loads one of the viewer's conversations; another's answers ErrNotFound.
func (s *Store) Conversation(ctx context.Context, v Viewer, id int64) (*Conversation, error) {
	if id <= 0 {
		return nil, ErrNotFound
	}
	list, err := s.Inbox(ctx, v, InboxFilter{IncludeArchived: true, ConversationID: id})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

func (s *Store) buildTrees(rows []inboxRow) ([]*Conversation, error) {
	var list []*Conversation
	byID := make(map[int64]*Message, len(rows))
	for _, r := range rows {
		if len(list) == 0 || list[len(list)-1].ID != r.ConversationID {
			if !r.PatientID.Valid {
				return nil, fmt.Errorf("store: conversation %d: its first row lacks the conversation", r.ConversationID)
			}
			c := &Conversation{ID: r.ConversationID, PatientID: r.PatientID.Int64, PatientName: r.PatientName.String,
				PatientInitials: r.PatientInitials.String, LastActivityAt: r.LastActivityAt.Time,
				Revision: r.Revision.Int64}
			if r.ArchivedAt.Valid {
				c.ArchivedAt = &r.ArchivedAt.Time
			}
			list = append(list, c)
		}
		c := list[len(list)-1]
		subject, err := s.keys.Open(r.Subject, messageAD("subject", r.MessageID, r.ConversationID))
		if err != nil {
			return nil, fmt.Errorf("store: message %d subject: %w", r.MessageID, err)
		}
		m := &Message{ID: r.MessageID, ConversationID: r.ConversationID, ParentID: r.ParentID.Int64,
			AuthorID: r.AuthorID, AuthorRole: r.AuthorRole, AuthorName: r.AuthorName,
			AuthorInitials: r.AuthorInitials, Subject: string(subject), CreatedAt: r.CreatedAt,
			ActedOn: r.ActedOn, ThreadArchived: c.Archived()}
		byID[m.ID] = m
		if r.RootInstructions != nil {
			instr, err := s.keys.Open(r.RootInstructions, messageAD("instructions", r.MessageID, r.ConversationID))
			if err != nil {
				return nil, fmt.Errorf("store: message %d instructions: %w", r.MessageID, err)
			}
			if err := decodeInstructions(instr, &c.Instructions); err != nil {
				return nil, fmt.Errorf("store: message %d instructions: %w", r.MessageID, err)
			}
			c.RequestedStaffName = r.RequestedStaffName.String
		}
		// Rows come oldest first within a conversation, so a parent is always seen before its replies.
		if parent, ok := byID[m.ParentID]; ok && m.ParentID != 0 {
			parent.Replies = append(parent.Replies, m)
		} else {
			c.Messages = append(c.Messages, m)
		}
	}
	return list, nil
}

type detailsRow struct {
	inboxRow
	Body         []byte `db:"body"`
	Instructions []byte `db:"instructions"`
	Opened       bool   `db:"opened"`
}

// Message loads one of the viewer's messages, without its text. Another's answers ErrNotFound.
func (s *Store) Message(ctx context.Context, v Viewer, id int64) (*Message, error) {
	m, _, err := message(ctx, s.db, s, v, id)
	return m, err
}

func message(ctx context.Context, q sqlx.QueryerContext, s *Store, v Viewer, id int64) (*Message, detailsRow, error) {
	var r detailsRow
	if id <= 0 {
		return nil, r, ErrNotFound
	}
	err := sqlx.GetContext(ctx, q, &r, `
		SELECT c.id AS conversation_id, c.patient_id, p.full_name AS patient_name,
		       p.initials AS patient_initials, c.archived_at, c.last_activity_at,
		       m.id AS message_id, m.parent_id, m.author_id, a.role AS author_role,
		       a.full_name AS author_name, a.initials AS author_initials,
		       m.subject, m.acted_on, m.created_at, m.body, m.instructions,
		       rs.full_name AS requested_staff_name, m.opened_at IS NOT NULL AS opened
		FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		JOIN users p ON p.id = c.patient_id
		JOIN users a ON a.id = m.author_id
		LEFT JOIN users rs ON rs.id = m.requested_staff_id
		WHERE m.id = $1 AND c.practice_id = $2 AND ($3::bigint IS NULL OR c.patient_id = $3)`,
		id, v.PracticeID, v.patientScope())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, r, ErrNotFound
	}
	if err != nil {
		return nil, r, fmt.Errorf("store: message %d: %w", id, err)
	}
	list, err := s.buildTrees([]inboxRow{r.inboxRow})
	if err != nil {
		return nil, r, err
	}
	m := list[0].Messages[0]
	m.Opened = r.Opened
	return m, r, nil
}

// AwaitingCount counts the practice's open conversations in which the patient has the last word:
// the staff queue's "waiting for a reply". The database keeps who has the last word on each
// conversation (migration 00005).
//
// asOf is the practice's newest event when the count is asked for (Session.NewestEvent, or the
// event of a change the request made). Every change that can put a conversation into the queue or
// take it out (a message sent or cancelled, an archive, a re-open) writes an event of the practice
// in its own transaction (writeEvent), so the count stays what it was until a newer event: with
// KeepConversations, it is kept by asOf, and a newer event counts again. Counting a busy practice's
// queue reads every entry of it, where a page that repeats reads nothing else of it (the figures
// are in docs/performance.md).
func (s *Store) AwaitingCount(ctx context.Context, v Viewer, asOf int64) (int, error) {
	key := awaitingKey{practiceID: v.PracticeID, patientScope: v.patientScope().Int64, asOf: asOf}
	if s.lists.awaiting != nil {
		if n, ok := s.lists.awaiting.Get(key); ok {
			return n, nil
		}
	}
	var n int
	err := s.get(ctx, &n, `
		SELECT count(*) FROM conversations c
		WHERE c.practice_id = $1 AND ($2::bigint IS NULL OR c.patient_id = $2) AND c.archived_at IS NULL
		  AND c.patient_has_last_word`,
		v.PracticeID, v.patientScope())
	if err != nil {
		return 0, fmt.Errorf("store: conversations awaiting a reply: %w", err)
	}
	if s.lists.awaiting != nil {
		s.lists.awaiting.Add(key, n)
	}
	return n, nil
}
