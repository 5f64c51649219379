package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"securemessages/store"
)

func checkPassword(t testing.TB, password, hash string) bool {
	t.Helper()
	ok, err := store.CheckPassword(context.Background(), password, hash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h1, err := store.HashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := store.HashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1, "$argon2id$") || strings.Contains(h1, "correct horse") {
		t.Errorf("hash %q", h1)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		password, hash string
		want           bool
	}{
		{"correct horse battery staple", h1, true},
		{"correct horse battery staple", h2, true},
		{"correct horse battery stapler", h1, false},
		{"Correct horse battery staple", h1, false},
		{"", h1, false},
		{"correct horse battery staple", "", false},
		{"correct horse battery staple", "not a hash", false},
		{"correct horse battery staple", "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", false},
	}
	for _, tc := range cases {
		if got := checkPassword(t, tc.password, tc.hash); got != tc.want {
			t.Errorf("CheckPassword(%q, %.20q) = %v, want %v", tc.password, tc.hash, got, tc.want)
		}
	}
	if err := store.CheckNoPassword(ctx, "anything"); err != nil { // spends the time of a check
		t.Fatal(err)
	}
}

// TestPasswordHashingIsBounded: however many checks, hashes and unknown-account checks are asked
// for at once, no more run together than the pool has slots; while the pool is held, a check
// whose time runs out says the hashing is busy, and one with time to wait goes through once the
// pool is let go.
func TestPasswordHashingIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hash, err := store.HashPassword(ctx, "a password")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*(4*store.HashingSlots+2))
	for range 4*store.HashingSlots + 2 {
		wg.Add(3)
		go func() { defer wg.Done(); _, err := store.CheckPassword(ctx, "a password", hash); errs <- err }()
		go func() { defer wg.Done(); _, err := store.HashPassword(ctx, "a password"); errs <- err }()
		go func() { defer wg.Done(); errs <- store.CheckNoPassword(ctx, "a password") }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak := store.HashingPeak(); peak < 1 || peak > store.HashingSlots {
		t.Errorf("%d hashes ran at once; the pool has %d slots", peak, store.HashingSlots)
	}

	release, err := store.HoldHashing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := store.CheckPassword(short, "a password", hash); !errors.Is(err, store.ErrHashingBusy) {
		t.Errorf("a check while the pool is held: %v, want ErrHashingBusy", err)
	}
	if err := store.CheckNoPassword(short, "a password"); !errors.Is(err, store.ErrHashingBusy) {
		t.Errorf("an unknown-account check while the pool is held: %v, want ErrHashingBusy", err)
	}
	done := make(chan bool, 1)
	go func() { ok, _ := store.CheckPassword(ctx, "a password", hash); done <- ok }()
	release()
	if ok := <-done; !ok {
		t.Error("the check that waited for the pool did not match")
	}
}
