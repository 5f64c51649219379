package store

import (
	"bytes"
	"context"
	"fmt"
)

// AuditBreak names the first link of the audit chain that does not hold.
type AuditBreak struct {
	ChainSeq int64
	ID       int64
	Reason   string
}

// VerifyAudit recomputes the audit log's hash chain, in chain order, and returns the first
// broken link: a row whose content was edited, a row missing after it was chained, or rows put
// out of order. It returns the number of rows that hold, and nil when the whole chain holds.
func (s *Store) VerifyAudit(ctx context.Context) (int64, *AuditBreak, error) {
	rows, err := s.db.QueryxContext(ctx, `
		SELECT a.chain_seq, a.id, a.prev_hash, a.entry_hash, sha256(a.prev_hash || audit_canonical(a))
		FROM audit_log a ORDER BY a.chain_seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	var checked int64
	prev := []byte{}
	for rows.Next() {
		var seq, id int64
		var prevHash, entryHash, recomputed []byte
		if err := rows.Scan(&seq, &id, &prevHash, &entryHash, &recomputed); err != nil {
			return checked, nil, fmt.Errorf("store: verify audit: %w", err)
		}
		switch {
		case !bytes.Equal(prevHash, prev):
			return checked, &AuditBreak{seq, id, "does not follow the row before it (a row was removed or reordered)"}, nil
		case !bytes.Equal(entryHash, recomputed):
			return checked, &AuditBreak{seq, id, "its content does not match its hash (the row was edited)"}, nil
		}
		prev = entryHash
		checked++
	}
	if err := rows.Err(); err != nil {
		return checked, nil, fmt.Errorf("store: verify audit: %w", err)
	}
	return checked, nil, nil
}
