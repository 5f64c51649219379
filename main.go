// Command securemessages is the secure message center of a medical practice's patient portal.
//
//	securemessages            serve the web app (also: securemessages serve); it also works
//	                          background jobs (e-mail) unless WORKERS=off
//	securemessages worker     work background jobs only (the Procfile's worker line)
//	securemessages migrate    bring the database schema up to date (the Procfile's release step)
//	securemessages demo       load the demo practices into an empty database
//	securemessages reencrypt  move messages sealed with older keys onto the primary key (resumable)
//	securemessages audit-verify  check the audit log's hash chain; name the first broken link
//	securemessages practice create --name NAME --admin-email ADDRESS [--admin-name NAME]
//	                          make a practice and its first administrator, and invite them: by
//	                          e-mail when SMTP_URL is set, else by printing the one-time link
//	securemessages dev        for a laptop: start private PostgreSQL, Redis and Mailpit under .data
//	                          when DATABASE_URL / REDIS_URL / SMTP_URL are unset, migrate, load
//	                          the demo, serve
//
// Configuration comes from the environment only; see README.md.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // every practice's time zone, also where the machine has no zone database

	"github.com/lib/pq"

	"securemessages/app"
	"securemessages/app/mail"
	"securemessages/app/mail/localmail"
	"securemessages/app/notify"
	"securemessages/realtime"
	"securemessages/realtime/localredis"
	"securemessages/store"
	"securemessages/store/localpg"
)

func main() {
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve()
	case "worker":
		err = worker()
	case "migrate":
		err = migrate()
	case "demo":
		err = demo()
	case "dev":
		err = dev()
	case "reencrypt":
		err = reencrypt()
	case "audit-verify":
		err = auditVerify()
	case "practice":
		err = practiceCommand(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q: want serve, worker, migrate, demo, dev, reencrypt, audit-verify or practice", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "securemessages:", err)
		os.Exit(1)
	}
}

func newLogger(production bool) *slog.Logger {
	if production {
		return slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stdout, nil))
}

func serve() error {
	cfg, err := app.ConfigFromOS()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Production)
	gogc, memoryLimit := tuneGC(os.Getenv)
	log.Info("garbage collector", "GOGC", gogc, "GOMEMLIMIT_MiB", memoryLimit>>20)
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		if err := startProfiler(addr, log); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Keys)
	if err != nil {
		return err
	}
	defer st.Close()
	st.KeepConversations(cfg.Cache(app.CacheLists))
	st.KeepCounts(cfg.Cache(app.CacheCounts))
	st.NotifyAfter(cfg.NotifyDelay)
	jobsDone := make(chan error, 1)
	switch {
	case !cfg.Workers:
		jobsDone <- nil
		log.Info("jobs: left to worker processes (WORKERS=off)")
	case cfg.Mail == nil:
		jobsDone <- nil
		log.Warn("jobs: SMTP_URL is not set, so e-mail notifications wait in the queue until a process with a mail server works them")
	default:
		q, err := jobQueue(st, cfg, log)
		if err != nil {
			return err
		}
		go func() { jobsDone <- notify.Run(ctx, q, 10*time.Second) }()
		log.Info("jobs: working them in this process")
	}
	var hub *realtime.Hub
	if cfg.RedisURL != "" {
		client, err := realtime.Connect(cfg.RedisURL, cfg.RedisTLS)
		if err != nil {
			return err
		}
		defer client.Close()
		hub = realtime.NewHub(client, log)
		go checkRedis(ctx, hub, log)
	} else {
		hub = realtime.NewHub(nil, log)
	}
	go hub.Run(ctx)
	go prune(ctx, st, cfg, log)
	publishMetrics(hub)
	go logMetrics(ctx, log, time.Minute)
	web, err := app.New(cfg, st, hub, log)
	if err != nil {
		return err
	}

	errc := make(chan error, 1)
	go func() { errc <- web.Listen(":" + strconv.Itoa(cfg.Port)) }()
	log.Info("listening", "port", cfg.Port)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// The platform allows 30 s after SIGTERM: stop accepting, let requests in flight finish.
	log.Info("shutting down")
	if err := web.ShutdownWithTimeout(20 * time.Second); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	// Live streams have their own connections and end on the shutdown signal; wait for their
	// goodbye (a retry hint) before the process goes.
	drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !hub.Drain(drain) {
		log.Warn("shutdown: live streams still open", "streams", hub.Len())
	}
	if err := <-jobsDone; err != nil {
		log.Warn("shutdown: jobs", "error", err.Error())
	}
	return nil
}

