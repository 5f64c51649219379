package store

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A sealed value is laid out as
//
//	version (1 byte) | key id (4 bytes, big endian) | nonce (12 bytes) | ciphertext and GCM tag
//
// The key id lets keys rotate: new values are sealed with the primary key while older ones still
// open with the key that sealed them. The associated data binds a ciphertext to its table, column
// and row, so a value copied to another row or column does not open.
const sealVersion = 1

// ErrDecrypt is returned when a sealed value cannot be opened: tampered with, moved to another
// row, or sealed with a key that is not in the ring.
var ErrDecrypt = errors.New("store: message ciphertext does not open")

// Keyring holds the AES-256-GCM keys for message text. The standard library's GCM is used as is;
// the only thing of our own is the framing above, which is what makes rotation possible.
type Keyring struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD
}

// ParseKeyring reads MESSAGE_KEYS: comma-separated "id:base64key" entries, each key 32 bytes
// (standard base64). The first entry is the primary key, used to seal new values.
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("no message keys given")
	}
	kr := &Keyring{aeads: map[uint32]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		idText, keyText, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok {
			return nil, fmt.Errorf("message key %d: want id:base64key", i+1)
		}
		id, err := strconv.ParseUint(idText, 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("message key %d: id must be a positive whole number", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(keyText)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("message key %d: key must be 32 bytes of standard base64", i+1)
		}
		if _, dup := kr.aeads[uint32(id)]; dup {
			return nil, fmt.Errorf("message key %d: id %d given twice", i+1, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("message key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("message key %d: %w", i+1, err)
		}
		kr.aeads[uint32(id)] = aead
		if i == 0 {
			kr.primary = uint32(id)
		}
	}
	return kr, nil
}

// Seal encrypts plaintext with the primary key, bound to ad.
func (k *Keyring) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, 5, 5+k.aeads[k.primary].NonceSize()+len(plaintext)+k.aeads[k.primary].Overhead())
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:5], k.primary)
	// The header is part of the associated data, so the version and key id cannot be edited.
	return k.aeads[k.primary].Seal(out, nil, plaintext, append(out[:5:5], ad...))
}

// Open decrypts a value made by Seal with the same ad.
func (k *Keyring) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != sealVersion {
		return nil, ErrDecrypt
	}
	aead, ok := k.aeads[binary.BigEndian.Uint32(sealed[1:5])]
	if !ok {
		return nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, nil, sealed[5:], append(sealed[:5:5], ad...))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// PrimaryKeyID is the id of the key new values are sealed with.
func (k *Keyring) PrimaryKeyID() uint32 { return k.primary }

// messageAD is the associated data of one column of one message row. The conversation id is part
// of it too, so a message moved to another patient's conversation no longer opens.
// It is "sm/v1|messages.<column>|<message>|<conversation>", appended without fmt: an inbox page
// opens about a hundred subjects.
func messageAD(column string, messageID, conversationID int64) []byte {
	b := make([]byte, 0, 64)
	b = append(append(append(b, "sm/v1|messages."...), column...), '|')
	b = append(strconv.AppendInt(b, messageID, 10), '|')
	return strconv.AppendInt(b, conversationID, 10)
}
