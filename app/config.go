package app

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"securemessages/app/mail"
	"securemessages/realtime"
	"securemessages/store"
)

// Config is everything the service reads from its environment, parsed once at start-up.
type Config struct {
	Port        int
	DatabaseURL string
	RedisURL    string
	Keys        *store.Keyring
	Production  bool // APP_ENV=production: Secure cookies always, HTTPS enforced, keys required
	// AppURL is the canonical origin ("https://messages.example.com"): where plain HTTP is sent,
	// what a state change's Origin must be, the base of links that leave the app. "" when unset.
	AppURL string
	// Who may speak for the client in X-Forwarded-For, -Proto and -Host. TrustProxy: every peer is
	// the router (as on Heroku, where dynos are reachable only through it); TrustedProxies: only
	// these addresses. Headers from anyone else are ignored.
	TrustProxy     bool
	TrustedProxies []netip.Prefix
	Sessions       store.SessionLimits
	Signin         store.SigninLimits
	ShowDemo       bool // list the demo sign-ins on the sign-in page (local runs only)
	Heartbeat      time.Duration
	// How many entries each cache keeps (CACHE_ENTRIES; 0 keeps none), and the caches turned
	// off by name (CACHE_OFF: Caches), to measure what each earns (docs/performance.md).
	CacheEntries int
	CacheOff     []string
	// Requests worked on at once; the rest wait their turn in arrival order (admit).
	RequestSlots int

	// Live updates: the caps on the streams one session and one user hold open on an instance,
	// and how a rediss:// connection checks the server's certificate.
	Streams  realtime.Limits
	RedisTLS realtime.TLSOptions
	// How much one patient may send (store.SendLimits); staff are never limited.
	SendLimits store.SendLimits
	// PracticeZone is the time zone a practice that has named none of its own (the demo's among
	// them) shows its dates in: PRACTICE_TIME_ZONE, an IANA name, UTC by default.
	PracticeZone *time.Location

	// Mail is where e-mail goes (SMTP_URL and MAIL_FROM); nil when SMTP_URL is unset, in which
	// case jobs wait in the queue (production refuses to work them).
	Mail *mail.Config
	// NotifyDelay is how long after a message its e-mail waits, for a patient who reads it in an
	// open tab meanwhile (NOTIFY_DELAY, store.DefaultNotifyDelay by default).
	NotifyDelay time.Duration
	// Workers: this web process also works jobs (WORKERS=off leaves them to `securemessages
	// worker` processes).
	Workers bool
	// JobRescueAfter is how long a job may run before it is taken to be stuck, its worker gone,
	// and tried again (JOB_RESCUE_AFTER).
	JobRescueAfter time.Duration
}

// defaultCacheEntries holds a few hundred open pages' conversations.
const defaultCacheEntries = 4096

// Caches are the names of the caches CACHE_OFF can turn off.
var Caches = []string{CacheConversations, CacheLists, CacheCounts}

// The caches (docs/performance.md).
const (
	CacheConversations = "conversations" // each conversation's <li> as its viewer saw it (conversationHTML)
	CacheLists         = "lists"         // conversations read for lists, decrypted (store.KeepConversations)
	CacheCounts        = "counts"        // the staff queue's counts (store.KeepCounts)
)

// Cache is how many entries the cache named keeps: 0 when CACHE_OFF names it.
func (c Config) Cache(name string) int {
	if slices.Contains(c.CacheOff, name) {
		return 0
	}
	return c.CacheEntries
}

// defaultRequestSlots is two requests per core the process may use: enough to keep the cores
// busy while some requests wait for a database close by, few enough that each runs without
// waiting long for a turn (make bench compares slot counts: docs/performance.md). A database
// further away (a millisecond or more per statement) keeps requests waiting longer, and may need
// more.
func defaultRequestSlots() int { return 2 * runtime.GOMAXPROCS(0) }

