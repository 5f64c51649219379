//go:build race

package systemtest

// secRaceEnabled: the tests run with the race detector, so the binary they start is built with it
// too (it reuses the packages already compiled for the tests, and checks the subprocess as well).
const secRaceEnabled = true
