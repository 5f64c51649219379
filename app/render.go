package app

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"securemessages/store"
)

// isFragment reports whether htmx asked for a piece of the page rather than a whole one.
func isFragment(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-Boosted") != "true" &&
		c.Get("HX-History-Restore-Request") != "true"
}

// view is one response: the whole page, and the fragment htmx gets instead.
type view struct {
	status       int
	page         string
	data         *ViewData
	fragment     string
	fragmentData any
}

// render is the one place that chooses between page and fragment.
func (a *App) render(c *fiber.Ctx, v view) error {
	c.Vary("HX-Request")
	if v.status == 0 {
		v.status = fiber.StatusOK
	}
	c.Status(v.status)
	if isFragment(c) && v.fragment != "" {
		return a.write(c, v.fragment, v.fragmentData)
	}
	return a.write(c, v.page, v.data)
}

// write renders the template name into the response's body itself. Fiber's Ctx.Render renders
// into a buffer of bytebufferpool's shared pool, which seldom holds one the size of an inbox page,
// so each page grew a new buffer from a few hundred bytes, then copied it into the body. The
// body's own buffer is pooled by fasthttp for response bodies, so writing into it does neither.
func (a *App) write(c *fiber.Ctx, name string, data any) error {
	body := c.Response()
	if err := a.views.Render(body.BodyWriter(), name, data); err != nil {
		body.ResetBody() // the error page replaces whatever was written
		return fmt.Errorf("render %s: %w", name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return nil
}

// newViewData is the one constructor of the data every template gets.
func (a *App) newViewData(c *fiber.Ctx, title string) *ViewData {
	vd := &ViewData{Title: title}
	if sess := session(c); sess != nil {
		vd.User = &sess.User
		vd.CSRFToken = maskCSRF(sess.CSRFToken)
		vd.CSRFHeaders = csrfHeaders(vd.CSRFToken)
	}
	return vd
}

// origin is where the request came from, for the audit log (and, for a sign-in, the device its
// session is listed under).
func (a *App) origin(c *fiber.Ctx) store.Origin {
	return store.Origin{RequestID: requestID(c), ClientIP: a.clientIP(c), Device: deviceSummary(c.Get(fiber.HeaderUserAgent))}
}

// clientIP is the caller's address. A trusted router appends the address it was reached from to
// X-Forwarded-For, so the entries a client could not forge are on the right: the last one where
// every peer is the router (TRUST_PROXY=true), else the first from the right that is not one of
// the listed routers. From a peer that is not trusted the header is ignored, as Fiber does.
func (a *App) clientIP(c *fiber.Ctx) string {
	if !a.cfg.TrustProxy && len(a.cfg.TrustedProxies) == 0 || !c.IsProxyTrusted() {
		return c.IP()
	}
	ips := c.IPs()
	for i := len(ips) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(ips[i])
		if err != nil {
			break
		}
		if ip = ip.Unmap(); a.cfg.TrustProxy || !slices.ContainsFunc(a.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return ip.String()
		}
	}
	return c.IP()
}

// handleError is the one error path: it turns an error into a page, or for htmx into a notice
// the page shows, and logs what is unexpected once, without message text.
func (a *App) handleError(c *fiber.Ctx, err error) error {
	setSecurityHeaders(c) // again, for an answer that did not go through the middleware
	status, message := fiber.StatusInternalServerError, "Something went wrong on our side. Nothing was lost; please try again in a moment."
	var fe *fiber.Error
	var nf notFoundError
	switch {
	case errors.As(err, &nf):
		status, message = fiber.StatusNotFound, string(nf)
	case c.Context().UserValue(readErrorKey) != nil && errors.As(err, &fe):
		// fasthttp's own messages can quote the request's bytes: say what happened in our words.
		status, message = fe.Code, readErrorMessage(fe.Code)
	case errors.As(err, &fe):
		status, message = fe.Code, fe.Message
		if status == fiber.StatusNotFound {
			// The router's own message repeats the path ("Cannot GET /…"), which would let a
			// link put words of its author's choosing on our page.
			message = "That page does not exist."
		}
	case errors.Is(err, errNoAuditPatient):
		status, message = fiber.StatusNotFound, "That patient was not found at this practice."
	case errors.Is(err, errUnsubscribeLink):
		status, message = fiber.StatusNotFound, "This unsubscribe link is not valid: it may have been cut short. Copy the whole link from the e-mail, or sign in to change which e-mails you get."
	case errors.Is(err, store.ErrNotFound):
		status, message = fiber.StatusNotFound, "That message or conversation was not found. It may have been cancelled."
		a.recordDenied(c)
	case errors.Is(err, errBusy):
		status, message = fiber.StatusServiceUnavailable, "Many people are using Secure Messages right now, so nothing was sent or changed. Please try again in a moment."
		c.Set(fiber.HeaderRetryAfter, "5")
	case store.Unavailable(err):
		status, message = fiber.StatusServiceUnavailable, "We cannot reach our records right now, so nothing was sent or changed. Please try again in a minute."
		c.Set(fiber.HeaderRetryAfter, "30")
		a.log.Warn("database unavailable", "request_id", requestID(c), "route", routePattern(c), "error", err.Error())
	default:
		a.log.Error("request failed", "request_id", requestID(c), "route", routePattern(c), "error", err.Error())
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	vd := a.newViewData(c, errorTitle(status))
	vd.Error = &ErrorView{Status: status, Message: message}
	if status == fiber.StatusServiceUnavailable && c.Method() == fiber.MethodPost {
		vd.Error.Retry = retryForm(c)
	}
	vd.Notice = Notice{Text: message, Error: true}
	if isFragment(c) {
		// Show the message in the page's notice area instead of swapping it over what was there.
		c.Set("HX-Retarget", "#notice")
		c.Set("HX-Reswap", "outerHTML")
	}
	return a.render(c, view{status: status, page: "pages/error", data: vd, fragment: "partials/notice", fragmentData: vd})
}

// notFoundError is a not-found answer in our own words (a link that no longer works, a row of
// another practice's), which handleError shows as they are; the router's own 404 says less.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// readErrorMessage explains a request fasthttp refused to read.
func readErrorMessage(status int) string {
	switch status {
	case fiber.StatusRequestEntityTooLarge:
		return "That was more than this site accepts in one request, so nothing was sent or changed."
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "Your browser sent more header data than this site accepts. Clearing this site's cookies may help."
	case fiber.StatusRequestTimeout:
		return "The request took too long to arrive, so nothing was sent or changed. Please try again."
	default:
		return "This request could not be read, so nothing was sent or changed."
	}
}

// recordDenied audits a not-found answer to a signed-in viewer for the :id of a message or
// conversation route; the store writes the row only if the id is a real row of someone else's.
func (a *App) recordDenied(c *fiber.Ctx) {
	kind, parse := "", a.ids.ParseMessage
	switch route := routePattern(c); {
	case strings.HasPrefix(route, "/messages/:id"):
		kind = "message"
	case strings.HasPrefix(route, "/conversations/:id"):
		kind, parse = "conversation", a.ids.ParseConversation
	}
	sess := session(c)
	if kind == "" || sess == nil {
		return
	}
	id, err := idParam(c, parse)
	if err != nil {
		return
	}
	if err := a.store.RecordDenied(c.UserContext(), sess.User.Viewer(), a.origin(c), kind, id); err != nil {
		// The answer is a 404 either way; an operator learns the audit could not be written.
		a.log.Error("audit of denied access failed", "request_id", requestID(c), "route", routePattern(c), "error", err.Error())
	}
}

func errorTitle(status int) string {
	switch {
	case status == fiber.StatusNotFound:
		return "Not found"
	case status == fiber.StatusForbidden:
		return "Not allowed"
	case status == fiber.StatusUnauthorized:
		return "Please sign in"
	case status == fiber.StatusTooManyRequests:
		return "Too many attempts"
	case status < 500:
		return "Please check your request"
	default:
		return "Something went wrong"
	}
}

// retryForm carries a form that could not be handled back to the sender, so that nothing typed is
// lost and one button sends it again. The form's own key makes a repeat harmless. Passwords are
// never echoed.
func retryForm(c *fiber.Ctx) *RetryForm {
	f := &RetryForm{Action: utils.CopyString(c.OriginalURL())}
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		name := string(k)
		switch name {
		case "password":
			return
		case "body":
			f.Body = string(v)
		}
		f.Fields = append(f.Fields, RetryField{Name: name, Value: string(v)})
	})
	return f
}
