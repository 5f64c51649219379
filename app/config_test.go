package app

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigFromEnvReportsEveryProblem(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="
	good := map[string]string{"DATABASE_URL": "postgres://u:p@db.internal:5432/app", "MESSAGE_KEYS": storetest.KeySpec,
		"SMTP_URL": "smtp://u:" + secret + "@mail.internal:587", "MAIL_FROM": "messages@example.com"}
	with := func(changes map[string]string) map[string]string {
		vars := map[string]string{}
		for k, v := range good {
			vars[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(vars, k)
			} else {
				vars[k] = v
			}
		}
		return vars
	}
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		lines []string // each problem, on a line of its own, in this order
	}{
		{"nothing set", map[string]string{}, []string{"DATABASE_URL is not set", "MESSAGE_KEYS is not set"}},
		{"missing DATABASE_URL", with(map[string]string{"DATABASE_URL": ""}), []string{"DATABASE_URL is not set"}},
		{"DATABASE_URL not postgres", with(map[string]string{"DATABASE_URL": "mysql://db/app"}), []string{"DATABASE_URL must be a postgres:// URL"}},
		{"PORT not a number", with(map[string]string{"PORT": "http"}), []string{`PORT "http" is not a port number`}},
		{"PORT zero", with(map[string]string{"PORT": "0"}), []string{`PORT "0" is not a port number`}},
		{"PORT too big", with(map[string]string{"PORT": "65536"}), []string{`PORT "65536" is not a port number`}},
		{"MESSAGE_KEYS malformed", with(map[string]string{"MESSAGE_KEYS": "not-a-key-ring"}), []string{"MESSAGE_KEYS: "}},
		{"MESSAGE_KEYS short key", with(map[string]string{"MESSAGE_KEYS": "1:" + secret}), []string{"MESSAGE_KEYS: "}},
		{"REDIS_URL not redis", with(map[string]string{"REDIS_URL": "http://cache"}), []string{"REDIS_URL must be a redis:// or rediss:// URL"}},
		{"CACHE_ENTRIES negative", with(map[string]string{"CACHE_ENTRIES": "-1"}), []string{`CACHE_ENTRIES "-1" must be a whole number from 0 (keep none) to 1000000`}},
		{"CACHE_OFF unknown", with(map[string]string{"CACHE_OFF": "lists,threads"}), []string{`CACHE_OFF names "threads", which is none of conversations, lists, counts`}},
		{"CACHE_ENTRIES not a number", with(map[string]string{"CACHE_ENTRIES": "lots"}), []string{`CACHE_ENTRIES "lots" must be a whole number`}},
		{"REQUEST_SLOTS zero", with(map[string]string{"REQUEST_SLOTS": "0"}), []string{`REQUEST_SLOTS "0" must be a whole number from 1 to 10000`}},
		{"REQUEST_SLOTS not a number", with(map[string]string{"REQUEST_SLOTS": "many"}), []string{`REQUEST_SLOTS "many" must be a whole number`}},
		{"SIGNIN_ATTEMPTS_PER_ADDRESS zero", with(map[string]string{"SIGNIN_ATTEMPTS_PER_ADDRESS": "0"}), []string{`SIGNIN_ATTEMPTS_PER_ADDRESS "0" must be a whole number from 1 to 1000000`}},
		{"TRUST_PROXY neither a bool nor addresses", with(map[string]string{"TRUST_PROXY": "maybe"}),
			[]string{`TRUST_PROXY "maybe" must be true, false, or a comma-separated list of IP addresses or CIDRs`}},
		{"TRUST_PROXY with a bad address", with(map[string]string{"TRUST_PROXY": "10.0.0.0/8, 300.1.1.1"}),
			[]string{`TRUST_PROXY "10.0.0.0/8, 300.1.1.1" must be true, false, or a comma-separated list of IP addresses or CIDRs: "300.1.1.1" is neither`}},
		{"APP_URL with a path", with(map[string]string{"APP_URL": "https://messages.example.com/app"}),
			[]string{`APP_URL "https://messages.example.com/app" must be an origin such as https://messages.example.com`}},
		{"APP_URL without a scheme", with(map[string]string{"APP_URL": "messages.example.com"}),
			[]string{`APP_URL "messages.example.com" must be an origin`}},
		{"STREAMS_PER_SESSION zero", with(map[string]string{"STREAMS_PER_SESSION": "0"}), []string{`STREAMS_PER_SESSION "0" must be a whole number from 1 to 100000`}},
		{"REDIS_TLS_VERIFY not a bool", with(map[string]string{"REDIS_TLS_VERIFY": "no-thanks"}), []string{`REDIS_TLS_VERIFY "no-thanks" must be true or false`}},
		{"REDIS_TLS_CA_FILE missing", with(map[string]string{"REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}), []string{"REDIS_TLS_CA_FILE: open /nonexistent/ca.pem: no such file or directory"}},
		{"STREAMS_PER_USER not a number", with(map[string]string{"STREAMS_PER_USER": "tabs"}), []string{`STREAMS_PER_USER "tabs" must be a whole number`}},
		{"SEND_LIMIT without a window", with(map[string]string{"SEND_LIMIT": "10"}), []string{`SEND_LIMIT "10" must be messages/window`}},
		{"SEND_LIMIT window too short", with(map[string]string{"SEND_LIMIT": "10/5s"}), []string{`SEND_LIMIT "10/5s" must be messages/window`}},
		{"production without keys", with(map[string]string{"APP_ENV": "production", "MESSAGE_KEYS": "", "REDIS_URL": "rediss://cache:6380",
			"APP_URL": "https://messages.example.com", "TRUST_PROXY": "true"}),
			[]string{"MESSAGE_KEYS is not set: production refuses to start without the message key ring"}},
		{"production without redis", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "",
			"APP_URL": "https://messages.example.com", "TRUST_PROXY": "true"}), []string{"REDIS_URL is not set"}},
		// Heroku as deployed before APP_URL: the line says what is missing and what to set.
		{"production without APP_URL", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380", "TRUST_PROXY": "true"}),
			[]string{"APP_URL is not set: production needs the canonical https:// address people use, e.g. https://messages.example.com"}},
		{"production on plain HTTP", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380", "TRUST_PROXY": "true",
			"APP_URL": "http://messages.example.com"}), []string{`APP_URL "http://messages.example.com" must be an https:// address in production`}},
		{"production without TRUST_PROXY", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380",
			"APP_URL": "https://messages.example.com"}),
			[]string{"TRUST_PROXY is not set (or false): production runs behind a router that terminates TLS; set it to true where every peer is the router (Heroku), or to the router's addresses"}},
		{"production trusting no proxy", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380",
			"APP_URL": "https://messages.example.com", "TRUST_PROXY": "false"}), []string{"TRUST_PROXY is not set (or false)"}},
		{"production without a mail server", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380",
			"APP_URL": "https://messages.example.com", "TRUST_PROXY": "true", "SMTP_URL": ""}),
			[]string{"SMTP_URL is not set: production refuses to work jobs (e-mail notifications) without a mail server"}},
		{"production sending in clear", with(map[string]string{"APP_ENV": "production", "REDIS_URL": "rediss://cache:6380",
			"APP_URL": "https://messages.example.com", "TRUST_PROXY": "true", "SMTP_URL": "smtp://mail:1025?tls=none"}),
			[]string{"SMTP_URL asks for tls=none"}},
		{"SMTP_URL of another scheme", with(map[string]string{"SMTP_URL": "http://u:" + secret + "@mail:25"}), []string{`SMTP_URL scheme "http" must be smtp or smtps`}},
		{"SMTP_URL with an unknown option", with(map[string]string{"SMTP_URL": "smtp://mail:25?tls=maybe"}), []string{`SMTP_URL option "tls" is not known`}},
		{"MAIL_FROM missing", with(map[string]string{"MAIL_FROM": ""}), []string{"MAIL_FROM is not set"}},
		{"MAIL_FROM with a name", with(map[string]string{"MAIL_FROM": "Riverside <a@example.com>"}), []string{`MAIL_FROM "Riverside <a@example.com>" must be a bare address`}},
		{"WORKERS neither on nor off", with(map[string]string{"WORKERS": "2"}), []string{`WORKERS "2" must be on or off`}},
		{"NOTIFY_DELAY not a duration", with(map[string]string{"NOTIFY_DELAY": "120"}), []string{`NOTIFY_DELAY "120" must be a duration`}},
		{"JOB_RESCUE_AFTER too short", with(map[string]string{"JOB_RESCUE_AFTER": "1s"}), []string{`JOB_RESCUE_AFTER "1s" must be a duration`}},
		{"all at once", map[string]string{"PORT": "abc", "MESSAGE_KEYS": "1:!!", "REDIS_URL": "ftp://x"},
			[]string{`PORT "abc" is not a port number`, "DATABASE_URL is not set", "REDIS_URL must be a redis:// or rediss:// URL", "MESSAGE_KEYS: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromEnv(getenv(tc.vars))
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.lines) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.lines), err)
			}
			for i, want := range tc.lines {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d %q, want it to start %q", i+1, lines[i], want)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "u:p@") {
				t.Errorf("the error repeats a secret: %s", err)
			}
		})
	}
}

