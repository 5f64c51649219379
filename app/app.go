// Package app owns HTTP: the route table, the handlers (one action a file), the middleware that
// signs people in and guards every change (sessions, CSRF, security headers), and the choice
// between a whole page and the fragment htmx swaps in. It asks the store for data and for every
// change, and never decides an inbox rule itself: store.Allowed does.
package app

import (
	"context"
	"html/template"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/realtime"
	"securemessages/static"
	"securemessages/store"
	"securemessages/views"
)

// App holds what the handlers depend on.
type App struct {
	cfg    Config
	store  *store.Store
	hub    *realtime.Hub
	assets *static.Assets
	views  fiber.Views // the templates, which render writes straight into the response
	convs  *conversationHTML
	ids    *store.PublicIDs // every id a page shows or a request names (store.PublicIDs)
	log    *slog.Logger
	admission
}

// New builds the HTTP application. Templates and assets are loaded here, so a broken one stops
// start-up rather than a request.
func New(cfg Config, st *store.Store, hub *realtime.Hub, log *slog.Logger) (*fiber.App, error) {
	_, f, err := newApp(cfg, st, hub, log)
	return f, err
}

// newApp is New, also handing back the handlers' struct, for tests that change how long a
// request waits.
func newApp(cfg Config, st *store.Store, hub *realtime.Hub, log *slog.Logger) (*App, *fiber.App, error) {
	assets, err := static.Load()
	if err != nil {
		return nil, nil, err
	}
	set, err := views.New(templateFuncs(assets))
	if err != nil {
		return nil, nil, err
	}
	convs := newConversationHTML(cfg.Cache(CacheConversations))
	if err := convs.setViews(set); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := st.PublicIDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	st.LimitSends(cfg.SendLimits)
	st.UseDefaultZone(cfg.PracticeZone)
	a := &App{cfg: cfg, store: st, hub: hub, assets: assets, views: set, convs: convs, ids: ids, log: log, admission: newAdmission(cfg.RequestSlots)}
	f := fiber.New(fiber.Config{
		Views:                 set,
		ErrorHandler:          a.handleError,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           120 * time.Second, // longer than routers keep idle keep-alive connections
		BodyLimit:             64 * 1024,         // far above the largest form: a 4,000-character message
		DisableStartupMessage: true,
		// c.Protocol() and c.Hostname() read X-Forwarded-* only from TRUST_PROXY's peers. No
		// ProxyHeader: c.IP() stays the peer, as Fiber would take the first X-Forwarded-For
		// entry, which the client writes; clientIP picks the router's.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.trustedProxies(),
	})
	// A live stream takes its connection over (see eventStream) and closes it itself; fasthttp
	// then lets go of the request's memory at once instead of holding it for the stream's life.
	f.Server().KeepHijackedConns = true
	a.markReadErrors(f.Server())
	a.routes(f)
	return a, f, nil
}

// templateFuncs are the functions the views call.
func templateFuncs(assets *static.Assets) template.FuncMap {
	return template.FuncMap{
		"asset":      assets.URL,
		"fee":        store.FormatFee,
		"maxSubject": func() int { return store.MaxSubjectLen },
	}
}

// formatDate shows a message's date the way an inbox does, in now's time zone (the practice's:
// InboxView.now): the time today, the day and time this year, and with the year before that, so a
// message from last December never reads as this December's.
func formatDate(t, now time.Time) string {
	t = t.In(now.Location())
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("3:04 PM")
	case t.Year() == now.Year():
		return t.Format("Jan 2, 3:04 PM")
	default:
		return t.Format("Jan 2, 2006, 3:04 PM")
	}
}
