package unsubscribe

import (
	"maps"
	"testing"
)

func TestHeaders(t *testing.T) {
	for _, appURL := range []string{"https://messages.example.test", "https://messages.example.test/"} {
		got := Headers(appURL, "abc-DEF_123")
		want := map[string]string{
			"List-Unsubscribe":      "<https://messages.example.test/unsubscribe/abc-DEF_123>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		}
		if !maps.Equal(got, want) {
			t.Errorf("Headers(%q) = %v, want %v", appURL, got, want)
		}
	}
}
