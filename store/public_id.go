package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// PublicIDs writes the ids that leave the server (URLs, DOM ids, form values, the live stream's
// event ids) and reads them back. The tables keep their sequences: ids drawn from one sequence for
// every practice would let anyone who sees two of them count the messages, conversations and
// users of all practices in between. A public id is one AES-128 block, encrypted under the
// deployment's own key, of the internal id (8 bytes, big-endian) followed by a fixed 8-byte tag
// of its kind, written as 22 characters of unpadded base64url.
//
// One block cipher call is a keyed pseudorandom permutation of 128-bit blocks, which is exactly
// what an id needs, and why it is used alone rather than through an AEAD or random columns:
// distinct ids give distinct blocks (no collisions, no lookup table, no schema change), the same
// id always gives the same block (links, caches and DOM ids stay stable), consecutive ids give
// blocks with no visible relation, and a block that was not made with the key decrypts to a
// random tag, which matches one kind's with probability 2^-64: a forged, altered or wrong-kind
// id is simply not valid. Nothing here is secret but the key; the ids carry no health
// information.
type PublicIDs struct {
	block cipher.Block // made once: a cipher per call would cost more than the encryption
}

// publicIDKeySize is AES-128's key: 128 bits of key for a 64-bit id and a 64-bit tag.
const publicIDKeySize = 16

// The tags of the kinds of public id, as the second half of the block.
var (
	tagMessage      = [8]byte{'m', 'e', 's', 's', 'a', 'g', 'e', 0}
	tagConversation = [8]byte{'c', 'o', 'n', 'v', 'e', 'r', 's', 'e'}
	tagUser         = [8]byte{'u', 's', 'e', 'r', 0, 0, 0, 0}
	tagEvent        = [8]byte{'e', 'v', 'e', 'n', 't', 0, 0, 0}
	tagAudit        = [8]byte{'a', 'u', 'd', 'i', 't', 0, 0, 0}
)

// publicIDEncoding is base64url without padding, strict: only one spelling of a block is
// accepted (the loose decoder ignores the last character's unused bits).
var publicIDEncoding = base64.RawURLEncoding.Strict()

// PublicIDLen is the length of every public id.
const PublicIDLen = 22

// NewPublicIDs makes the codec for a 16-byte key.
func NewPublicIDs(key []byte) (*PublicIDs, error) {
	if len(key) != publicIDKeySize {
		return nil, fmt.Errorf("store: public id key: %d bytes, want %d", len(key), publicIDKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: public id key: %w", err)
	}
	return &PublicIDs{block: block}, nil
}

// Message, Conversation, User and Event write an internal id as a public one.
func (p *PublicIDs) Message(id int64) string      { return p.encode(id, &tagMessage) }
func (p *PublicIDs) Conversation(id int64) string { return p.encode(id, &tagConversation) }
func (p *PublicIDs) User(id int64) string         { return p.encode(id, &tagUser) }
func (p *PublicIDs) Event(id int64) string        { return p.encode(id, &tagEvent) }

// Audit writes an audit row's id, the audit review's place in the list (its next page).
func (p *PublicIDs) Audit(id int64) string { return p.encode(id, &tagAudit) }

// ParseAudit reads an audit row's public id.
func (p *PublicIDs) ParseAudit(s string) (int64, bool) { return p.parse(s, &tagAudit) }

// ParseMessage, ParseConversation, ParseUser and ParseEvent read a public id of their kind; ok is
// false for anything else (not one of ours, altered, or another kind's).
func (p *PublicIDs) ParseMessage(s string) (int64, bool)      { return p.parse(s, &tagMessage) }
func (p *PublicIDs) ParseConversation(s string) (int64, bool) { return p.parse(s, &tagConversation) }
func (p *PublicIDs) ParseUser(s string) (int64, bool)         { return p.parse(s, &tagUser) }
func (p *PublicIDs) ParseEvent(s string) (int64, bool)        { return p.parse(s, &tagEvent) }

func (p *PublicIDs) encode(id int64, tag *[8]byte) string {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	copy(b[8:], tag[:])
	p.block.Encrypt(b[:], b[:])
	var out [PublicIDLen]byte
	publicIDEncoding.Encode(out[:], b[:])
	return string(out[:])
}

func (p *PublicIDs) parse(s string, tag *[8]byte) (int64, bool) {
	if len(s) != PublicIDLen {
		return 0, false
	}
	var in [PublicIDLen]byte
	copy(in[:], s)
	var b [aes.BlockSize]byte
	if n, err := publicIDEncoding.Decode(b[:], in[:]); err != nil || n != aes.BlockSize {
		return 0, false
	}
	p.block.Decrypt(b[:], b[:])
	if [8]byte(b[8:]) != *tag {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(b[:8]))
	if id < 0 {
		return 0, false
	}
	return id, true
}

// PublicIDs is the codec under this database's key. The first call makes the key if the
// database has none (16 random bytes; of concurrent first instances one insert wins and all read
// it), so every instance on the database agrees and nothing needs configuring. It is kept after
// the first call; the app asks for it at start-up. It is not read by Open because Open also
// serves the commands that run before the schema exists (migrate, creating the database).
func (s *Store) PublicIDs(ctx context.Context) (*PublicIDs, error) {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	if s.ids != nil {
		return s.ids, nil
	}
	fresh := make([]byte, publicIDKeySize)
	rand.Read(fresh)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO public_id_key (key) VALUES ($1) ON CONFLICT DO NOTHING`, fresh); err != nil {
		return nil, fmt.Errorf("store: public id key: %w", err)
	}
	var key []byte
	if err := s.db.GetContext(ctx, &key, `SELECT key FROM public_id_key`); err != nil {
		return nil, fmt.Errorf("store: public id key: %w", err)
	}
	ids, err := NewPublicIDs(key)
	if err != nil {
		return nil, err
	}
	s.ids = ids
	return ids, nil
}

// tagInvitation is the kind of an invitation's public id (the practice's list's resend and
// revoke addresses).
var tagInvitation = [8]byte{'i', 'n', 'v', 'i', 't', 'e', 0, 0}

// Invitation writes an invitation's id as a public one.
func (p *PublicIDs) Invitation(id int64) string { return p.encode(id, &tagInvitation) }

// ParseInvitation reads an invitation's public id.
func (p *PublicIDs) ParseInvitation(s string) (int64, bool) { return p.parse(s, &tagInvitation) }
