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

	// How much one patient may send (store.SendLimits); staff are never limited.
	SendLimits store.SendLimits
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
	// How much one patient may send.
	c.SendLimits = store.DefaultSendLimits
	if v := getenv("SEND_LIMIT"); v != "" {
		l, err := parseSendLimit(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("SEND_LIMIT %q must be messages/window, such as 10/10m, or 0 for none", v))
		}
		c.SendLimits = l
	}
	c.ShowDemo = getenv("SHOW_DEMO_SIGNINS") == "true" && !c.Production
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
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
