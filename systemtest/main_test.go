// Package systemtest holds whole-system tests: the real app over real PostgreSQL and Redis,
// driven the way people use it. The browser suite (browser_*.go, a11y_test.go, budget_test.go,
// screenshots_test.go) drives the system's Chromium from Go with chromedp, finding things by
// what a person sees (roles, labels, button names), never by CSS classes.
package systemtest

import (
	"fmt"
	"os"
	"testing"

	"securemessages/store/storetest"
)

// TestMain gives the package a private PostgreSQL server (unless DATABASE_URL is set), shares one
// Chromium between the browser tests, and says how many browser flows ran: `make test` shows
// that line even without -v.
func TestMain(m *testing.M) {
	code := storetest.Run(m)
	closeBrowser()
	if n, failed, axe := flowCounts(); n > 0 {
		fmt.Printf("browser flows: %d run, %d failed; axe checked %d page states at WCAG 2.1 AA\n", n, failed, axe)
	}
	os.Exit(code)
}
