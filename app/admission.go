package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/semaphore"
)

// admissionWait is the longest a request waits for a slot before the server says it is busy:
// well inside the router's 30 seconds, so the person sees our message and keeps what they typed.
const admissionWait = 10 * time.Second

// admission is the queue of requests waiting for one of a few slots (admit).
type admission struct {
	slots *semaphore.Weighted
	wait  time.Duration
}

// newAdmission queues for slots slots; fewer than one (a Config written out by hand) takes the
// default.
func newAdmission(slots int) admission {
	if slots < 1 {
		slots = defaultRequestSlots()
	}
	return admission{slots: semaphore.NewWeighted(int64(slots)), wait: admissionWait}
}

// errBusy is a request that waited admissionWait for a slot. handleError shows it as a 503 that
// keeps the form, like a database that cannot be reached.
var errBusy = errors.New("app: every request slot stayed busy")

// admit lets cfg.RequestSlots requests work at once and queues the rest in the order they came
// (golang.org/x/sync/semaphore serves its waiters first come, first served).
//
// Without it, every open request competes at once: 32 concurrent page loads on 2 cores took
// turns on the CPU and on the database connections in no particular order, so a page that lost
// a few of those turns waited four times as long as the median (make bench: p50 11.7 ms, p99
// 42.5 ms for a patient's page). Served in arrival order, a few at a time, each request runs
// start to finish with little to wait for once it has begun, and the slowest pages come close to
// the median.
//
// The live stream holds its request for hours and is not counted; neither are the health check,
// which the platform must always get an answer to, nor the static files, served from memory.
func (a *App) admit(c *fiber.Ctx) error {
	q := a.admission
	if unadmitted(c.Path()) || checksPassword(c) {
		return c.Next()
	}
	if !q.slots.TryAcquire(1) {
		ctx, cancel := context.WithTimeout(context.Background(), q.wait)
		err := q.slots.Acquire(ctx, 1)
		cancel()
		if err != nil {
			return errBusy
		}
	}
	defer q.slots.Release(1)
	return c.Next()
}

// unadmitted reports the paths that skip the queue.
func unadmitted(path string) bool {
	return path == "/events" || path == "/healthz" || strings.HasPrefix(path, "/static/")
}

// checksPassword reports the forms that check a password. They wait for the password-hashing
// pool (store.CheckPassword) instead of a request slot: a hash takes far longer than a page, and
// holding a slot through it would let a crowd of sign-ins keep every page waiting. Their other
// work is a few short statements, bounded by the sign-in limits and the database pool.
func checksPassword(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodPost {
		return false
	}
	switch c.Path() {
	case "/signin", "/account/totp/enable", "/account/totp/disable":
		return true
	}
	return false
}