// worker works background jobs (e-mail notifications) until SIGTERM: the Procfile's worker line,
// for when the web processes run with WORKERS=off or should not carry the sending.
func worker() error {
	cfg, err := app.ConfigFromOS()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Production)
	if cfg.Mail == nil {
		return errors.New("SMTP_URL is not set: a worker needs a mail server to send through")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Keys)
	if err != nil {
		return err
	}
	defer st.Close()
	st.NotifyAfter(cfg.NotifyDelay)
	q, err := jobQueue(st, cfg, log)
	if err != nil {
		return err
	}
	log.Info("worker: working jobs")
	err = notify.Run(ctx, q, 20*time.Second)
	log.Info("worker: stopped")
	return err
}

// jobQueue is the River client that works this process's share of the jobs (web and worker
// alike), sending e-mail through cfg.Mail with links to the app's canonical address, each with
// its one-click unsubscribe.
func jobQueue(st *store.Store, cfg app.Config, log *slog.Logger) (*store.Queue, error) {
	appURL := appOrigin(cfg) // APP_URL is required in production
	return notify.NewQueue(st, mail.NewSender(*cfg.Mail), notify.Config{AppURL: appURL,
		RescueAfter: cfg.JobRescueAfter, Log: log, Decorate: notify.Unsubscribe(st, appURL)})
}

// checkRedis says in the start-up log whether Redis answers, and if not why: the app serves on
// without it, so a certificate it refuses would otherwise go unnoticed.
func checkRedis(ctx context.Context, hub *realtime.Hub, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := hub.Ping(ctx); err != nil {
		log.Warn("redis unreachable: live updates wait until it answers", "reason", realtime.Reason(err), "error", err.Error())
		return
	}
	log.Info("redis answers")
}

// metrics are the figures an operator graphs, for this instance: its open live streams, the
// streams refused for being over a cap, and the Go runtime's goroutines and heap. They are not
// on /healthz, which anyone may read: they go to the log every minute (one key=value line, for
// log-based metrics) and to expvar's /debug/vars on the private PPROF_ADDR listener.
var metrics = expvar.NewMap("securemessages")

func publishMetrics(hub *realtime.Hub) {
	metrics.Set("streams", expvar.Func(func() any { return hub.Len() }))
	metrics.Set("streams_refused", expvar.Func(func() any { return hub.Refused() }))
	metrics.Set("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	metrics.Set("heap_mib", expvar.Func(func() any {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc >> 20
	}))
}

// logMetrics writes the metrics to the log every interval until ctx ends.
func logMetrics(ctx context.Context, log *slog.Logger, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var attrs []any
		metrics.Do(func(kv expvar.KeyValue) {
			attrs = append(attrs, kv.Key, kv.Value.(expvar.Func).Value())
		})
		log.Info("metrics", attrs...)
	}
}

// eventRetention is how long the outbox keeps events for pages to replay. A page further behind
// is told to fetch everything afresh.
const eventRetention = 7 * 24 * time.Hour

