package app

import (
	"bytes"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/valyala/fasthttp"
)

// contentSecurityPolicy allows nothing inline and nothing from another origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders are the headers every answer carries: the ones Fiber's helmet middleware sets,
// with helmet's defaults where we keep them. They are set by setSecurityHeaders rather than by
// helmet because helmet is only a link in the chain (it ends in c.Next()), and some answers never
// reach the chain: fasthttp writes a 413 or 431, through our error handler, before any middleware
// runs. One list serves both.
var securityHeaders = [][2]string{
	{fiber.HeaderContentSecurityPolicy, contentSecurityPolicy},
	{fiber.HeaderXFrameOptions, "DENY"},
	{fiber.HeaderXContentTypeOptions, "nosniff"},
	// same-origin, not helmet's no-referrer: the browser must still send a Referer to us.
	{fiber.HeaderReferrerPolicy, "same-origin"},
	{"Cross-Origin-Embedder-Policy", "require-corp"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{fiber.HeaderPermissionsPolicy, "camera=(), microphone=(), geolocation=()"},
	{"Origin-Agent-Cluster", "?1"},
	{fiber.HeaderXXSSProtection, "0"},
	{"X-DNS-Prefetch-Control", "off"},
	{"X-Download-Options", "noopen"},
	{"X-Permitted-Cross-Domain-Policies", "none"},
}

// addSecurityHeaders is the middleware that sets securityHeaders (setSecurityHeaders).
func addSecurityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders sets securityHeaders, and HSTS for a year over HTTPS.
func setSecurityHeaders(c *fiber.Ctx) {
	for _, h := range securityHeaders {
		c.Set(h[0], h[1])
	}
	if c.Protocol() == "https" {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000; includeSubDomains")
	}
}

// readErrorKey marks a request that fasthttp could not read (too large, malformed): its answer
// comes from handleError without any middleware having run.
const readErrorKey = "app.readError"

// markReadErrors passes fasthttp's read errors on to Fiber's handling (and so to handleError),
// marked as such, and logs them, since logRequests never sees them.
func (a *App) markReadErrors(srv *fasthttp.Server) {
	fiberHandles := srv.ErrorHandler
	srv.ErrorHandler = func(fctx *fasthttp.RequestCtx, err error) {
		fctx.SetUserValue(readErrorKey, true)
		fiberHandles(fctx, err)
		a.log.Info("request", "request_id", "", "route", "", "status", fctx.Response.StatusCode())
	}
}

// routerRequestID is what a request id from the router may look like: a short token of safe
// characters (Heroku's are UUIDs).
var routerRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// keepRouterRequestID drops an X-Request-Id that did not come from a trusted router or is not a
// short safe token, so that requestid makes a fresh one: the id goes into every log line and
// audit row, where a client must not write what it likes.
func keepRouterRequestID(c *fiber.Ctx) error {
	h := &c.Request().Header
	if v := h.Peek(fiber.HeaderXRequestID); len(v) > 0 && !(c.IsProxyTrusted() && routerRequestID.Match(v)) {
		h.Del(fiber.HeaderXRequestID)
	}
	return c.Next()
}

var errBadBytes = fiber.NewError(fiber.StatusBadRequest,
	"This request could not be read: its address or form holds something that is not text (a NUL "+
		"character, or bytes that are not UTF-8). Please go back, retype what you entered and send it again.")

// rejectBadBytes refuses, before any handler runs, a request whose path, query or form holds a NUL
// or invalid UTF-8: PostgreSQL refuses NUL in text, and such bytes are never something a person
// typed.
func rejectBadBytes(c *fiber.Ctx) error {
	req := c.Request()
	clean := isText(req.URI().Path())
	visit := func(k, v []byte) { clean = clean && isText(k) && isText(v) }
	req.URI().QueryArgs().VisitAll(visit)
	req.PostArgs().VisitAll(visit)
	if form, err := req.MultipartForm(); err == nil {
		for k, vs := range form.Value {
			for _, v := range vs {
				visit([]byte(k), []byte(v))
			}
		}
	}
	if !clean {
		return errBadBytes
	}
	return c.Next()
}

func isText(b []byte) bool { return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) }

// requireHTTPS sends plain-HTTP requests to HTTPS in production, where the router terminates TLS
// and says so in X-Forwarded-Proto. The target is APP_URL, never a host the request names, and
// the answer is not cached: 308 keeps a post's method and body. The health check, registered
// before it (routes.go), stays reachable for the platform.
func (a *App) requireHTTPS(c *fiber.Ctx) error {
	if !a.cfg.Production || c.Protocol() == "https" {
		return c.Next()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(a.cfg.AppURL+string(c.Request().URI().RequestURI()), fiber.StatusPermanentRedirect)
}

// noStore keeps pages and fragments, which show health information, out of every cache. Static
// files set their own long-lived caching.
func (a *App) noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// logRequests writes one line per request: no query strings, bodies or names, so no health
// information reaches the logs. It hands an error to the error handler itself, rather than
// leaving that to Fiber after the chain has returned, so the line carries the status sent.
func (a *App) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if err = a.handleError(c, err); err != nil {
			c.Status(fiber.StatusInternalServerError) // Fiber's last resort answers 500 to this
		}
	}
	a.log.Info("request",
		"request_id", requestID(c),
		"method", c.Method(),
		"route", routePattern(c),
		"status", c.Response().StatusCode(),
		"duration_ms", time.Since(start).Milliseconds())
	return err
}

// routePattern is the matched route ("/messages/:id"), not the path, which could carry ids.
func routePattern(c *fiber.Ctx) string { return c.Route().Path }

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}

// gzipFastest is fasthttp's compressor, at its fastest level, for gzip (or deflate) only.
var gzipFastest = fasthttp.CompressHandlerLevel(func(*fasthttp.RequestCtx) {}, fasthttp.CompressBestSpeed)

// compressPages gzips pages at the fastest level. Fiber's compress middleware does the same but
// prefers brotli wherever a browser accepts it, and brotli does not pay here: at its fastest
// level it made an inbox page no smaller than gzip's fastest for more CPU, and at its default
// level it took more CPU than rendering the page (BenchmarkCompressInboxPage; docs/performance.md).
// The routes that use it are in routes.go: not the event stream, nor the static files, which come
// compressed already.
func compressPages(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	gzipFastest(c.Context())
	return nil
}
