package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The statements below were once assembled from pieces when the package loaded; they are now
// written out whole (conversation.go, session.go, signin.go) so that the text PostgreSQL reports
// is the text a reader finds. The old assembly lives on here as the reference: the written-out
// statements must be byte for byte what it builds, white space included (the prepared statements
// are keyed by their text). A deliberate change to one list changes its siblings the same way:
// change the reference with them, and this test shows what differs.

func assembledPageSQL() map[listShape]string {
	m := map[listShape]string{}
	const root = "JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL"
	for _, archived := range []bool{false, true} {
		open := ""
		if !archived {
			open = " AND c.archived_at IS NULL"
		}
		for _, later := range []bool{false, true} {
			m[listShape{archived: archived, later: later}] =
				assembledListSQL("", "c.patient_id = $1 AND c.practice_id = $2"+open, later, 3)
			m[listShape{staff: true, archived: archived, later: later}] =
				assembledListSQL("", "c.practice_id = $1"+open, later, 2)
			m[listShape{staff: true, archived: archived, assignment: AssignedToMe, later: later}] =
				assembledListSQL(root, "c.practice_id = $1"+open+" AND r.requested_staff_id = $2", later, 3)
			m[listShape{staff: true, archived: archived, assignment: Unassigned, later: later}] =
				assembledListSQL(root, "c.practice_id = $1"+open+" AND r.requested_staff_id IS NULL", later, 2)
			m[listShape{staff: true, archived: archived, assignment: NotOpened, later: later}] =
				assembledListSQL("", "c.practice_id = $1"+open+" AND "+notOpened, later, 2)
		}
	}
	return m
}

const notOpened = "EXISTS (SELECT 1 FROM messages u JOIN users ua ON ua.id = u.author_id WHERE u.conversation_id = c.id AND u.opened_at IS NULL AND ua.role = 'patient')"

func assembledListSQL(join, where string, later bool, offsetParam int) string {
	skip := ""
	if later {
		skip = " OFFSET $" + strconv.Itoa(offsetParam)
	}
	return `
		SELECT c.id, c.revision
		FROM conversations c ` + join + `
		WHERE ` + where + `
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT ` + strconv.Itoa(PageSize+1) + skip
}

func assembledFetchSQL(scope, messages string) string {
	return `
		WITH page AS (
			SELECT p.id, p.rank
			FROM unnest($1::bigint[]) WITH ORDINALITY AS p (id, rank)
			JOIN conversations c ON c.id = p.id
			WHERE c.practice_id = $2 ` + scope + `
		)` + messages
}

func assembledOneConversationSQL() string {
	return `
		WITH page AS (
			SELECT c.id, 1 AS rank
			FROM conversations c
			WHERE c.id = $1 AND c.practice_id = $2
			  AND ($3::bigint IS NULL OR c.patient_id = $3)
			  AND ($4 OR c.archived_at IS NULL)
		)` + assembledMessagesSQL(true)
}

func assembledMessagesSQL(glance bool) string {
	asked := `CASE WHEN m.parent_id IS NULL THEN m.instructions END AS root_instructions,
		       CASE WHEN m.parent_id IS NULL THEN rs.full_name END AS requested_staff_name`
	join := `LEFT JOIN users rs ON rs.id = m.requested_staff_id`
	if !glance {
		asked = `NULL::bytea AS root_instructions, NULL::text AS requested_staff_name`
		join = ""
	}
	return `
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
		       ` + asked + `
		FROM page
		JOIN conversations c ON c.id = page.id
		JOIN users p ON p.id = c.patient_id
		JOIN messages m ON m.conversation_id = c.id
		JOIN users a ON a.id = m.author_id
		` + join + `
		ORDER BY page.rank, m.parent_id IS NOT NULL, m.created_at, m.id`
}

func assembledPrefixed(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

func assembledSessionSQL() string {
	return `
		SELECT s.csrf_token, s.created_at, s.last_seen_at, s.second_factor_pending, ` + assembledPrefixed("u.", userColumns) + `,
		       p.name AS practice_name, p.message_fee_cents AS practice_fee_cents, coalesce(p.time_zone, '') AS practice_time_zone,
		       coalesce((SELECT max(e.id) FROM events e WHERE e.practice_id = u.practice_id), 0) AS newest_event
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN practices p ON p.id = u.practice_id
		WHERE s.token_hash = $1 AND u.deactivated_at IS NULL
		  AND s.created_at > now() - make_interval(secs => $2)
		  AND s.last_seen_at > now() - make_interval(secs => $3)`
}

func TestStatementsAsAssembled(t *testing.T) {
	same := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s is not the statement assembled before:\ngot  %q\nwant %q", name, got, want)
		}
	}
	want := assembledPageSQL()
	if len(pageSQL) != len(want) {
		t.Errorf("%d lists, want %d", len(pageSQL), len(want))
	}
	for shape, query := range want {
		same(fmt.Sprintf("the list %+v", shape), pageSQL[shape], query)
	}
	same("fetchPatientSQL", fetchPatientSQL, assembledFetchSQL("AND c.patient_id = $3", assembledMessagesSQL(false)))
	same("fetchStaffSQL", fetchStaffSQL, assembledFetchSQL("", assembledMessagesSQL(true)))
	same("oneConversationSQL", oneConversationSQL, assembledOneConversationSQL())
	same("sessionSQL", sessionSQL, assembledSessionSQL())
	var tables []string
	for _, p := range signinPrunes {
		same("pruning "+p.table, p.query, `DELETE FROM `+p.table+` WHERE occurred_at <= now() - make_interval(secs => $1)`)
		tables = append(tables, p.table)
	}
	if !slices.Equal(tables, []string{"signin_failures", "signin_attempts"}) {
		t.Errorf("sign-in counts pruned from %q, want signin_failures and signin_attempts", tables)
	}
}
