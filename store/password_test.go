package store_test

import (
	"strings"
	"testing"

	"securemessages/store"
)

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	h1, err := store.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := store.HashPassword("correct horse battery staple")
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
		if got := store.CheckPassword(tc.password, tc.hash); got != tc.want {
			t.Errorf("CheckPassword(%q, %.20q) = %v, want %v", tc.password, tc.hash, got, tc.want)
		}
	}
	store.CheckNoPassword("anything") // spends the time of a check; must not panic
}
