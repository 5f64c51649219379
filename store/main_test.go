package store_test

import (
	"testing"

	"securemessages/store/storetest"
)

// TestMain starts a private PostgreSQL server for the package's tests when DATABASE_URL is unset.
func TestMain(m *testing.M) { storetest.Main(m) }
