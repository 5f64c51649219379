package app

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
)

// contentSecurityPolicy allows nothing inline and nothing from another origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (a *App) middleware(f *fiber.App) {
	f.Use(recover.New())
	f.Use(requestid.New(requestid.Config{Generator: utils.UUIDv4}))
	f.Use(a.logRequests)
	f.Use(helmet.New(helmet.Config{
		ContentSecurityPolicy: contentSecurityPolicy,
		// same-origin, not helmet's no-referrer: the browser must still send a Referer to us.
		ReferrerPolicy:            "same-origin",
		HSTSMaxAge:                31536000,
		XFrameOptions:             "DENY",
		CrossOriginEmbedderPolicy: "require-corp",
		CrossOriginOpenerPolicy:   "same-origin",
		CrossOriginResourcePolicy: "same-origin",
		PermissionPolicy:          "camera=(), microphone=(), geolocation=()",
	}))
	f.Use(a.requireHTTPS)
	f.Use(a.noStore)
	f.Use(a.admit) // before compressing and the session: both are part of the work it queues
	// The event stream is left uncompressed: a compressor per open page for hours, for a few bytes.
	// Pages are compressed at the fastest level: on an inbox page of 120 KB of HTML, brotli's
	// default took 1.8 ms of CPU, more than rendering it, for 6.7 KB; the fastest took 0.3 ms for
	// 9.8 KB (make bench, README "Performance").
	f.Use(compress.New(compress.Config{
		Level: compress.LevelBestSpeed,
		Next:  func(c *fiber.Ctx) bool { return c.Path() == "/events" },
	}))
	f.Use(a.loadSession)
	f.Use(a.checkCSRF)
}

// requireHTTPS sends plain-HTTP requests to HTTPS in production, where the router terminates TLS
// and says so in X-Forwarded-Proto. The health check stays reachable for the platform.
func (a *App) requireHTTPS(c *fiber.Ctx) error {
	if !a.cfg.Production || c.Protocol() == "https" || c.Path() == "/healthz" {
		return c.Next()
	}
	return c.Redirect("https://"+c.Hostname()+c.OriginalURL(), fiber.StatusMovedPermanently)
}

// noStore keeps pages and fragments, which show health information, out of every cache. Static
// files set their own long-lived caching.
func (a *App) noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// logRequests writes one line per request: no query strings, bodies or names, so no health
// information reaches the logs.
func (a *App) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		if fe, ok := err.(*fiber.Error); ok {
			status = fe.Code
		}
	}
	a.log.Info("request",
		"request_id", requestID(c),
		"method", c.Method(),
		"route", routePattern(c),
		"status", status,
		"duration_ms", time.Since(start).Milliseconds())
	return err
}

// routePattern is the matched route ("/messages/:id"), not the path, which could carry ids.
func routePattern(c *fiber.Ctx) string { return c.Route().Path }

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}
