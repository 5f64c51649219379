package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"securemessages/store"
)

// randomKey is a fresh 32-byte key in standard base64.
func randomKey(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

func mustRing(t testing.TB, spec string) *store.Keyring {
	t.Helper()
	k, err := store.ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring(%q): %v", spec, err)
	}
	return k
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	k1, k2 := randomKey(t), randomKey(t)
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	aes128 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	urlSafe := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)) // has '-' and '_'

	cases := []struct {
		name        string
		spec        string
		wantPrimary uint32 // 0: want an error
		wantErr     string
	}{
		{name: "one key", spec: "1:" + k1, wantPrimary: 1},
		{name: "two keys, first is primary", spec: "7:" + k1 + ",3:" + k2, wantPrimary: 7},
		{name: "spaces around entries", spec: "  2:" + k1 + " , 1:" + k2 + "  ", wantPrimary: 2},
		{name: "largest id", spec: "4294967295:" + k1, wantPrimary: 4294967295},

		{name: "empty", spec: "", wantErr: "no message keys"},
		{name: "blank", spec: "   ", wantErr: "no message keys"},
		{name: "missing id", spec: ":" + k1, wantErr: "positive whole number"},
		{name: "no colon", spec: k1, wantErr: "want id:base64key"},
		{name: "id zero", spec: "0:" + k1, wantErr: "positive whole number"},
		{name: "negative id", spec: "-1:" + k1, wantErr: "positive whole number"},
		{name: "id not a number", spec: "one:" + k1, wantErr: "positive whole number"},
		{name: "id too large", spec: "4294967296:" + k1, wantErr: "positive whole number"},
		{name: "bad base64", spec: "1:not*base64!", wantErr: "32 bytes"},
		{name: "url-safe base64", spec: "1:" + urlSafe, wantErr: "32 bytes"},
		{name: "key 31 bytes", spec: "1:" + short, wantErr: "32 bytes"},
		{name: "key 33 bytes", spec: "1:" + long, wantErr: "32 bytes"},
		{name: "AES-128 key", spec: "1:" + aes128, wantErr: "32 bytes"},
		{name: "empty key", spec: "1:", wantErr: "32 bytes"},
		{name: "duplicate id", spec: "1:" + k1 + ",1:" + k2, wantErr: "given twice"},
		{name: "bad second entry", spec: "1:" + k1 + ",2:" + short, wantErr: "message key 2"},
		{name: "trailing comma", spec: "1:" + k1 + ",", wantErr: "message key 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := store.ParseKeyring(tc.spec)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseKeyring(%q) succeeded, want an error containing %q", tc.spec, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
					t.Errorf("error %q repeats a key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyring(%q): %v", tc.spec, err)
			}
			if got := k.PrimaryKeyID(); got != tc.wantPrimary {
				t.Errorf("PrimaryKeyID() = %d, want %d", got, tc.wantPrimary)
			}
			// Every key of a good ring works.
			sealed := k.Seal([]byte("x"), []byte("ad"))
			if _, err := k.Open(sealed, []byte("ad")); err != nil {
				t.Errorf("Open after Seal: %v", err)
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustRing(t, "1:"+randomKey(t))
	cases := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"text", []byte("I have had a headache for three days."), []byte("sm/v1|messages.body|1|1")},
		{"empty plaintext", []byte{}, []byte("ad")},
		{"empty ad", []byte("hello"), nil},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}, []byte{0}},
		{"unicode", []byte("fièvre 38,5 °C — 发烧"), []byte("ad")},
		{"large", bytes.Repeat([]byte("a"), 64<<10), []byte("ad")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed := k.Seal(tc.plaintext, tc.ad)
			if len(tc.plaintext) > 4 && bytes.Contains(sealed, tc.plaintext) {
				t.Fatal("sealed value contains the plaintext")
			}
			if want := 1 + 4 + 12 + len(tc.plaintext) + 16; len(sealed) != want {
				t.Errorf("sealed length %d, want %d (version, key id, nonce, ciphertext, tag)", len(sealed), want)
			}
			if sealed[0] != 1 || binary.BigEndian.Uint32(sealed[1:5]) != 1 {
				t.Errorf("header % x, want version 1 and key id 1", sealed[:5])
			}
			got, err := k.Open(sealed, tc.ad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open = %q, want %q", got, tc.plaintext)
			}
		})
	}
	// The same plaintext seals differently every time.
	a, b := k.Seal([]byte("same"), []byte("ad")), k.Seal([]byte("same"), []byte("ad"))
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal")
	}
}

