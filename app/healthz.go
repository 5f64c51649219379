package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/realtime"
)

// healthz reports whether PostgreSQL and Redis answer, and if Redis does not, in brief why
// (realtime.Reason: no addresses). Without PostgreSQL nothing works (503); without Redis, pages
// and sending still work and only live updates wait, so it stays 200. Anyone may read it, so it
// says nothing countable: the figures an operator graphs go to the metrics (main.go).
func (a *App) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	status := fiber.Map{"database": "ok", "redis": "ok"}
	code := fiber.StatusOK
	if err := a.store.Ping(ctx); err != nil {
		status["database"] = "unreachable"
		code = fiber.StatusServiceUnavailable
	}
	if err := a.hub.Ping(ctx); err != nil {
		status["redis"] = "unreachable"
		status["redis_reason"] = realtime.Reason(err)
	}
	return c.Status(code).JSON(status)
}
