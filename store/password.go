package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/alexedwards/argon2id"
	"golang.org/x/sync/semaphore"
)

// PasswordParams are argon2id's costs: memory-hard, so a stolen table is slow to crack on GPUs.
var PasswordParams = argon2id.DefaultParams // 64 MiB, 1 pass, 2 lanes (RFC 9106's second recommendation)

// ErrHashingBusy is a password check or hash that could not start before its context ended,
// because every hashing slot stayed busy.
var ErrHashingBusy = errors.New("store: every password-hashing slot stayed busy")

// hashPool runs password hashes a few at a time. Each hash takes 64 MiB and a core per lane for
// a while; unbounded, a crowd of sign-ins (right passwords included) takes every core and
// starves the pages. The pool keeps hashing to about half the cores, so pages always have the
// rest, and a sign-in waits its turn here instead of in the pages' queue.
type hashPool struct {
	slots         *semaphore.Weighted
	size          int64
	running, peak atomic.Int64 // hashes at work now, and the most there have been at once
	waiting       atomic.Int64 // checks and hashes waiting for a slot
}

var hashing = newHashPool(hashSlots())

// hashSlots is how many hashes run at once: half the cores the process may use, divided by the
// lanes each hash runs on, and at least one.
func hashSlots() int {
	return max(1, runtime.GOMAXPROCS(0)/(2*int(PasswordParams.Parallelism)))
}

func newHashPool(size int) *hashPool {
	return &hashPool{slots: semaphore.NewWeighted(int64(size)), size: int64(size)}
}

// do runs f in a slot, waiting for one until ctx ends.
func (p *hashPool) do(ctx context.Context, f func()) error {
	p.waiting.Add(1)
	err := p.slots.Acquire(ctx, 1)
	p.waiting.Add(-1)
	if err != nil {
		return ErrHashingBusy
	}
	defer p.slots.Release(1)
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	f()
	return nil
}

// HoldHashing takes every hashing slot until release is called, as that many slow hashes would:
// tests use it to show what waits for a hash and what does not.
func HoldHashing(ctx context.Context) (release func(), err error) {
	if err := hashing.slots.Acquire(ctx, hashing.size); err != nil {
		return nil, ErrHashingBusy
	}
	return func() { hashing.slots.Release(hashing.size) }, nil
}

// HashingWaiters is how many password checks and hashes are waiting for a slot now.
func HashingWaiters() int64 { return hashing.waiting.Load() }

// HashPassword hashes a password for storage.
func HashPassword(ctx context.Context, password string) (string, error) {
	var h string
	var err error
	if err := hashing.do(ctx, func() { h, err = argon2id.CreateHash(password, PasswordParams) }); err != nil {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("store: hash password: %w", err)
	}
	return h, nil
}

// CheckPassword reports whether password matches hash, in constant time. It fails only with
// ErrHashingBusy.
func CheckPassword(ctx context.Context, password, hash string) (bool, error) {
	var ok bool
	var err error
	if err := hashing.do(ctx, func() { ok, err = argon2id.ComparePasswordAndHash(password, hash) }); err != nil {
		return false, err
	}
	return err == nil && ok, nil
}

// dummyHash is checked against when no account matches, so an unknown address takes as long
// to refuse as a wrong password. It is made once, in the pool, by the first check that needs it.
var dummyHash struct {
	sync.Mutex
	hash string
}

// CheckNoPassword spends the time a password check takes, for an unknown account. It fails only
// with ErrHashingBusy.
func CheckNoPassword(ctx context.Context, password string) error {
	dummyHash.Lock()
	if dummyHash.hash == "" {
		h, err := HashPassword(ctx, "no account has this password")
		if err != nil {
			dummyHash.Unlock()
			return err
		}
		dummyHash.hash = h
	}
	h := dummyHash.hash
	dummyHash.Unlock()
	_, err := CheckPassword(ctx, password, h)
	return err
}
