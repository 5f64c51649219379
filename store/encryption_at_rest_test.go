package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"securemessages/store"
)

// tableTexts returns every row of every table of the schema as text (bytea shows as hex), and the
// raw bytes of every bytea column, by table.
func tableTexts(t *testing.T, s *store.Store) (texts map[string][]string, raw map[string][][]byte) {
	t.Helper()
	ctx := t.Context()
	var tables []string
	if err := s.DB().SelectContext(ctx, &tables, `
		SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`); err != nil {
		t.Fatal(err)
	}
	texts, raw = map[string][]string{}, map[string][][]byte{}
	for _, table := range tables {
		var rows []string
		if err := s.DB().SelectContext(ctx, &rows, fmt.Sprintf(`SELECT t::text FROM %q t`, table)); err != nil {
			t.Fatal(err)
		}
		texts[table] = rows
		var cols []string
		if err := s.DB().SelectContext(ctx, &cols, `
			SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND data_type = 'bytea'`, table); err != nil {
			t.Fatal(err)
		}
		for _, col := range cols {
			var values [][]byte
			if err := s.DB().SelectContext(ctx, &values, fmt.Sprintf(`SELECT %q FROM %q`, col, table)); err != nil {
				t.Fatal(err)
			}
			raw[table] = append(raw[table], values...)
		}
	}
	return texts, raw
}

// findPlaintext reports where, if anywhere, a secret appears in the database: as text, as the hex
// PostgreSQL prints bytea in, or as raw bytes.
func findPlaintext(t *testing.T, s *store.Store, secrets []string) []string {
	t.Helper()
	texts, raw := tableTexts(t, s)
	var found []string
	for _, secret := range secrets {
		h := hex.EncodeToString([]byte(secret))
		for table, rows := range texts {
			for _, row := range rows {
				lower := strings.ToLower(row)
				if strings.Contains(lower, strings.ToLower(secret)) || strings.Contains(lower, h) {
					found = append(found, fmt.Sprintf("%q in %s row %s", secret, table, row))
				}
			}
		}
		for table, values := range raw {
			for _, v := range values {
				if bytes.Contains(v, []byte(secret)) {
					found = append(found, fmt.Sprintf("%q in a bytea of %s", secret, table))
				}
			}
		}
	}
	return found
}

// TestNoPlaintextAtRest: after a message, a reply and a read, no table holds the subject, body or
// special instructions in clear.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	const (
		subject = "Zanzibar quokka subject 7731"
		body    = "Pelican thyroid body 5520: my left ankle is swollen"
		answer  = "Marmalade walrus answer 9914"
		own     = "Gazelle cholesterol subject 4417" // a follow-up's subject of its own
	)
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: subject, Body: body, ResponseMethod: "visit",
		RequestedStaffID: f.nurse.UserID, NoResponseNeeded: false})
	r := reply(t, f.s, f.nurse, sent.MessageID, answer)
	followUp, err := f.s.SendReply(ctx, f.nurse, origin, store.NewReply{ParentID: r.MessageID, Subject: own,
		Body: "Noted.", SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.s.MessageDetails(ctx, f.physician, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: the store reads back what was sent, so the secrets were really written.
	if m.Subject != subject || m.Details.Body != body || m.Details.Instructions.ResponseMethod != "visit" ||
		!m.Details.Instructions.BillingConsent || m.Details.Instructions.FeeCents != 2500 {
		t.Fatalf("read back %+v %+v", m, m.Details)
	}
	if _, err := f.s.Conversation(ctx, f.maria, r.ConversationID); err != nil {
		t.Fatal(err)
	}

	if fu, err := f.s.MessageDetails(ctx, f.physician, origin, followUp.MessageID); err != nil || fu.Subject != own {
		t.Fatalf("the follow-up reads back %+v, %v; want its own subject", fu, err)
	}
	secrets := []string{subject, body, answer, "Re: " + subject, own, "Gazelle", "quokka", "Pelican", "walrus",
		// The sealed instructions are JSON: none of their keys or values may show.
		"response_method", "billing_consent", "fee_cents", `"visit"`, "no_response_needed"}
	if found := findPlaintext(t, f.s, secrets); len(found) > 0 {
		t.Errorf("plaintext at rest:\n%s", strings.Join(found, "\n"))
	}
	// And the search does find what is stored in clear (names are not health information), so
	// an empty result above means something.
	if found := findPlaintext(t, f.s, []string{"Maria Lopez"}); len(found) == 0 {
		t.Error("the search found nothing it should find")
	}
	if n := count(t, f.s, `SELECT count(*) FROM messages WHERE id = ANY($1)`, pq.Array([]int64{sent.MessageID, r.MessageID})); n != 2 {
		t.Errorf("%d of the two messages are in the table", n)
	}
}

// TestTamperedCiphertextDoesNotOpen: a byte changed in any sealed column makes the reads that
// open it fail with ErrDecrypt instead of returning altered text.
func TestTamperedCiphertextDoesNotOpen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		column  string
		byteAt  int
		reply   bool // tamper with a reply rather than the conversation's first message
		inbox   bool // whether the staff's list and Conversation open this column of this message
		details bool // whether MessageDetails opens it
	}{
		{"subject", 0, false, true, true}, // version
		{"subject", 2, false, true, true}, // key id
		{"subject", 9, false, true, true}, // nonce
		{"subject", 20, false, true, true},
		{"subject", -1, false, true, true}, // last byte of the tag
		{"subject", 20, true, true, true},
		{"body", 1, false, false, true},
		{"body", 25, false, false, true},
		{"body", -1, true, false, true},
		// The staff queue shows the first message's special instructions (a patient's list does
		// not read them).
		{"instructions", 10, false, true, true},
		{"instructions", 30, false, true, true},
		{"instructions", 10, true, false, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s byte %d", tc.column, tc.byteAt)
		if tc.reply {
			name += " of a reply"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newDemo(t)
			ctx := t.Context()
			sent := start(t, f.s, f.grace, store.NewConversation{Subject: "Fever", Body: "39 degrees since noon"})
			if tc.reply {
				sent = reply(t, f.s, f.hNurse, sent.MessageID, "Take paracetamol and call if it rises.")
			}
			pos := fmt.Sprint(tc.byteAt)
			if tc.byteAt < 0 {
				pos = fmt.Sprintf("length(%s) - %d", tc.column, -tc.byteAt)
			}
			res, err := f.s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE messages SET %[1]s = set_byte(%[1]s, %[2]s, get_byte(%[1]s, %[2]s) # 1) WHERE id = $1`,
				tc.column, pos), sent.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("tampered %d rows", n)
			}

			_, inboxErr := f.s.Inbox(ctx, f.grace, store.InboxFilter{IncludeArchived: true})
			_, queueErr := f.s.Inbox(ctx, f.hNurse, store.InboxFilter{IncludeArchived: true})
			_, convErr := f.s.Conversation(ctx, f.hNurse, sent.ConversationID)
			_, detailsErr := f.s.MessageDetails(ctx, f.grace, origin, sent.MessageID)
			for name, got := range map[string]struct {
				err  error
				want bool
			}{
				"patient's Inbox": {inboxErr, tc.inbox && tc.column != "instructions"},
				"staff's Inbox":   {queueErr, tc.inbox},
				"Conversation":    {convErr, tc.inbox},
				"MessageDetails":  {detailsErr, tc.details},
			} {
				if got.want && !errors.Is(got.err, store.ErrDecrypt) {
					t.Errorf("%s: err = %v, want ErrDecrypt", name, got.err)
				}
				if !got.want && got.err != nil {
					t.Errorf("%s does not open %s, yet failed: %v", name, tc.column, got.err)
				}
			}
		})
	}
}

