package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
)

// routes is the one route table: every URL, and every handler a request to it goes through, in
// order. Fiber runs a request down this list as it was registered: the middleware of Use (and of
// a Group) for every request it reaches, a route's handlers when the route matches, until a
// handler answers without calling c.Next(). So the routes at the top, which answer first, skip the
// middleware registered below them; nothing else decides by looking at the path.
//
// Routes match whatever the case and with or without a trailing slash (Fiber's default), so
// /HEALTHZ and /events/ are the same routes, with the same handlers, as /healthz and /events.
//
// A request no route matches, also one with another method than a route's (POST /healthz,
// DELETE /static/...), goes on down to the pages: it takes its turn in the queue, its session
// and CSRF token are checked (a signed-in POST without the token gets 403), and only then is it
// answered 404 or 405. A wrong method thus gets the pages' checks, never fewer.
func (a *App) routes(f *fiber.App) {
	// Every request, whatever becomes of it.
	f.Use(keepRouterRequestID)
	f.Use(requestid.New(requestid.Config{Generator: utils.UUIDv4}))
	f.Use(a.logRequests)
	f.Use(recover.New()) // inside logRequests, so a panic is logged as the 500 it becomes
	f.Use(addSecurityHeaders)
	f.Use(rejectBadBytes)

	// The platform's health check: over plain HTTP too, with no session, not waiting for a
	// request slot, since the platform must always get an answer.
	f.Get("/healthz", a.noStore, a.healthz)

	// Every request below: sent to HTTPS in production, and kept out of every cache (static files
	// set their own long-lived caching).
	f.Use(a.requireHTTPS, a.noStore)

	// Static files: served from memory, compressed already; no session, no request slot.
	f.Get("/static/+", a.staticFile)

	// Live updates: the stream holds its request for hours, so it takes no request slot, and it
	// is not compressed (a compressor per open page for hours, for a few bytes).
	f.Get("/events", a.loadSession, a.requireUser, a.eventStream)

	// Forms that check a password wait for the password-hashing pool (store.CheckPassword), not
	// for a request slot: a hash takes far longer than a page, and holding a slot through it
	// would let a crowd of sign-ins keep every page waiting. Their other work is a few short
	// statements, bounded by the sign-in limits and the database pool. Their pages (GET) are
	// pages, below.
	checksPassword := func(h ...fiber.Handler) []fiber.Handler {
		return append([]fiber.Handler{compressPages, a.loadSession, a.checkCSRF}, h...)
	}
	f.Post("/signin", checksPassword(a.signin)...)
	f.Post("/account/totp/enable", checksPassword(a.requireUser, a.totpEnable)...)
	f.Post("/account/totp/disable", checksPassword(a.requireUser, a.totpDisable)...)
	f.Post("/account/password", checksPassword(a.requireUser, a.passwordChange)...)
	f.Post("/password/reset/:token", checksPassword(a.resetPassword)...)
	// An invitation's link sets a password (hashed): anyone holding the link, signed in or not.
	f.Post("/invitations/:token", checksPassword(a.invitationAccept)...)

	// One-click unsubscribe (RFC 8058): a mail client posts "List-Unsubscribe=One-Click" here
	// itself, from its own servers or app, with no cookie and no CSRF token, so this one change
	// skips the session and the CSRF check. That is safe because CSRF is about a request riding on
	// the ambient authority of a browser's cookie, and this route uses none: it reads no session,
	// and the unguessable token in its address is the whole of its authority, which is to turn one
	// kind of e-mail off for the person it was sent to, and nothing else. It still waits for a
	// request slot like a page. Its GET, with the pages, only asks.
	f.Post("/unsubscribe/:token", a.admit, compressPages, a.unsubscribe)

	// Pages and fragments, and every request no route above answered: each waits for one of
	// the request slots (admit, before compressing and the session: both are part of the work it
	// queues), is gzipped, and has its session and, for a change, its CSRF token checked.
	pages := f.Group("", a.admit, compressPages, a.loadSession, a.checkCSRF)

	// Signing in and out.
	pages.Get("/", a.home)
	pages.Get("/signin", a.signinShow)
	pages.Get("/signin/code", a.requireSecondFactor, a.signinCodeShow)
	pages.Post("/signin/code", a.requireSecondFactor, a.signinCode)
	pages.Post("/signout", a.signout)

	// A forgotten password: the request for a link, and the form the link opens (POST above).
	pages.Get("/password/forgot", a.forgotShow)
	pages.Post("/password/forgot", a.forgotSend)
	pages.Get("/password/reset/:token", a.resetShow)

	// Account security: the optional second factor.
	pages.Get("/account/security", a.requireUser, a.securityShow)
	pages.Post("/account/totp", a.requireUser, a.totpBegin)

	// Account notifications: how each kind of message is e-mailed; and the page an e-mail's
	// unsubscribe link opens, for anyone holding the link, signed in or not.
	pages.Get("/account/notifications", a.requireUser, a.notificationsShow)
	pages.Post("/account/notifications", a.requireUser, a.notificationsSave)
	pages.Get("/unsubscribe/:token", a.unsubscribeShow)
	// One's own account: the password (POST above) and the sessions signed in.
	pages.Get("/account/password", a.requireUser, a.passwordShow)
	pages.Get("/account/sessions", a.requireUser, a.sessionsShow)
	pages.Post("/account/sessions/end_others", a.requireUser, a.sessionsEndOthers)

	// An invitation's link: the form that chooses a password, for anyone holding the link.
	pages.Get("/invitations/:token", a.invitationShow)

	// The inbox.
	pages.Get("/inbox", a.requireUser, a.inboxShow)
	pages.Get("/messages/new", a.requireUser, a.composeShow)
	pages.Post("/messages", a.requireUser, a.messageSend)
	pages.Get("/messages/:id", a.requireUser, a.messageDetails)
	pages.Get("/messages/:id/slot", a.requireUser, a.messageSlot)
	pages.Get("/messages/:id/reply", a.requireUser, a.replyForm)
	pages.Post("/messages/:id/replies", a.requireUser, a.replySend)
	pages.Get("/messages/:id/cancel", a.requireUser, a.cancelConfirm)
	pages.Post("/messages/:id/cancel", a.requireUser, a.messageCancel)
	pages.Post("/messages/:id/unread", a.requireUser, a.messageUnread)
	pages.Post("/conversations/:id/archive", a.requireUser, a.conversationArchive)
	pages.Post("/conversations/:id/reopen", a.requireUser, a.conversationReopen)

	// The practice's settings: its administrators only.
	pages.Get("/practice/settings", a.requireUser, a.requireAdministrator, a.settingsShow)
	pages.Post("/practice/settings/fee", a.requireUser, a.requireAdministrator, a.settingsFee)
	pages.Post("/practice/settings/limits", a.requireUser, a.requireAdministrator, a.settingsLimits)
	pages.Post("/practice/settings/compose", a.requireUser, a.requireAdministrator, a.settingsCompose)
	pages.Post("/practice/settings/notice", a.requireUser, a.requireAdministrator, a.settingsNotice)
	pages.Post("/practice/settings/hours", a.requireUser, a.requireAdministrator, a.settingsHours)
	pages.Post("/practice/settings/auto_reply", a.requireUser, a.requireAdministrator, a.settingsAutoReply)

	// The practice's people: its administrators only, and only their own practice's.
	pages.Get("/practice/people", a.requireUser, a.requireAdministrator, a.peopleShow)
	pages.Get("/practice/people/:id", a.requireUser, a.requireAdministrator, a.personShow)
	pages.Post("/practice/people/:id/name", a.requireUser, a.requireAdministrator, a.personRename)
	pages.Post("/practice/people/:id/role", a.requireUser, a.requireAdministrator, a.personSetRole)
	pages.Post("/practice/people/:id/deactivate", a.requireUser, a.requireAdministrator, a.personDeactivate)
	pages.Post("/practice/people/:id/reactivate", a.requireUser, a.requireAdministrator, a.personReactivate)
	pages.Post("/practice/people/:id/second_factor", a.requireUser, a.requireAdministrator, a.personResetSecondFactor)
	// The practice's audit review: its administrators only. The export is a POST because it is
	// recorded in the audit log.
	pages.Get("/practice/audit", a.requireUser, a.requireAuditReviewer, a.auditShow)
	pages.Post("/practice/audit/export", a.requireUser, a.requireAuditReviewer, a.auditExport)
	pages.Get("/practice/audit/patients/:id", a.requireUser, a.requireAuditReviewer, a.auditPatientShow)
	// Bringing people in: invitations and the patient import, its administrators only.
	pages.Get("/practice/invitations", a.requireUser, a.requireAdministrator, a.invitationsShow)
	pages.Post("/practice/invitations", a.requireUser, a.requireAdministrator, a.invitationSend)
	pages.Post("/practice/invitations/:id/resend", a.requireUser, a.requireAdministrator, a.invitationResend)
	pages.Post("/practice/invitations/:id/revoke", a.requireUser, a.requireAdministrator, a.invitationRevoke)
	pages.Get("/practice/import", a.requireUser, a.requireAdministrator, a.importShow)
	pages.Post("/practice/import", a.requireUser, a.requireAdministrator, a.importUpload)
	pages.Get("/practice/import/:id", a.requireUser, a.requireAdministrator, a.importPreview)
	pages.Post("/practice/import/:id", a.requireUser, a.requireAdministrator, a.importConfirm)
}
