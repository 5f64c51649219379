package app

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/url"

	"github.com/gofiber/fiber/v2"
)

// CSRF protection is the synchronizer-token pattern on our own sessions: the token lives in the
// session's row in PostgreSQL, so it works on every instance and without Redis, and rotates
// with the session at sign-in. Fiber's csrf middleware needs Fiber's session store or a shared
// storage of its own for that. Each response carries the token masked with fresh random bytes,
// so compressed pages do not repeat a secret an attacker could guess byte by byte (BREACH).
//
// On top of the token, a state change must come from our own origin, as the browser reports it
// in Sec-Fetch-Site and Origin; that also guards the sign-in form, which has no session yet.

const csrfField = "_csrf"
const csrfHeader = "X-CSRF-Token"

var errCSRF = fiber.NewError(fiber.StatusForbidden,
	"This form has expired or did not come from this site. Please go back, reload the page and try again.")

func (a *App) checkCSRF(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if !a.sameOrigin(c) {
		return errCSRF
	}
	sess := session(c)
	if sess == nil {
		return c.Next() // signed-out requests can change nothing but a sign-in; requireUser guards the rest
	}
	sent := c.Get(csrfHeader)
	if sent == "" {
		sent = c.FormValue(csrfField)
	}
	if !validCSRF(sent, sess.CSRFToken) {
		return errCSRF
	}
	return c.Next()
}

// sameOrigin reports whether the browser says the request comes from our own pages. With APP_URL
// set, Origin must be that origin exactly; without it (local runs, tests on random ports), its
// host must be the one the request was sent to.
func (a *App) sameOrigin(c *fiber.Ctx) bool {
	if !fromOurPages(c) {
		return false
	}
	origin := c.Get(fiber.HeaderOrigin)
	switch {
	case origin == "":
		return true
	case a.cfg.AppURL != "":
		canonical, err := parseOrigin(origin)
		return err == nil && canonical == a.cfg.AppURL
	default:
		u, err := url.Parse(origin)
		return err == nil && u.Host == c.Hostname()
	}
}

// fromOurPages reports whether the browser says the request comes from our own pages, or from the
// person (the address bar, a bookmark): Sec-Fetch-Site same-origin or none. Browsers too old to
// send it are let through; the token and Origin still guard them.
func fromOurPages(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// maskCSRF returns the token XORed with a fresh pad, pad first.
func maskCSRF(token string) string {
	raw := []byte(token)
	out := make([]byte, 2*len(raw))
	rand.Read(out[:len(raw)])
	for i, b := range raw {
		out[len(raw)+i] = b ^ out[i]
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

func validCSRF(masked, token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(masked)
	if err != nil || len(b) != 2*len(token) || len(token) == 0 {
		return false
	}
	n := len(token)
	for i := 0; i < n; i++ {
		b[n+i] ^= b[i]
	}
	return subtle.ConstantTimeCompare(b[n:], []byte(token)) == 1
}

// csrfHeaders is the hx-headers value that sends the token with every htmx request.
func csrfHeaders(masked string) string {
	b, _ := json.Marshal(map[string]string{csrfHeader: masked}) // a map of strings always marshals
	return string(b)
}