// TestMovedCiphertextDoesNotOpen: each ciphertext is bound to its row, column and conversation,
// so a value copied elsewhere by someone with write access to the database does not open.
func TestMovedCiphertextDoesNotOpen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sql  string // $1: the victim message, $2: another message of the same patient
	}{
		{"body of another message", `UPDATE messages SET body = (SELECT body FROM messages WHERE id = $2) WHERE id = $1`},
		{"instructions of another message", `UPDATE messages SET instructions = (SELECT instructions FROM messages WHERE id = $2) WHERE id = $1`},
		{"subject into the body column", `UPDATE messages SET body = subject WHERE id = $1 AND $2 > 0`},
		{"body into the instructions column", `UPDATE messages SET instructions = body WHERE id = $1 AND $2 > 0`},
		{"message moved to another conversation", `UPDATE messages SET conversation_id = (SELECT conversation_id FROM messages WHERE id = $2) WHERE id = $1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newDemo(t)
			ctx := t.Context()
			victim := start(t, f.s, f.grace, store.NewConversation{Subject: "Victim", Body: "victim body", ResponseMethod: "phone"})
			donor := start(t, f.s, f.grace, store.NewConversation{Subject: "Donor", Body: "donor body", ResponseMethod: "visit"})
			if _, err := f.s.DB().ExecContext(ctx, tc.sql, victim.MessageID, donor.MessageID); err != nil {
				t.Fatal(err)
			}
			m, err := f.s.MessageDetails(ctx, f.grace, origin, victim.MessageID)
			if !errors.Is(err, store.ErrDecrypt) {
				t.Fatalf("MessageDetails = %+v, %v; want ErrDecrypt", m, err)
			}
			// The donor is untouched and still opens.
			if d, err := f.s.MessageDetails(ctx, f.grace, origin, donor.MessageID); err != nil || d.Details.Body != "donor body" {
				t.Errorf("donor: %+v, %v", d, err)
			}
		})
	}
}

// TestCiphertextSealedWithPrimaryKey: each sealed column carries the version and the primary
// key's id in its header, which is what lets an operator find values to re-seal after rotation.
func TestCiphertextSealedWithPrimaryKey(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	sent := start(t, f.s, f.grace, store.NewConversation{Subject: "Header", SubmitKey: uuid.NewString()})
	var headers []string
	if err := f.s.DB().SelectContext(t.Context(), &headers, `
		SELECT encode(substr(subject, 1, 5), 'hex') FROM messages WHERE id = $1
		UNION ALL SELECT encode(substr(body, 1, 5), 'hex') FROM messages WHERE id = $1
		UNION ALL SELECT encode(substr(instructions, 1, 5), 'hex') FROM messages WHERE id = $1`, sent.MessageID); err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if h != "0100000001" {
			t.Errorf("header %s, want version 1, key 1", h)
		}
	}
	if len(headers) != 3 {
		t.Errorf("%d headers", len(headers))
	}
}