// ConfigFromEnv reads the environment. Every problem is reported, one line each, so an operator
// fixes them all in one go.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Port:         3000,
		DatabaseURL:  getenv("DATABASE_URL"),
		RedisURL:     getenv("REDIS_URL"),
		Production:   getenv("APP_ENV") == "production",
		Sessions:     store.SessionLimits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour},
		Signin:       store.DefaultSigninLimits,
		Heartbeat:    realtime.Heartbeat,
		CacheEntries: defaultCacheEntries,
		RequestSlots: defaultRequestSlots(),

		PracticeZone: time.UTC,
	}
	var problems []string
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			problems = append(problems, fmt.Sprintf("PORT %q is not a port number", p))
		}
		c.Port = n
	}
	if c.DatabaseURL == "" {
		problems = append(problems, "DATABASE_URL is not set")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		problems = append(problems, "DATABASE_URL must be a postgres:// URL")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			problems = append(problems, "REDIS_URL must be a redis:// or rediss:// URL")
		}
	} else if c.Production {
		problems = append(problems, "REDIS_URL is not set")
	}
	switch keys := getenv("MESSAGE_KEYS"); {
	case keys == "" && c.Production:
		problems = append(problems, "MESSAGE_KEYS is not set: production refuses to start without the message key ring")
	case keys == "":
		problems = append(problems, "MESSAGE_KEYS is not set (make run generates one for local use)")
	default:
		k, err := store.ParseKeyring(keys)
		if err != nil {
			problems = append(problems, "MESSAGE_KEYS: "+err.Error())
		}
		c.Keys = k
	}
	if v := getenv("APP_URL"); v != "" {
		origin, err := parseOrigin(v)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("APP_URL %q must be an origin such as https://messages.example.com (scheme and host, no path)", v))
		case c.Production && !strings.HasPrefix(origin, "https://"):
			problems = append(problems, fmt.Sprintf("APP_URL %q must be an https:// address in production", v))
		}
		c.AppURL = origin
	} else if c.Production {
		problems = append(problems, "APP_URL is not set: production needs the canonical https:// address people use, e.g. https://messages.example.com")
	}
	if v := getenv("TRUST_PROXY"); v != "" {
		var err error
		c.TrustProxy, c.TrustedProxies, err = parseTrustProxy(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("TRUST_PROXY %q must be true, false, or a comma-separated list of IP addresses or CIDRs: %v", v, err))
		}
	}
	if c.Production && !c.TrustProxy && len(c.TrustedProxies) == 0 {
		problems = append(problems, "TRUST_PROXY is not set (or false): production runs behind a router that terminates TLS; "+
			"set it to true where every peer is the router (Heroku), or to the router's addresses")
	}
	heartbeat := int(c.Heartbeat / time.Second)
	problems = append(problems, readWholeNumbers(getenv,
		wholeNumber{name: "SSE_HEARTBEAT_SECONDS", lo: 1, hi: 50, to: &heartbeat},
		wholeNumber{name: "CACHE_ENTRIES", lo: 0, lowIs: "(keep none)", hi: 1_000_000, to: &c.CacheEntries},
		wholeNumber{name: "REQUEST_SLOTS", lo: 1, hi: 10_000, to: &c.RequestSlots},
		wholeNumber{name: "SIGNIN_ATTEMPTS_PER_ADDRESS", lo: 1, hi: 1_000_000, to: &c.Signin.AttemptsPerAddress},
	)...)
	c.Heartbeat = time.Duration(heartbeat) * time.Second
	if v := getenv("CACHE_OFF"); v != "" {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); !slices.Contains(Caches, name) {
				problems = append(problems, fmt.Sprintf("CACHE_OFF names %q, which is none of %s", name, strings.Join(Caches, ", ")))
			}
			c.CacheOff = append(c.CacheOff, name)
		}
	}
	problems = append(problems, c.realtimeFromEnv(getenv)...)
	// How much one patient may send.
	c.SendLimits = store.DefaultSendLimits
	if v := getenv("SEND_LIMIT"); v != "" {
		l, err := parseSendLimit(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("SEND_LIMIT %q must be messages/window, such as 10/10m, or 0 for none", v))
		}
		c.SendLimits = l
	}
	if v := getenv("PRACTICE_TIME_ZONE"); v != "" {
		z, err := store.LoadZone(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("PRACTICE_TIME_ZONE %q must be an IANA time zone name such as America/Chicago", v))
		}
		c.PracticeZone = z
	}
	problems = append(problems, c.jobsFromEnv(getenv)...)
	c.ShowDemo = getenv("SHOW_DEMO_SIGNINS") == "true" && !c.Production
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

// parseOrigin reads an origin, scheme and host only, and returns it in canonical form.
func parseOrigin(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("not an origin")
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.ToLower(u.Hostname()) // browsers leave the default port out of Origin
	}
	return u.Scheme + "://" + host, nil
}

