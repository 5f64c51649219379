package app

import "github.com/gofiber/fiber/v2"

// routes is the one route table: to find the code for a URL, read it here.
func (a *App) routes(r fiber.Router) {
	// Operations and assets.
	r.Get("/healthz", a.healthz)
	r.Get("/static/+", a.staticFile)

	// Signing in and out.
	r.Get("/", a.home)
	r.Get("/signin", a.signinShow)
	r.Post("/signin", a.signin)
	r.Get("/signin/code", a.requireSecondFactor, a.signinCodeShow)
	r.Post("/signin/code", a.requireSecondFactor, a.signinCode)
	r.Post("/signout", a.signout)

	// Account security: the optional second factor.
	r.Get("/account/security", a.requireUser, a.securityShow)
	r.Post("/account/totp", a.requireUser, a.totpBegin)
	r.Post("/account/totp/enable", a.requireUser, a.totpEnable)
	r.Post("/account/totp/disable", a.requireUser, a.totpDisable)

	// The inbox.
	r.Get("/inbox", a.requireUser, a.inboxShow)
	r.Get("/messages/new", a.requireUser, a.composeShow)
	r.Post("/messages", a.requireUser, a.messageSend)
	r.Get("/messages/:id", a.requireUser, a.messageDetails)
	r.Get("/messages/:id/slot", a.requireUser, a.messageSlot)
	r.Get("/messages/:id/reply", a.requireUser, a.replyForm)
	r.Post("/messages/:id/replies", a.requireUser, a.replySend)
	r.Get("/messages/:id/cancel", a.requireUser, a.cancelConfirm)
	r.Post("/messages/:id/cancel", a.requireUser, a.messageCancel)
	r.Post("/conversations/:id/archive", a.requireUser, a.conversationArchive)
	r.Post("/conversations/:id/reopen", a.requireUser, a.conversationReopen)

	// Live updates.
	r.Get("/events", a.requireUser, a.eventStream)
}
