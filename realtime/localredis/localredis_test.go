package localredis

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securemessages/store/localproc"
)

func testDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(localproc.TempDir(t, "localredis-test-"), "redis")
}

func ping(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING %s: %v", url, err)
	}
}

// wantDown fails the test if s still answers PING on its port, after what was done to it.
func wantDown(ctx context.Context, t *testing.T, s *Server, what string) {
	t.Helper()
	if _, err := s.command(ctx, s.Port, "PING"); err == nil {
		t.Fatalf("server still answers after %s", what)
	}
}

func TestStartReuseKillRestartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := testDir(t)

	s, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if !s.owned {
		t.Fatal("first Start should own the server")
	}
	ping(ctx, t, s.URL)

	// A second Start on the same dir reuses the running server and its port,
	// and its Stop leaves the server running.
	s2, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Port != s.Port || s2.URL != s.URL || s2.owned {
		t.Fatalf("reuse: got port %d owned=%v, want port %d owned=false", s2.Port, s2.owned, s.Port)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, s.URL)

	// Crash and come back on the same port.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	wantDown(ctx, t, s, "Kill")
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, s.URL)

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	wantDown(ctx, t, s, "Stop")

	// Starting again prefers the previous port.
	s3, err := Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Stop() })
	if s3.Port != s.Port || !s3.owned {
		t.Errorf("restart: port %d owned=%v, want previous port %d owned=true", s3.Port, s3.owned, s.Port)
	}
	ping(ctx, t, s3.URL)
	if err := s3.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStartTLS: a TLS server answers a client that trusts its CA, over TLS only, and stops.
func TestStartTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := testDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	certs, err := NewCertificate(dir, "server", false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartTLS(ctx, dir, certs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if s.URL[:9] != "rediss://" {
		t.Fatalf("URL %s; want rediss://", s.URL)
	}
	plain := &Server{Dir: s.Dir}
	if _, err := plain.command(ctx, s.Port, "PING"); err == nil {
		t.Fatal("the TLS server answers in plain TCP")
	}
	if reply, err := s.command(ctx, s.Port, "PING"); err != nil || len(reply) != 1 || reply[0] != "PONG" {
		t.Fatalf("PING over TLS: %v %v", reply, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	wantDown(ctx, t, s, "Stop")
}
