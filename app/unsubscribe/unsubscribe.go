// Package unsubscribe owns the one-click unsubscribe headers (RFC 8058) every notification
// e-mail carries, and the address they point at, so the mail sender and the route that answers
// agree on it. It knows nothing of tokens beyond putting one in the address: the store makes
// them, and the app's /unsubscribe/:token route turns one kind of e-mail off.
package unsubscribe

import (
	"net/url"
	"strings"
)

// Header names.
const (
	HeaderList = "List-Unsubscribe"
	HeaderPost = "List-Unsubscribe-Post"
)

// OneClick is the List-Unsubscribe-Post value, and the body a mail client posts with it.
const OneClick = "List-Unsubscribe=One-Click"

// URL is the unsubscribe page of a token under the canonical address appURL
// ("https://messages.example.com").
func URL(appURL, token string) string {
	return strings.TrimRight(appURL, "/") + "/unsubscribe/" + url.PathEscape(token)
}

// Headers are the headers of an e-mail whose unsubscribe token is token. A mail client that
// honours them shows an Unsubscribe button and posts OneClick to the address itself, with no
// cookie; the address also works as a link, which asks before it changes anything.
func Headers(appURL, token string) map[string]string {
	return map[string]string{
		HeaderList: "<" + URL(appURL, token) + ">",
		HeaderPost: OneClick,
	}
}