// TestOpenRejectsEveryFlippedByte: a change to any byte of a sealed value, header included, is
// caught.
func TestOpenRejectsEveryFlippedByte(t *testing.T) {
	t.Parallel()
	k := mustRing(t, "1:"+randomKey(t)+",2:"+randomKey(t))
	ad := []byte("sm/v1|messages.subject|5|9")
	sealed := k.Seal([]byte("Chest pain after exercise"), ad)
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= mask
			if plain, err := k.Open(tampered, ad); !errors.Is(err, store.ErrDecrypt) {
				t.Errorf("byte %d ^ %#x: Open = %q, %v; want ErrDecrypt", i, mask, plain, err)
			}
		}
	}
	// Cut short or lengthened.
	for _, n := range []int{0, 1, 4, 5, 16, 17, 32, len(sealed) - 1} {
		if _, err := k.Open(sealed[:n], ad); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("first %d bytes: err = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0), ad); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("one byte appended: err = %v, want ErrDecrypt", err)
	}
	// The untouched value still opens: the loop above did not fail for a reason of its own.
	if _, err := k.Open(sealed, ad); err != nil {
		t.Fatalf("untouched value: %v", err)
	}
}

func TestOpenRejectsOtherAssociatedData(t *testing.T) {
	t.Parallel()
	k := mustRing(t, "1:"+randomKey(t))
	ad := store.MessageAD("body", 12, 34)
	// Values in databases were sealed under these very bytes: they must never change.
	if want := "sm/v1|messages.body|12|34"; string(ad) != want {
		t.Fatalf("associated data %q, want %q", ad, want)
	}
	sealed := k.Seal([]byte("Blood sugar 240 this morning"), ad)
	others := map[string][]byte{
		"other column":       store.MessageAD("subject", 12, 34),
		"other message":      store.MessageAD("body", 13, 34),
		"other conversation": store.MessageAD("body", 12, 35),
		"no ad":              nil,
		"ad with extra byte": append(bytes.Clone(ad), 0),
		"ad one byte short":  ad[:len(ad)-1],
	}
	for name, other := range others {
		if _, err := k.Open(sealed, other); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	if _, err := k.Open(sealed, ad); err != nil {
		t.Fatalf("own ad: %v", err)
	}
}

func TestOpenRejectsUnknownKey(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	sealedBy7 := mustRing(t, "7:"+key).Seal([]byte("secret"), []byte("ad"))
	cases := map[string]*store.Keyring{
		"ring without key 7":         mustRing(t, "1:"+randomKey(t)),
		"same key bytes under id 1":  mustRing(t, "1:"+key), // the key id is authenticated too
		"other key bytes under id 7": mustRing(t, "7:"+randomKey(t)),
	}
	for name, ring := range cases {
		if _, err := ring.Open(sealedBy7, []byte("ad")); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	// Relabelled to id 1 (which the ring has, with the same key bytes): the header is
	// authenticated, so it still does not open.
	relabelled := bytes.Clone(sealedBy7)
	binary.BigEndian.PutUint32(relabelled[1:5], 1)
	if _, err := mustRing(t, "1:"+key+",7:"+key).Open(relabelled, []byte("ad")); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("relabelled key id: err = %v, want ErrDecrypt", err)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := randomKey(t), randomKey(t)
	old := mustRing(t, "1:"+oldKey)
	rotated := mustRing(t, "2:"+newKey+",1:"+oldKey)
	ad := []byte("sm/v1|messages.body|1|1")

	sealedOld := old.Seal([]byte("written before rotation"), ad)
	if got, err := rotated.Open(sealedOld, ad); err != nil || string(got) != "written before rotation" {
		t.Fatalf("rotated ring opens an old value: %q, %v", got, err)
	}

	if got := rotated.PrimaryKeyID(); got != 2 {
		t.Fatalf("PrimaryKeyID() = %d, want 2", got)
	}
	sealedNew := rotated.Seal([]byte("written after rotation"), ad)
	if id := binary.BigEndian.Uint32(sealedNew[1:5]); id != 2 {
		t.Errorf("new value sealed with key %d, want 2", id)
	}
	if _, err := old.Open(sealedNew, ad); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("old ring opened a value sealed with the new key: %v", err)
	}
	// Once every value is re-sealed, the old key can go.
	if got, err := mustRing(t, "2:"+newKey).Open(sealedNew, ad); err != nil || string(got) != "written after rotation" {
		t.Errorf("new key alone: %q, %v", got, err)
	}
	if _, err := mustRing(t, "2:"+newKey).Open(sealedOld, ad); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("old value opened without the old key: %v", err)
	}
}