// parseTrustProxy reads TRUST_PROXY: true (every peer), false (none), or the routers' addresses.
func parseTrustProxy(v string) (all bool, list []netip.Prefix, err error) {
	if b, err := strconv.ParseBool(v); err == nil {
		return b, nil, nil
	}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if p, err := netip.ParsePrefix(f); err == nil {
			list = append(list, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return false, nil, fmt.Errorf("%q is neither", f)
		}
		list = append(list, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return false, list, nil
}

// trustedProxies is TRUST_PROXY in the form Fiber's trusted-proxy check takes.
func (c Config) trustedProxies() []string {
	if c.TrustProxy {
		return []string{"0.0.0.0/0", "::/0"}
	}
	var out []string
	for _, p := range c.TrustedProxies {
		out = append(out, p.String())
	}
	return out
}

// wholeNumber is a setting that is a whole number from lo to hi, read into to where it is set.
type wholeNumber struct {
	name   string
	lo, hi int
	lowIs  string // what lo means, where the problem should say so: "(keep none)"
	to     *int
}

// readWholeNumbers reads each setting that is set, and says a problem for each that is not a
// whole number in its range (which leaves its default).
func readWholeNumbers(getenv func(string) string, settings ...wholeNumber) []string {
	var problems []string
	for _, s := range settings {
		v := getenv(s.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < s.lo || n > s.hi {
			lo := strconv.Itoa(s.lo)
			if s.lowIs != "" {
				lo += " " + s.lowIs
			}
			problems = append(problems, fmt.Sprintf("%s %q must be a whole number from %s to %d", s.name, v, lo, s.hi))
			continue
		}
		*s.to = n
	}
	return problems
}

// realtimeFromEnv reads the live updates' settings.
func (c *Config) realtimeFromEnv(getenv func(string) string) []string {
	var problems []string
	c.Streams = realtime.Limits{PerSession: realtime.DefaultStreamsPerSession, PerUser: realtime.DefaultStreamsPerUser}
	problems = append(problems, readWholeNumbers(getenv,
		wholeNumber{name: "STREAMS_PER_SESSION", lo: 1, hi: 100_000, to: &c.Streams.PerSession},
		wholeNumber{name: "STREAMS_PER_USER", lo: 1, hi: 100_000, to: &c.Streams.PerUser},
	)...)
	if v := getenv("REDIS_TLS_VERIFY"); v != "" {
		verify, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("REDIS_TLS_VERIFY %q must be true or false", v))
		}
		c.RedisTLS.SkipVerify = err == nil && !verify
	}
	if c.RedisTLS.CAFile = getenv("REDIS_TLS_CA_FILE"); c.RedisTLS.CAFile != "" {
		if _, err := os.ReadFile(c.RedisTLS.CAFile); err != nil {
			problems = append(problems, "REDIS_TLS_CA_FILE: "+err.Error())
		}
	}
	return problems
}

// jobsFromEnv reads the mail server and how background jobs run.
func (c *Config) jobsFromEnv(getenv func(string) string) []string {
	var problems []string
	c.NotifyDelay, c.Workers, c.JobRescueAfter = store.DefaultNotifyDelay, getenv("WORKERS") != "off", time.Hour
	if v := getenv("SMTP_URL"); v != "" {
		m, err := mail.ParseConfig(v, getenv("MAIL_FROM"))
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case c.Production && m.TLS == mail.NoTLS:
			problems = append(problems, "SMTP_URL asks for tls=none, which is for a local mail catcher: production sends over STARTTLS (smtp://) or TLS (smtps://)")
		}
		c.Mail = &m
	} else if c.Production && c.Workers {
		problems = append(problems, "SMTP_URL is not set: production refuses to work jobs (e-mail notifications) without a mail server; "+
			"set it (smtp://user:password@host:587), or WORKERS=off where only `securemessages worker` processes send")
	}
	if v := getenv("WORKERS"); v != "" && v != "off" && v != "on" {
		problems = append(problems, fmt.Sprintf("WORKERS %q must be on or off", v))
	}
	for _, d := range []struct {
		name   string
		lo, hi time.Duration
		to     *time.Duration
	}{
		{"NOTIFY_DELAY", 0, 24 * time.Hour, &c.NotifyDelay},
		{"JOB_RESCUE_AFTER", 2 * time.Second, 24 * time.Hour, &c.JobRescueAfter},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		n, err := time.ParseDuration(v)
		if err != nil || n < d.lo || n > d.hi {
			problems = append(problems, fmt.Sprintf("%s %q must be a duration from %v to %v, such as 2m", d.name, v, d.lo, d.hi))
			continue
		}
		*d.to = n
	}
	return problems
}

// parseSendLimit reads SEND_LIMIT: "10/10m" is ten messages in any ten minutes, "0" no limit.
func parseSendLimit(v string) (store.SendLimits, error) {
	if v == "0" {
		return store.SendLimits{}, nil
	}
	n, w, ok := strings.Cut(v, "/")
	messages, err := strconv.Atoi(n)
	window, werr := time.ParseDuration(w)
	if !ok || err != nil || werr != nil || messages < 1 || window < time.Minute || window > 7*24*time.Hour {
		return store.DefaultSendLimits, errors.New("bad send limit")
	}
	return store.SendLimits{Messages: messages, Window: window}, nil
}

// ConfigFromOS reads the process environment.
func ConfigFromOS() (Config, error) { return ConfigFromEnv(os.Getenv) }