func TestConfigFromEnvGood(t *testing.T) {
	t.Parallel()
	cfg, err := ConfigFromEnv(getenv(map[string]string{
		"PORT": "8080", "DATABASE_URL": "postgres://u:p@db:5432/app?sslmode=require", "REDIS_URL": "rediss://:pw@cache:6380",
		"MESSAGE_KEYS": storetest.KeySpec + ",2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "APP_ENV": "production",
		"TRUST_PROXY": "true", "SHOW_DEMO_SIGNINS": "true", "CACHE_ENTRIES": "0", "APP_URL": "https://Messages.Example.com:443/",
		"REQUEST_SLOTS": "12", "SIGNIN_ATTEMPTS_PER_ADDRESS": "2000", "SEND_LIMIT": "20/1h",
		"SMTP_URL": "smtps://apikey:pw@smtp.example.com", "MAIL_FROM": "messages@example.com", "NOTIFY_DELAY": "90s",
		"WORKERS": "off", "JOB_RESCUE_AFTER": "10m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8080 || cfg.DatabaseURL != "postgres://u:p@db:5432/app?sslmode=require" || cfg.RedisURL != "rediss://:pw@cache:6380" {
		t.Errorf("config %+v", cfg)
	}
	if m := cfg.Mail; m == nil || m.Host != "smtp.example.com" || m.Port != 465 || m.TLS != "tls" || m.Username != "apikey" ||
		m.Password != "pw" || m.From != "messages@example.com" || cfg.NotifyDelay != 90*time.Second || cfg.Workers ||
		cfg.JobRescueAfter != 10*time.Minute {
		t.Errorf("mail %+v, notify delay %v, workers %t, rescue after %v", cfg.Mail, cfg.NotifyDelay, cfg.Workers, cfg.JobRescueAfter)
	}
	if cfg.Keys == nil || !cfg.Production || !cfg.TrustProxy {
		t.Errorf("keys %v, production %t, trust proxy %t", cfg.Keys != nil, cfg.Production, cfg.TrustProxy)
	}
	if cfg.ShowDemo {
		t.Error("production lists the demo sign-ins")
	}
	if cfg.AppURL != "https://messages.example.com" {
		t.Errorf("APP_URL read as %q, want the origin https://messages.example.com", cfg.AppURL)
	}
	proxies, err := ConfigFromEnv(getenv(map[string]string{"DATABASE_URL": "postgresql://localhost/app", "MESSAGE_KEYS": storetest.KeySpec,
		"TRUST_PROXY": "10.1.2.3, 10.9.0.0/16,fd00::1", "APP_URL": "http://localhost:3000"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := proxies.trustedProxies(); proxies.TrustProxy || !slices.Equal(got, []string{"10.1.2.3/32", "10.9.0.0/16", "fd00::1/128"}) ||
		proxies.AppURL != "http://localhost:3000" {
		t.Errorf("TRUST_PROXY list read as all %t, %q; APP_URL %q", proxies.TrustProxy, got, proxies.AppURL)
	}
	if got := cfg.trustedProxies(); !slices.Equal(got, []string{"0.0.0.0/0", "::/0"}) {
		t.Errorf("TRUST_PROXY=true trusts %q", got)
	}
	if cfg.CacheEntries != 0 {
		t.Errorf("CACHE_ENTRIES=0 keeps %d entries", cfg.CacheEntries)
	}
	off, err := ConfigFromEnv(getenv(map[string]string{"DATABASE_URL": "postgresql://localhost/app", "MESSAGE_KEYS": storetest.KeySpec,
		"CACHE_ENTRIES": "100", "CACHE_OFF": "lists, counts"}))
	if err != nil {
		t.Fatal(err)
	}
	if off.Cache(CacheConversations) != 100 || off.Cache(CacheLists) != 0 || off.Cache(CacheCounts) != 0 {
		t.Errorf("CACHE_ENTRIES=100 CACHE_OFF=lists, counts: conversations %d, lists %d, counts %d",
			off.Cache(CacheConversations), off.Cache(CacheLists), off.Cache(CacheCounts))
	}
	if cfg.RequestSlots != 12 {
		t.Errorf("REQUEST_SLOTS=12 gives %d slots", cfg.RequestSlots)
	}
	if cfg.Signin.AttemptsPerAddress != 2000 || cfg.Signin.AttemptsPerAccount != store.DefaultSigninLimits.AttemptsPerAccount {
		t.Errorf("SIGNIN_ATTEMPTS_PER_ADDRESS=2000 gives %+v", cfg.Signin)
	}
	if cfg.SendLimits != (store.SendLimits{Messages: 20, Window: time.Hour}) {
		t.Errorf("SEND_LIMIT=20/1h gives %+v", cfg.SendLimits)
	}
	if cfg.Sessions.Idle <= 0 || cfg.Sessions.Absolute <= cfg.Sessions.Idle || cfg.Signin.PerAccount <= 0 || cfg.Signin.Window <= 0 {
		t.Errorf("limits %+v %+v", cfg.Sessions, cfg.Signin)
	}

	local, err := ConfigFromEnv(getenv(map[string]string{"DATABASE_URL": "postgresql://localhost/app", "MESSAGE_KEYS": storetest.KeySpec,
		"SHOW_DEMO_SIGNINS": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if local.Port != 3000 || local.Production || !local.ShowDemo || local.RedisURL != "" || local.CacheEntries != defaultCacheEntries ||
		local.RequestSlots != 2*runtime.GOMAXPROCS(0) || local.SendLimits != store.DefaultSendLimits {
		t.Errorf("local defaults: %+v", local)
	}
}

// TestConfigFromEnvRealtime: the live updates' settings, their defaults (certificates verified)
// and their values.
func TestConfigFromEnvRealtime(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://localhost/app", "MESSAGE_KEYS": storetest.KeySpec}
	cfg, err := ConfigFromEnv(getenv(base))
	if err != nil {
		t.Fatal(err)
	}
	defaults := realtime.Limits{PerSession: realtime.DefaultStreamsPerSession, PerUser: realtime.DefaultStreamsPerUser}
	if cfg.Streams != defaults || cfg.RedisTLS != (realtime.TLSOptions{}) {
		t.Errorf("defaults: streams %+v, redis tls %+v; want %+v and certificates verified", cfg.Streams, cfg.RedisTLS, defaults)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := map[string]string{"STREAMS_PER_SESSION": "3", "STREAMS_PER_USER": "5", "REDIS_TLS_VERIFY": "false", "REDIS_TLS_CA_FILE": ca}
	maps.Copy(set, base)
	cfg, err = ConfigFromEnv(getenv(set))
	if err != nil {
		t.Fatal(err)
	}
	if want := (realtime.TLSOptions{CAFile: ca, SkipVerify: true}); cfg.Streams != (realtime.Limits{PerSession: 3, PerUser: 5}) || cfg.RedisTLS != want {
		t.Errorf("set: streams %+v, redis tls %+v", cfg.Streams, cfg.RedisTLS)
	}
}
