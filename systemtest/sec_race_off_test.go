//go:build !race

package systemtest

// secRaceEnabled: see sec_race_on_test.go.
const secRaceEnabled = false
