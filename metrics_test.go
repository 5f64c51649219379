package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"securemessages/realtime"
	"securemessages/store"
)

// TestMetricsReachOperatorsOnly: the open streams, and the streams refused for a cap, are in the
// minute's log line and in /debug/vars on the private PPROF_ADDR listener (/healthz, which anyone
// may read, no longer counts them: app/routes_test.go TestHealthz).
func TestMetricsReachOperatorsOnly(t *testing.T) {
	hub := realtime.NewHub(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	v := store.Viewer{UserID: 7, PracticeID: 1, Role: store.RolePatient}
	limits := realtime.Limits{PerSession: 2}
	for range 2 {
		if _, err := hub.Open(v, "session", limits); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hub.Open(v, "session", limits); err != realtime.ErrTooManyStreams {
		t.Fatalf("third stream of the session: %v; want ErrTooManyStreams", err)
	}
	publishMetrics(hub)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := startProfiler(addr, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var vars struct {
		Securemessages map[string]float64 `json:"securemessages"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/debug/vars")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&vars)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/debug/vars: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := vars.Securemessages; got["streams"] != 2 || got["streams_refused"] != 1 || got["goroutines"] < 1 {
		t.Errorf("/debug/vars securemessages %v; want 2 streams, 1 refused", got)
	}

	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go logMetrics(ctx, slog.New(slog.NewTextHandler(&out, nil)), 10*time.Millisecond)
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "msg=metrics") {
		if time.Now().After(deadline) {
			t.Fatalf("no metrics line in the log: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	for _, want := range []string{" streams=2", " streams_refused=1", " goroutines=", " heap_mib="} {
		if !strings.Contains(line, want) {
			t.Errorf("metrics line %q lacks %q", line, want)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }
