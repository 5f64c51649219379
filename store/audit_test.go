package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// TestAuditChainHolds: the audit rows every store method writes form an unbroken hash chain,
// even when many transactions write them at once.
func TestAuditChainHolds(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := []store.Viewer{f.grace, f.david, f.maria, f.tom}[i%4]
			for range 10 {
				sent, err := f.s.StartConversation(ctx, v, origin, store.NewConversation{Subject: "Audited",
					Body: "Audited", BillingConsent: true, SubmitKey: uuid.NewString()})
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				if _, err := f.s.MessageDetails(ctx, v, origin, sent.MessageID); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if err := f.s.RecordSigninFailure(ctx, "someone@example.test", origin); err != nil {
					t.Errorf("failure: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checked, broken, err := f.s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if broken != nil {
		t.Fatalf("chain broken at %+v", *broken)
	}
	if total := count(t, f.s, `SELECT count(*) FROM audit_log`); int(checked) != total || total < 240 {
		t.Errorf("checked %d of %d rows", checked, total)
	}
}

// TestAuditLogAppendOnly: the application's database role cannot rewrite history.
func TestAuditLogAppendOnly(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	for _, q := range []string{
		`UPDATE audit_log SET action = 'nothing happened' WHERE id = (SELECT min(id) FROM audit_log)`,
		`DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)`,
		`TRUNCATE audit_log`,
	} {
		if _, err := f.s.DB().ExecContext(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want it refused as append-only", q, err)
		}
	}
	if _, broken, err := f.s.VerifyAudit(t.Context()); err != nil || broken != nil {
		t.Errorf("VerifyAudit = %+v, %v", broken, err)
	}
}

// TestVerifyAuditFindsTampering: with the guards lifted (as an attacker with the table owner's
// rights could), an edited, removed or reordered row is found, and named.
func TestVerifyAuditFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper string // $1: the chain_seq of a row in the middle of the chain
		at     int64  // offset from $1 of the row VerifyAudit must name
		reason string
	}{
		{"edited action", `UPDATE audit_log SET action = 'tampered' WHERE chain_seq = $1`, 0, "edited"},
		{"edited actor", `UPDATE audit_log SET actor_id = NULL WHERE chain_seq = $1`, 0, "edited"},
		{"edited outcome", `UPDATE audit_log SET outcome = 'tampered' WHERE chain_seq = $1`, 0, "edited"},
		{"edited time", `UPDATE audit_log SET occurred_at = occurred_at + interval '1 second' WHERE chain_seq = $1`, 0, "edited"},
		{"row removed", `DELETE FROM audit_log WHERE chain_seq = $1`, 1, "removed"},
		{"rows swapped", `UPDATE audit_log SET chain_seq = -1 WHERE chain_seq = $1::bigint;
		                  UPDATE audit_log SET chain_seq = $1::bigint WHERE chain_seq = $1::bigint + 1;
		                  UPDATE audit_log SET chain_seq = $1::bigint + 1 WHERE chain_seq = -1`, 0, "reordered"},
		{"hash recomputed after an edit", `UPDATE audit_log SET action = 'x', entry_hash = sha256(prev_hash || 'x') WHERE chain_seq = $1`, 0, "edited"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newDemo(t)
			ctx := t.Context()
			var mid int64
			if err := f.s.DB().GetContext(ctx, &mid, `SELECT chain_seq FROM audit_log ORDER BY chain_seq OFFSET 5 LIMIT 1`); err != nil {
				t.Fatal(err)
			}
			tamperAudit(t, f.s, tc.tamper, mid)
			checked, broken, err := f.s.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if broken == nil {
				t.Fatalf("tampering not found (%d rows checked)", checked)
			}
			if broken.ChainSeq != mid+tc.at || !strings.Contains(broken.Reason, tc.reason) {
				t.Errorf("break at %d (%q), want at %d mentioning %q", broken.ChainSeq, broken.Reason, mid+tc.at, tc.reason)
			}
			if checked != 5 {
				t.Errorf("%d rows reported sound before the break, want 5", checked)
			}
		})
	}
}

// tamperAudit runs statements with the append-only triggers disabled, in one transaction.
func tamperAudit(t *testing.T, s *store.Store, statements string, arg int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(statements, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt, arg); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_log ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestRecordDenied: a refusal is audited only when the id is a real row of someone the viewer may
// not see, with the viewer, the object and the request, and never for the viewer's own, for
// their practice's staff, or for an id that names nothing.
func TestRecordDenied(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	maria := start(t, f.s, f.maria, store.NewConversation{Subject: "Mine", Body: "Mine"})
	for _, tc := range []struct {
		name    string
		v       store.Viewer
		kind    string
		id      int64
		audited bool
	}{
		{"another patient's message", f.tom, "message", maria.MessageID, true},
		{"another patient's conversation", f.tom, "conversation", maria.ConversationID, true},
		{"another practice's staff", f.hPhysician, "message", maria.MessageID, true},
		{"another practice's patient", f.grace, "conversation", maria.ConversationID, true},
		{"her own message", f.maria, "message", maria.MessageID, false},
		{"her practice's staff", f.nurse, "conversation", maria.ConversationID, false},
		{"a message that does not exist", f.tom, "message", 987654321, false},
		{"a conversation that does not exist", f.tom, "conversation", 987654321, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count(t, f.s, `SELECT count(*) FROM audit_log`)
			if err := f.s.RecordDenied(t.Context(), tc.v, origin, tc.kind, tc.id); err != nil {
				t.Fatal(err)
			}
			n := count(t, f.s, `SELECT count(*) FROM audit_log`) - before
			if !tc.audited {
				if n != 0 {
					t.Errorf("%d rows written", n)
				}
				return
			}
			a := lastAudit(t, f.s)
			want := auditRow{ActorID: tc.v.UserID, Action: "access_denied", ObjectType: tc.kind, ObjectID: tc.id,
				Outcome: "denied", RequestID: origin.RequestID, ClientIP: origin.ClientIP, Xmin: a.Xmin}
			if n != 1 || a != want {
				t.Errorf("%d rows, the last %+v, want %+v", n, a, want)
			}
		})
	}
	if err := f.s.RecordDenied(t.Context(), f.tom, origin, "user", f.maria.UserID); err == nil {
		t.Error("an unknown object type was accepted")
	}
}
