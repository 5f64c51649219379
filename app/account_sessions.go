package app

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// SessionsView is a person's list of their own sessions.
type SessionsView struct {
	Sessions  []SessionRow
	Others    bool // there are sessions besides this one, which "Sign out everywhere else" ends
	Done      string
	CSRFToken string
}

// SessionRow is one session in the list.
type SessionRow struct {
	Device   string // "Firefox on Android", or "Unknown device"
	Started  Stamp
	LastUsed Stamp
	Current  bool
}

// sessionsShow lists the signed-in person's sessions.
func (a *App) sessionsShow(c *fiber.Ctx) error {
	sv, err := a.sessionsView(c)
	if err != nil {
		return err
	}
	if c.Query("done") != "" {
		sv.Done = "You were signed out everywhere else."
	}
	return a.showSessions(c, sv)
}

// sessionsEndOthers signs the person out of every session but this one, and closes those
// sessions' open pages on every instance.
func (a *App) sessionsEndOthers(c *fiber.Ctx) error {
	ended, err := a.store.EndOtherSessions(c.UserContext(), session(c).User, c.Cookies(a.cookieName(c)), a.origin(c))
	if err != nil {
		return err
	}
	a.endStreams(c, ended)
	if !isFragment(c) {
		return c.Redirect("/account/sessions?done=1", fiber.StatusSeeOther)
	}
	sv, err := a.sessionsView(c)
	if err != nil {
		return err
	}
	sv.Done = "You were signed out everywhere else."
	c.Set("HX-Retarget", "#sessions")
	c.Set("HX-Reswap", "outerHTML")
	return a.showSessions(c, sv)
}

func (a *App) sessionsView(c *fiber.Ctx) (*SessionsView, error) {
	sess := session(c)
	list, err := a.store.Sessions(c.UserContext(), sess.User, c.Cookies(a.cookieName(c)), a.cfg.Sessions)
	if err != nil {
		return nil, err
	}
	now := time.Now().In(sess.Practice.Location(a.cfg.PracticeZone))
	sv := &SessionsView{CSRFToken: maskCSRF(sess.CSRFToken)}
	for _, s := range list {
		row := SessionRow{Device: s.Device, Started: stamp(s.CreatedAt, now), LastUsed: stamp(s.LastSeenAt, now), Current: s.Current}
		if row.Device == "" {
			row.Device = "Unknown device"
		}
		sv.Sessions = append(sv.Sessions, row)
		sv.Others = sv.Others || !s.Current
	}
	return sv, nil
}

func (a *App) showSessions(c *fiber.Ctx, sv *SessionsView) error {
	vd := a.newViewData(c, "Your sessions")
	vd.Practice = session(c).Practice
	vd.Sessions = sv
	return a.render(c, view{page: "pages/sessions", data: vd, fragment: "partials/sessions", fragmentData: sv})
}
