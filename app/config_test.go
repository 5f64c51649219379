package app

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"securemessages/store"
	"securemessages/store/storetest"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigFromEnvReportsEveryProblem(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="
	good := map[string]string{"DATABASE_URL": "postgres://u:p@db.internal:5432/app", "MESSAGE_KEYS": storetest.KeySpec}
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
		{"THREAD_CACHE_ENTRIES negative", with(map[string]string{"THREAD_CACHE_ENTRIES": "-1"}), []string{`THREAD_CACHE_ENTRIES "-1" must be a whole number from 0 (keep none) to 1000000`}},
		{"THREAD_CACHE_ENTRIES not a number", with(map[string]string{"THREAD_CACHE_ENTRIES": "lots"}), []string{`THREAD_CACHE_ENTRIES "lots" must be a whole number`}},
		{"REQUEST_SLOTS zero", with(map[string]string{"REQUEST_SLOTS": "0"}), []string{`REQUEST_SLOTS "0" must be a whole number from 1 to 10000`}},
		{"REQUEST_SLOTS not a number", with(map[string]string{"REQUEST_SLOTS": "many"}), []string{`REQUEST_SLOTS "many" must be a whole number`}},
		{"SEND_LIMIT without a window", with(map[string]string{"SEND_LIMIT": "10"}), []string{`SEND_LIMIT "10" must be messages/window`}},
		{"SEND_LIMIT window too short", with(map[string]string{"SEND_LIMIT": "10/5s"}), []string{`SEND_LIMIT "10/5s" must be messages/window`}},
		{"TRUST_PROXY not a bool", with(map[string]string{"TRUST_PROXY": "maybe"}), []string{`TRUST_PROXY "maybe" must be true or false`}},
		{"production without keys", with(map[string]string{"APP_ENV": "production", "MESSAGE_KEYS": "", "REDIS_URL": "rediss://cache:6380"}),
			[]string{"MESSAGE_KEYS is not set: production refuses to start without the message key ring"}},
		{"production without redis", with(map[string]string{"APP_ENV": "production", "REDIS_URL": ""}), []string{"REDIS_URL is not set"}},
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
		"TRUST_PROXY": "true", "SHOW_DEMO_SIGNINS": "true", "THREAD_CACHE_ENTRIES": "0",
		"REQUEST_SLOTS": "12", "SEND_LIMIT": "20/1h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8080 || cfg.DatabaseURL != "postgres://u:p@db:5432/app?sslmode=require" || cfg.RedisURL != "rediss://:pw@cache:6380" {
		t.Errorf("config %+v", cfg)
	}
	if cfg.Keys == nil || !cfg.Production || !cfg.TrustProxy {
		t.Errorf("keys %v, production %t, trust proxy %t", cfg.Keys != nil, cfg.Production, cfg.TrustProxy)
	}
	if cfg.ShowDemo {
		t.Error("production lists the demo sign-ins")
	}
	if cfg.ThreadCache != 0 {
		t.Errorf("THREAD_CACHE_ENTRIES=0 keeps %d threads", cfg.ThreadCache)
	}
	if cfg.RequestSlots != 12 {
		t.Errorf("REQUEST_SLOTS=12 gives %d slots", cfg.RequestSlots)
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
	if local.Port != 3000 || local.Production || !local.ShowDemo || local.RedisURL != "" || local.ThreadCache != defaultThreadCache ||
		local.RequestSlots != 2*runtime.GOMAXPROCS(0) || local.SendLimits != store.DefaultSendLimits {
		t.Errorf("local defaults: %+v", local)
	}
}
