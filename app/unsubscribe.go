package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/app/unsubscribe"
	"securemessages/store"
)

// errUnsubscribeLink is an unsubscribe link that names no token of ours: handleError answers it
// 404 in words of its own, since the person came from an e-mail, not from a page of ours.
var errUnsubscribeLink = errors.New("app: not an unsubscribe link of ours")

// unsubscribeShow asks before it stops anything: link checkers and mail scanners open every link
// of an e-mail, so a GET changes nothing.
func (a *App) unsubscribeShow(c *fiber.Ctx) error {
	kind, err := a.store.UnsubscribeKind(c.UserContext(), c.Params("token"))
	if errors.Is(err, store.ErrNotFound) {
		return errUnsubscribeLink
	}
	if err != nil {
		return err
	}
	// The address the e-mail's headers name, relative: the page posts to where it was opened.
	return a.showUnsubscribe(c, &UnsubscribeView{Action: unsubscribe.URL("", c.Params("token")), About: kindLabels[kind].About})
}

// unsubscribe turns off the one kind of e-mail the token is for. It answers the page's button and
// a mail client's one-click POST (RFC 8058) alike, which is why it reads no session and no CSRF
// token (routes.go): the token is the whole of its authority.
func (a *App) unsubscribe(c *fiber.Ctx) error {
	kind, err := a.store.Unsubscribe(c.UserContext(), c.Params("token"), a.origin(c))
	if errors.Is(err, store.ErrNotFound) {
		return errUnsubscribeLink
	}
	if err != nil {
		return err
	}
	return a.showUnsubscribe(c, &UnsubscribeView{Done: true, About: kindLabels[kind].About})
}

func (a *App) showUnsubscribe(c *fiber.Ctx, uv *UnsubscribeView) error {
	title := "Stop these e-mails?"
	if uv.Done {
		title = "E-mails stopped"
	}
	vd := a.newViewData(c, title)
	vd.Unsubscribe = uv
	return a.render(c, view{page: "pages/unsubscribe", data: vd})
}
