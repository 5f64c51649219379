package store_test

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"

	"securemessages/store"
	"securemessages/store/storetest"
)

func mustIDs(t *testing.T, key string) *store.PublicIDs {
	t.Helper()
	ids, err := store.NewPublicIDs([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// kinds are the four kinds of public id, each as its writer and its reader.
func kinds(ids *store.PublicIDs) []struct {
	name  string
	write func(int64) string
	read  func(string) (int64, bool)
} {
	return []struct {
		name  string
		write func(int64) string
		read  func(string) (int64, bool)
	}{
		{"message", ids.Message, ids.ParseMessage},
		{"conversation", ids.Conversation, ids.ParseConversation},
		{"user", ids.User, ids.ParseUser},
		{"event", ids.Event, ids.ParseEvent},
	}
}

var publicIDShape = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestPublicIDsRoundTrip(t *testing.T) {
	t.Parallel()
	ids := mustIDs(t, "0123456789abcdef")
	for _, k := range kinds(ids) {
		for _, id := range []int64{0, 1, 2, 41, 1 << 32, math.MaxInt64} {
			s := k.write(id)
			if !publicIDShape.MatchString(s) {
				t.Errorf("%s %d: %q is not 22 characters of base64url", k.name, id, s)
			}
			if got, ok := k.read(s); !ok || got != id {
				t.Errorf("%s %d: %q reads back as %d, %t", k.name, id, s, got, ok)
			}
			if k.write(id) != s {
				t.Errorf("%s %d: written twice, two ids", k.name, id)
			}
		}
	}
}

// Any change to a public id, any character at any place, makes it not valid; so does anything
// that is not one of ours, the internal number first.
func TestPublicIDsRefuseTampering(t *testing.T) {
	t.Parallel()
	ids := mustIDs(t, "0123456789abcdef")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, k := range kinds(ids) {
		s := k.write(1234)
		for i := range len(s) {
			for _, c := range alphabet {
				if byte(c) == s[i] {
					continue
				}
				altered := s[:i] + string(c) + s[i+1:]
				if id, ok := k.read(altered); ok {
					t.Fatalf("%s: %q altered to %q still reads, as %d", k.name, s, altered, id)
				}
			}
		}
		for _, bad := range []string{"", "1234", strconv.Itoa(1234), s[:21], s + "A", s + "=", s[:21] + "=",
			"AAAAAAAAAAAAAAAAAAAAAA", "//////////////////////", "AAAAAAAAAAAAAAAAAAAA=="} {
			if id, ok := k.read(bad); ok {
				t.Errorf("%s: %q reads as %d", k.name, bad, id)
			}
		}
	}
}

// An id of one kind is not an id of another: a message's id names no conversation, user or event.
func TestPublicIDsKnowTheirKind(t *testing.T) {
	t.Parallel()
	ids := mustIDs(t, "0123456789abcdef")
	all := kinds(ids)
	for _, from := range all {
		s := from.write(77)
		for _, as := range all {
			id, ok := as.read(s)
			if want := as.name == from.name; ok != want {
				t.Errorf("a %s id read as a %s: %d, %t", from.name, as.name, id, ok)
			}
		}
	}
}

// Another key writes other ids, and reads none of this key's.
func TestPublicIDsDependOnTheKey(t *testing.T) {
	t.Parallel()
	a, b := mustIDs(t, "0123456789abcdef"), mustIDs(t, "0123456789abcdeg")
	ka, kb := kinds(a), kinds(b)
	for i := range ka {
		for id := int64(1); id <= 100; id++ {
			s := ka[i].write(id)
			if s == kb[i].write(id) {
				t.Fatalf("%s %d: the same id under two keys", ka[i].name, id)
			}
			if got, ok := kb[i].read(s); ok {
				t.Fatalf("%s %d: another key reads %q as %d", ka[i].name, id, s, got)
			}
		}
	}
	if _, err := store.NewPublicIDs([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

// Consecutive rows' ids show neither their order nor their closeness: as strings they rise and
// fall like a coin, they share no more of a prefix than chance gives, and all differ.
func TestPublicIDsHideTheOrder(t *testing.T) {
	t.Parallel()
	ids := mustIDs(t, "0123456789abcdef")
	const n = 2000
	seen := make(map[string]bool, n)
	rises, longPrefix := 0, 0
	prev := ids.Message(0)
	for id := int64(1); id <= n; id++ {
		s := ids.Message(id)
		if seen[s] {
			t.Fatalf("message %d: id %q given twice", id, s)
		}
		seen[s] = true
		if s > prev {
			rises++
		}
		p := 0
		for p < len(s) && s[p] == prev[p] {
			p++
		}
		if p >= 3 { // 1 in 64^3 by chance
			longPrefix++
		}
		prev = s
	}
	// For a random permutation, rises is about n/2 give or take 22; the key is fixed, so is this.
	if rises < n*4/10 || rises > n*6/10 {
		t.Errorf("%d of %d consecutive ids rise as strings: their order shows", rises, n)
	}
	if longPrefix > 2 {
		t.Errorf("%d of %d consecutive ids share 3 or more leading characters", longPrefix, n)
	}
}

// The key is the database's: made once, kept, the same for every store on the database (and so
// every instance), and another database has its own.
func TestPublicIDsKeyIsTheDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	first, err := s.PublicIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := store.New(s.DB(), storetest.Keys).PublicIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Message(5) != again.Message(5) {
		t.Error("two stores on one database write different ids")
	}
	var rows int
	if err := s.DB().Get(&rows, `SELECT count(*) FROM public_id_key`); err != nil || rows != 1 {
		t.Fatalf("%d key rows (%v), want 1", rows, err)
	}
	other, err := storetest.New(t).PublicIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if other.Message(5) == first.Message(5) {
		t.Error("two databases share a key")
	}
}
