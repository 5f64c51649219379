package store

import "time"

// MessageAD is the associated data a message column is sealed with. Tests use it to write
// ciphertexts the way the store does (a reply inserted by hand while a lock is held) and to
// prove that a ciphertext moved to another row or column no longer opens.
var MessageAD = messageAD

// HashingPeak is the most password hashes that have run at once; HashingSlots the pool's size.
func HashingPeak() int64 { return hashing.peak.Load() }

var HashingSlots = hashing.size

// SetClock makes the store read the time from now, for tests of business hours.
func (s *Store) SetClock(now func() time.Time) { s.now = now }
