// Command bench is `make bench`: it seeds a realistic practice into a database of its own, runs
// the real server binary as subprocesses against real PostgreSQL and Redis on loopback, and
// prints a table of figures, each the median of several rounds in one run, with its ratio and the
// target it answers to. It never fails on a slow or noisy machine: it exits non-zero only when
// it could not run at all.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func since(t time.Time) time.Duration { return round(time.Since(t)) }

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}

func nprocs() int { return runtime.NumCPU() }

func main() {
	ctx := context.Background()
	e, err := setupEnv(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer e.close()
	if err := store.Migrate(ctx, e.db.DB); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	st := store.New(e.db, storetest.Keys)
	d, err := seed(ctx, st, e)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	_ = d
}
