package app

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/semaphore"
)

// admissionWait is the longest a request waits for a slot before the server says it is busy:
// well inside the router's 30 seconds, so the person sees our message and keeps what they typed.
const admissionWait = 10 * time.Second

// admission is the queue of requests waiting for one of a few slots (admit).
type admission struct {
	slots   *semaphore.Weighted
	wait    time.Duration
	waiting atomic.Int64 // requests in the queue now, not yet holding a slot
}

// newAdmission queues for slots slots; fewer than one (a Config written out by hand) takes the
// default.
func newAdmission(slots int) admission {
	if slots < 1 {
		slots = defaultRequestSlots()
	}
	return admission{slots: semaphore.NewWeighted(int64(slots)), wait: admissionWait}
}

// waiters is how many requests are waiting for a slot now: tests use it to know that a request
// they meant to queue is really queued.
func (q *admission) waiters() int64 { return q.waiting.Load() }

// errBusy is a request that waited admissionWait for a slot. handleError shows it as a 503 that
// keeps the form, like a database that cannot be reached.
var errBusy = errors.New("app: every request slot stayed busy")

// admit lets cfg.RequestSlots requests work at once and queues the rest in the order they came
// (golang.org/x/sync/semaphore serves its waiters first come, first served).
//
// Without it, every open request competes at once: concurrent page loads take turns on the CPU
// and on the database connections in no particular order, so a page that loses a few of those
// turns waits several times as long as the median (the figures, and the make bench run that gives
// them, are in docs/performance.md). Served in arrival order, a few at a time, each request runs
// start to finish with little to wait for once it has begun, and the slowest pages come close to
// the median.
//
// Which requests take a slot is said in routes.go: pages and fragments do, and so does any
// request no route answers; the live stream, the health check, the static files and the forms
// that check a password do not.
func (a *App) admit(c *fiber.Ctx) error {
	q := &a.admission
	if !q.slots.TryAcquire(1) {
		q.waiting.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), q.wait)
		err := q.slots.Acquire(ctx, 1)
		cancel()
		q.waiting.Add(-1)
		if err != nil {
			return errBusy
		}
	}
	defer q.slots.Release(1)
	return c.Next()
}
