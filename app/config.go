package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

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
	TrustProxy  bool // behind a router that appends the client address to X-Forwarded-For
	Sessions    store.SessionLimits
	Signin      store.SigninLimits
	ShowDemo    bool // list the demo sign-ins on the sign-in page (local runs only)
	Heartbeat   time.Duration
	// Rendered message threads kept in memory (threadCache), and as many conversations read for
	// lists (store.KeepConversations); 0 keeps none.
	ThreadCache int
	// Requests worked on at once; the rest wait their turn in arrival order (admit).
	RequestSlots int

	// Live updates: the caps on the streams one session and one user hold open on an instance,
	// and how a rediss:// connection checks the server's certificate.
	Streams  realtime.Limits
	RedisTLS realtime.TLSOptions
}

// defaultThreadCache holds a few hundred open pages' threads and conversations: about 45 MB at most.
const defaultThreadCache = 4096

// defaultRequestSlots is two requests per core the process may use: enough to keep the cores
// busy while some requests wait for a database close by, few enough that each runs without
// waiting long for a turn (make bench: with 32 clients on 2 cores, a patient's page had a p99 of
// 17.6 ms with 4 slots and 21.8 ms with 8). A database further away (a millisecond or more per
// statement) keeps requests waiting longer, and may need more.
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
		Signin:       store.SigninLimits{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 30},
		Heartbeat:    realtime.Heartbeat,
		ThreadCache:  defaultThreadCache,
		RequestSlots: defaultRequestSlots(),
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
	if v := getenv("TRUST_PROXY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("TRUST_PROXY %q must be true or false", v))
		}
		c.TrustProxy = b
	}
	if v := getenv("SSE_HEARTBEAT_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			problems = append(problems, fmt.Sprintf("SSE_HEARTBEAT_SECONDS %q must be a whole number from 1 to 50", v))
		}
		c.Heartbeat = time.Duration(n) * time.Second
	}
	if v := getenv("THREAD_CACHE_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			problems = append(problems, fmt.Sprintf("THREAD_CACHE_ENTRIES %q must be a whole number from 0 (keep none) to 1000000", v))
		}
		c.ThreadCache = n
	}
	if v := getenv("REQUEST_SLOTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10_000 {
			problems = append(problems, fmt.Sprintf("REQUEST_SLOTS %q must be a whole number from 1 to 10000", v))
		}
		c.RequestSlots = n
	}
	problems = append(problems, c.realtimeFromEnv(getenv)...)
	c.ShowDemo = getenv("SHOW_DEMO_SIGNINS") == "true" && !c.Production
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

// realtimeFromEnv reads the live updates' settings.
func (c *Config) realtimeFromEnv(getenv func(string) string) []string {
	var problems []string
	c.Streams = realtime.Limits{PerSession: realtime.DefaultStreamsPerSession, PerUser: realtime.DefaultStreamsPerUser}
	for _, s := range []struct {
		name string
		to   *int
	}{{"STREAMS_PER_SESSION", &c.Streams.PerSession}, {"STREAMS_PER_USER", &c.Streams.PerUser}} {
		if v := getenv(s.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100_000 {
				problems = append(problems, fmt.Sprintf("%s %q must be a whole number from 1 to 100000", s.name, v))
			}
			*s.to = n
		}
	}
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

// ConfigFromOS reads the process environment.
func ConfigFromOS() (Config, error) { return ConfigFromEnv(os.Getenv) }
