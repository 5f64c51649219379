package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsDefaultsOnlyWhereTheOperatorHasNot(t *testing.T) {
	t.Cleanup(func() {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	gogc, limit := tuneGC(env(nil))
	if gogc != "400" || debug.SetGCPercent(100) != 400 {
		t.Errorf("no GOGC: reported %s; want the collector at 400", gogc)
	}
	if limit != 384<<20 || debug.SetMemoryLimit(-1) != 384<<20 {
		t.Errorf("no GOMEMLIMIT: reported %d; want a limit of 384 MiB in force", limit)
	}

	// The runtime has read the operator's own values at start; tuneGC leaves them alone.
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	gogc, limit = tuneGC(env(map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}))
	if gogc != "150" || debug.SetGCPercent(100) != 150 {
		t.Errorf("GOGC=150: reported %s; want the collector left at 150", gogc)
	}
	if limit != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Errorf("GOMEMLIMIT=1GiB: reported %d; want the limit left at 1 GiB", limit)
	}
}
