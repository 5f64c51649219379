package store

import (
	"fmt"
	"sync"

	"github.com/alexedwards/argon2id"
)

// PasswordParams are argon2id's costs: memory-hard, so a stolen table is slow to crack on GPUs.
var PasswordParams = argon2id.DefaultParams // 64 MiB, 1 pass, 2 lanes (RFC 9106's second recommendation)

// HashPassword hashes a password for storage.
func HashPassword(password string) (string, error) {
	h, err := argon2id.CreateHash(password, PasswordParams)
	if err != nil {
		return "", fmt.Errorf("store: hash password: %w", err)
	}
	return h, nil
}

// CheckPassword reports whether password matches hash, in constant time.
func CheckPassword(password, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}

// dummyHash is checked against when no account matches, so an unknown address takes as long
// to refuse as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := argon2id.CreateHash("no account has this password", PasswordParams)
	if err != nil {
		panic(err)
	}
	return h
})

// CheckNoPassword spends the time a password check takes, for an unknown account.
func CheckNoPassword(password string) { CheckPassword(password, dummyHash()) }
