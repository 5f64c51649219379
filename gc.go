package main

import (
	"runtime/debug"
	"strconv"
)

// The garbage collector's settings for a web instance, where the operator has not chosen them
// through Go's own variables (GOGC, GOMEMLIMIT).
//
// An instance keeps little: its caches and open streams come to a few tens of MB. But every page
// allocates about as much as it sends before compression (its HTML and the compressor's work),
// so Go's default, collect whenever the heap has doubled, collected many times a second. Letting
// the heap grow to five times what is kept (GOGC=400) serves more pages with a lower tail, for a
// little more memory under load and per idle live stream (docs/performance.md).
//
// The soft limit keeps that growth inside the smallest common instance (512 MB): near the limit
// the collector runs as often as it must, whatever GOGC says. On a larger instance, set GOMEMLIMIT to
// about three quarters of its memory.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 384 << 20
)

// tuneGC applies the defaults above where getenv has no GOGC or GOMEMLIMIT, and returns what the
// collector now runs with, for the start-up log.
func tuneGC(getenv func(string) string) (gogc string, memoryLimit int64) {
	gogc = getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(defaultGCPercent)
		gogc = strconv.Itoa(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	return gogc, debug.SetMemoryLimit(-1) // a negative limit reads the one in force
}
