// Command bench is `make bench`: it seeds a realistic practice into a database of its own, runs
// the real server binary as subprocesses against real PostgreSQL and Redis on loopback, and
// prints a table of figures, each the median of several rounds in one run, with its ratio and the
// target it answers to. It never fails on a slow or noisy machine: it exits non-zero only when
// it could not run at all.
//
// It is a program, not a test, and lives in systemtest/ because that folder holds everything that
// runs the whole system over real servers: the top of the tree is the product's own packages.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
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

type config struct {
	rounds    int
	duration  time.Duration
	warmup    time.Duration
	clients   int
	streams   int
	events    int
	rate      int
	dead      int
	heartbeat int
	phases    map[string]bool
	profile   string
	hold      bool
	bin       string
}

func main() {
	if dir := os.Getenv(ceilingEnv); dir != "" {
		if err := ceilingMain(dir); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	var phases string
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds per figure; each figure is their median")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of one round of HTTP load")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before the HTTP rounds")
	flag.IntVar(&cfg.clients, "clients", 32, "concurrent HTTP clients")
	flag.IntVar(&cfg.streams, "streams", 5000, "open live streams for the fan-out")
	flag.IntVar(&cfg.events, "events", 30, "changes committed per fan-out round")
	flag.IntVar(&cfg.rate, "rate", 10, "changes per second in the fan-out")
	flag.IntVar(&cfg.dead, "dead", 2000, "streams whose clients vanish")
	flag.IntVar(&cfg.heartbeat, "heartbeat", 5, "SSE_HEARTBEAT_SECONDS of the server the dead streams are measured on")
	flag.StringVar(&cfg.profile, "profile", "", "write the server's CPU profiles, goroutine dumps and execution traces of the page rounds to this folder")
	flag.StringVar(&cfg.bin, "bin", "", "serve with this securemessages binary instead of building one (to measure an older build)")
	flag.BoolVar(&cfg.hold, "hold", false, "after seeding, print the database's address and wait for Ctrl-C (for EXPLAIN and friends)")
	flag.StringVar(&phases, "phases", "pages,fanout,release", "which parts to run")
	flag.Parse()
	cfg.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		cfg.phases[strings.TrimSpace(p)] = true
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	ctx := context.Background()
	limit := raiseFileLimit()
	logf("machine: %s; open-file limit %d", machine(), limit)
	e, err := setupEnv(ctx, cfg.bin)
	if err != nil {
		return err
	}
	defer e.close()
	if err := store.Migrate(ctx, e.db.DB); err != nil {
		return err
	}
	if err := e.grantWeb(ctx); err != nil {
		return err
	}
	d, err := seed(ctx, e.store, e)
	if err != nil {
		return err
	}
	if cfg.hold {
		fmt.Printf("DATABASE_URL=%q\nREDIS_URL=%q\nMESSAGE_KEYS=%q\n", e.dbURL, e.redisURL, storetest.KeySpec)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	rep := &report{cfg: cfg, data: d, machine: machine(), software: e.software(ctx)}
	// A part that cannot finish (a machine too slow for a timeout, say) is reported in the table
	// and the others still run: only a run that could not start at all fails.
	failed := func(part string, err error) {
		logf("%s: %v", part, err)
		rep.failures = append(rep.failures, fmt.Sprintf("%s could not finish: %v", part, err))
	}
	if cfg.phases["pages"] {
		if rep.pages, err = runPages(ctx, e, d, cfg); err != nil {
			failed("inbox pages", err)
		}
	}
	if cfg.phases["fanout"] {
		if rep.fanout, err = runFanout(ctx, e, d, cfg); err != nil {
			failed("live fan-out", err)
		}
	}
	if cfg.phases["release"] {
		if rep.release, err = runRelease(ctx, e, d, cfg); err != nil {
			failed("dead streams", err)
		}
	}
	rep.took = time.Since(start)
	rep.print(os.Stdout)
	return nil
}