// TestSealNoncesNeverRepeat: GCM loses its guarantees when a nonce repeats under one key.
func TestSealNoncesNeverRepeat(t *testing.T) {
	t.Parallel()
	k := mustRing(t, "1:"+randomKey(t))
	const n = 100_000
	seen := make(map[[12]byte]struct{}, n)
	plain, ad := []byte("p"), []byte("ad")
	for i := range n {
		sealed := k.Seal(plain, ad)
		nonce := [12]byte(sealed[5:17])
		if _, dup := seen[nonce]; dup {
			t.Fatalf("seal %d repeated nonce % x", i, nonce)
		}
		seen[nonce] = struct{}{}
	}
}

// FuzzOpen: whatever bytes the database hands back, Open neither panics, nor changes its input,
// nor answers anything but a plaintext or ErrDecrypt; and nothing but a sealed value opens.
func FuzzOpen(f *testing.F) {
	k, err := store.ParseKeyring("1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) +
		",2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		f.Fatal(err)
	}
	ad := []byte("sm/v1|messages.body|1|1")
	valid := k.Seal([]byte("seed plaintext"), ad)
	f.Add(valid, ad)
	f.Add(valid, []byte("other ad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, ad)
	f.Add([]byte{1, 0, 0, 0, 1}, ad)                              // header only
	f.Add(append([]byte{1, 0, 0, 0, 1}, make([]byte, 12)...), ad) // header and nonce, no tag
	f.Add(append([]byte{1, 0, 0, 0, 1}, make([]byte, 28)...), ad) // empty ciphertext, zero tag
	f.Add(append([]byte{2}, valid[1:]...), ad)                    // unknown version
	f.Add(append([]byte{1, 0, 0, 0, 3}, valid[5:]...), ad)        // unknown key id
	f.Add(append([]byte{1, 0, 0, 0, 0}, valid[5:]...), ad)        // key id zero
	f.Add(valid[:len(valid)-1], ad)
	f.Add(bytes.Repeat([]byte{0xff}, 100), ad)

	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		before := bytes.Clone(sealed)
		plain, err := k.Open(sealed, ad)
		if !bytes.Equal(sealed, before) {
			t.Fatal("Open changed its input")
		}
		if err != nil {
			if !errors.Is(err, store.ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
			if plain != nil {
				t.Fatalf("plaintext %q returned with an error", plain)
			}
			return
		}
		// It opened, so it must be a value these keys sealed, and they only ever sealed the seed
		// (each fuzzing process seals its own copy, with its own nonce).
		if string(plain) != "seed plaintext" || !bytes.Equal(sealed[:5], valid[:5]) {
			t.Fatalf("Open accepted a value it did not seal: % x -> %q", sealed, plain)
		}
	})
}

// ExampleKeyring_Seal shows the framing a sealed value has.
func ExampleKeyring_Seal() {
	k, _ := store.ParseKeyring("3:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	sealed := k.Seal([]byte("hello"), []byte("ad"))
	fmt.Println(sealed[0], binary.BigEndian.Uint32(sealed[1:5]), len(sealed))
	// Output: 1 3 38
}
