package store

// MessageAD is the associated data a message column is sealed with. Tests use it to write
// ciphertexts the way the store does (a reply inserted by hand while a lock is held) and to
// prove that a ciphertext moved to another row or column no longer opens.
var MessageAD = messageAD