// prune trims, hourly, what is kept only for a while: the outbox's events past their retention,
// sessions past their idle or absolute limit, and sign-in counts past their window. Every
// instance may do it; the DELETEs are idempotent.
func prune(ctx context.Context, st *store.Store, cfg app.Config, log *slog.Logger) {
	jobs := []struct {
		what string
		run  func(context.Context) (int64, error)
	}{
		{"events", func(ctx context.Context) (int64, error) { return st.PruneEvents(ctx, eventRetention) }},
		{"sessions", func(ctx context.Context) (int64, error) { return st.PruneSessions(ctx, cfg.Sessions) }},
		{"sign-in counts", func(ctx context.Context) (int64, error) { return st.PruneSigninCounts(ctx, cfg.Signin.Window) }},
		{"password resets", func(ctx context.Context) (int64, error) { return st.PrunePasswordResets(ctx) }},
		{"patient imports", st.PruneImports},
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		for _, job := range jobs {
			if n, err := job.run(ctx); err != nil {
				log.Warn("prune "+job.what, "error", err.Error())
			} else if n > 0 {
				log.Info("pruned "+job.what, "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// withStore runs a command on the store the environment names, and closes it after.
func withStore(run func(ctx context.Context, st *store.Store, cfg app.Config) error) error {
	cfg, err := app.ConfigFromOS()
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.Keys)
	if err != nil {
		return err
	}
	defer st.Close()
	return run(ctx, st, cfg)
}

func migrate() error {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set")
	}
	st, err := store.Open(ctx, url, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return store.Migrate(ctx, st.DB().DB)
}

func demo() error {
	return withStore(func(ctx context.Context, st *store.Store, cfg app.Config) error {
		signIns, err := st.LoadDemo(ctx, "")
		if err != nil {
			return err
		}
		printSignIns(signIns, "")
		return nil
	})
}

func reencrypt() error {
	return withStore(func(ctx context.Context, st *store.Store, cfg app.Config) error {
		moved, err := st.Reencrypt(ctx, 200)
		fmt.Printf("re-encrypted %d messages with the primary key\n", moved)
		return err
	})
}

func auditVerify() error {
	return withStore(func(ctx context.Context, st *store.Store, cfg app.Config) error {
		checked, broken, err := st.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		if broken != nil {
			return fmt.Errorf("audit chain broken at entry %d (row %d): %s; %d entries before it hold",
				broken.ChainSeq, broken.ID, broken.Reason, checked)
		}
		fmt.Printf("audit chain holds: %d entries\n", checked)
		return nil
	})
}

// practiceCommand is `securemessages practice create`: the operator's way to start a practice.
// With a mail server (SMTP_URL) the invitation is e-mailed by whichever process works the queue
// (the web process or a worker); without one it is minted here and the one-time link printed, for
// the operator to hand over.
func practiceCommand(args []string, out io.Writer) error {
	const usage = `want: securemessages practice create --name "Riverside Family Medicine" --admin-email admin@example.com`
	if len(args) == 0 || args[0] != "create" {
		return errors.New(usage)
	}
	flags := flag.NewFlagSet("practice create", flag.ContinueOnError)
	flags.SetOutput(out)
	name := flags.String("name", "", "the practice's name, as its pages show it")
	email := flags.String("admin-email", "", "the first administrator's e-mail address, which the invitation goes to")
	adminName := flags.String("admin-name", "", "the first administrator's name (default \"Practice administrator\")")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected %q; %s", flags.Arg(0), usage)
	}
	return withStore(func(ctx context.Context, st *store.Store, cfg app.Config) error {
		p, invitation, err := st.CreatePracticeWithAdmin(ctx, store.NewPractice{Name: *name, AdminEmail: *email,
			AdminName: *adminName, Mail: cfg.Mail != nil})
		var invalid *store.ValidationError
		switch {
		case errors.As(err, &invalid):
			var problems []string
			for _, field := range []string{"name", "admin_email", "admin_name"} {
				if p, ok := invalid.Fields[field]; ok {
					problems = append(problems, "--"+strings.ReplaceAll(field, "_", "-")+": "+p)
				}
			}
			return fmt.Errorf("nothing was created: %s", strings.Join(problems, "; "))
		case errors.Is(err, store.ErrAddressInUse):
			return fmt.Errorf("nothing was created: %s already has an account; give the new practice another administrator's address", *email)
		case err != nil:
			return err
		}
		fmt.Fprintf(out, "Created practice %q (id %d) and its administrator %s.\n", p.Name, p.ID, strings.ToLower(strings.TrimSpace(*email)))
		if cfg.Mail != nil {
			fmt.Fprintf(out, "The invitation is e-mailed to them by the web or worker process; its link works once, for %v.\n", store.InvitationValid)
			return nil
		}
		m, err := st.MintInvitation(ctx, invitation, 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "No mail server is configured (SMTP_URL), so give them this one-time link; it works once, for %v:\n%s/invitations/%s\n",
			store.InvitationValid, appOrigin(cfg), m.Token)
		return nil
	})
}

// appOrigin is the canonical address links point to: APP_URL, or locally the port served.
func appOrigin(cfg app.Config) string {
	if cfg.AppURL != "" {
		return cfg.AppURL
	}
	return "http://localhost:" + strconv.Itoa(cfg.Port)
}

// dev is `make run`: everything a newcomer needs, on one machine, in one command.
func dev() error {
	ctx := context.Background()
	data, err := filepath.Abs(".data")
	if err != nil {
		return err
	}
	// The database server may run as the postgres user, which must be able to enter the folder.
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if os.Getenv("DATABASE_URL") == "" {
		srv, err := localpg.Start(ctx, filepath.Join(data, "postgres"), 0)
		if err != nil {
			return err
		}
		url, err := ensureDatabase(ctx, srv.URL, "securemessages")
		if err != nil {
			return err
		}
		os.Setenv("DATABASE_URL", url)
		fmt.Printf("PostgreSQL: private server on port %d (data in .data/postgres)\n", srv.Port)
	}
	if os.Getenv("REDIS_URL") == "" {
		srv, err := localredis.Start(ctx, filepath.Join(data, "redis"), 0)
		if err != nil {
			return err
		}
		os.Setenv("REDIS_URL", srv.URL)
		fmt.Printf("Redis: private server on port %d\n", srv.Port)
	}
	if os.Getenv("MESSAGE_KEYS") == "" {
		keys, err := localKeys(filepath.Join(data, "message-keys"))
		if err != nil {
			return err
		}
		os.Setenv("MESSAGE_KEYS", keys)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	var mailWeb string
	if os.Getenv("SMTP_URL") == "" {
		srv, err := localmail.Start(ctx, filepath.Join(data, "mailpit"), localmail.Options{})
		if err != nil {
			return err
		}
		os.Setenv("SMTP_URL", srv.SMTPURL)
		if os.Getenv("MAIL_FROM") == "" {
			os.Setenv("MAIL_FROM", "messages@localhost")
		}
		mailWeb = srv.WebURL
		fmt.Printf("Mailpit: private mail catcher, SMTP on port %d\n", srv.SMTPPort)
	}
	os.Setenv("SHOW_DEMO_SIGNINS", "true")
	if err := migrate(); err != nil {
		return err
	}
	var signIns []store.DemoSignIn
	err = withStore(func(ctx context.Context, st *store.Store, cfg app.Config) (err error) {
		signIns, err = st.LoadDemo(ctx, "")
		return err
	})
	if err != nil {
		return err
	}
	printSignIns(signIns, "http://localhost:"+port)
	if mailWeb != "" {
		fmt.Printf("E-mail the app sends (a patient's %s after a message, staff's at once) is caught at %s\n\n",
			cmp.Or(os.Getenv("NOTIFY_DELAY"), "2m"), mailWeb)
	}
	return serve()
}

// ensureDatabase creates the app's own database on a private server, once.
func ensureDatabase(ctx context.Context, serverURL, name string) (string, error) {
	st, err := store.Open(ctx, serverURL, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	var exists bool
	if err := st.DB().GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return "", err
	}
	if !exists {
		if _, err := st.DB().ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
			return "", err
		}
	}
	return strings.Replace(serverURL, "/postgres?", "/"+name+"?", 1), nil
}

// localKeys makes a message key for local use the first time, and keeps it, so the local
// database stays readable from one run to the next.
func localKeys(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	rand.Read(key)
	spec := "1:" + base64.StdEncoding.EncodeToString(key)
	return spec, os.WriteFile(path, []byte(spec+"\n"), 0o600)
}

func printSignIns(signIns []store.DemoSignIn, url string) {
	if url != "" {
		fmt.Printf("\nSecure Messages is at %s\n", url)
	}
	fmt.Printf("Demo sign-ins (password for all: %s):\n", store.DemoPassword)
	for _, s := range signIns {
		fmt.Printf("  %-8s %-28s %-22s %s\n", s.Role, s.Email, s.Name, s.Practice)
	}
	fmt.Println()
}

// startProfiler serves Go's profiler, and the metrics (/debug/vars), when PPROF_ADDR names a
// loopback address (such as 127.0.0.1:6060): for finding where time goes under `make bench`,
// never on by default, and never reachable from outside the machine.
func startProfiler(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("PPROF_ADDR %q must be a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			log.Warn("profiler", "error", err.Error())
		}
	}()
	log.Info("profiler listening", "addr", addr)
	return nil
}
