package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// What each kind of e-mail is about, as the settings and the unsubscribe pages name it. The
// e-mails themselves say none of this: they carry no health information, and which kind an
// e-mail is would say whether a patient asked for someone by name.
var kindLabels = map[store.NotificationKind]struct{ Legend, About string }{
	store.KindPracticeMessage: {"Messages and replies from your care team", "new messages and replies from your care team"},
	store.KindRequested:       {"Messages a patient sends to you by name", "messages a patient sends to you by name"},
	store.KindWaiting:         {"Other patient messages waiting for the practice", "other patient messages waiting for the practice"},
}

// deliveryLabels are the choices as the form offers them.
var deliveryLabels = map[store.Delivery]string{
	store.DeliveryNow:    "At once",
	store.DeliveryDigest: "Hourly digest",
	store.DeliveryOff:    "Off",
}

const savedNotice = "Your e-mail choices are saved."

// notificationsShow shows how the signed-in person hears of new messages by e-mail.
func (a *App) notificationsShow(c *fiber.Ctx) error {
	prefs, err := a.store.NotificationPreferences(c.UserContext(), session(c).User.ID)
	if err != nil {
		return err
	}
	nv := notificationsView(prefs)
	if c.Query("notice") == "saved" {
		nv.Done = savedNotice
	}
	return a.showNotifications(c, fiber.StatusOK, nv)
}

// notificationsSave saves a choice for every kind the person has, or, if any is missing or not
// one of the choices, none: the form comes back with what was chosen kept and the problem named.
// Fields for kinds of another role are not the person's to set, and are ignored.
func (a *App) notificationsSave(c *fiber.Ctx) error {
	sess := session(c)
	prefs, err := a.store.NotificationPreferences(c.UserContext(), sess.User.ID)
	if err != nil {
		return err
	}
	problems := Problems{}
	for i, p := range prefs {
		d, err := store.ParseDelivery(c.FormValue(string(p.Kind)))
		if err != nil {
			problems[string(p.Kind)] = "Choose At once, Hourly digest or Off for " + kindLabels[p.Kind].About + "."
			continue
		}
		prefs[i].Delivery = d
	}
	if len(problems) > 0 {
		nv := notificationsView(prefs)
		nv.Problems = problems
		return a.showNotifications(c, fiber.StatusUnprocessableEntity, nv)
	}
	err = a.store.SetNotificationPreferences(c.UserContext(), sess.User.Viewer(), a.origin(c), prefs)
	if errors.Is(err, store.ErrUnknownKind) || errors.Is(err, store.ErrUnknownDelivery) {
		// The form offers only the choices the store takes; this is a mismatch of ours.
		return fiber.NewError(fiber.StatusUnprocessableEntity, "That choice is not one this page offers. Nothing was changed; please reload the page and choose again.")
	}
	if err != nil {
		return err
	}
	if !isFragment(c) {
		return c.Redirect("/account/notifications?notice=saved", fiber.StatusSeeOther)
	}
	nv := notificationsView(prefs)
	nv.Done = savedNotice
	return a.showNotifications(c, fiber.StatusOK, nv)
}

// notificationsView is the form for prefs, each choice as it stands.
func notificationsView(prefs []store.NotificationPreference) *NotificationsView {
	nv := &NotificationsView{}
	for _, p := range prefs {
		k := NotificationChoice{Name: string(p.Kind), Legend: kindLabels[p.Kind].Legend}
		for i, d := range store.Deliveries {
			id := string(p.Kind) + "-" + string(d)
			if i == 0 {
				id = string(p.Kind) // the error summary links to the group's first choice
			}
			k.Options = append(k.Options, DeliveryOption{ID: id, Value: string(d), Label: deliveryLabels[d], Checked: d == p.Delivery})
		}
		nv.Choices = append(nv.Choices, k)
	}
	return nv
}

func (a *App) showNotifications(c *fiber.Ctx, status int, nv *NotificationsView) error {
	vd := a.newViewData(c, "E-mail notifications")
	vd.Notifications = nv
	return a.render(c, view{status: status, page: "pages/notifications", data: vd, fragment: "partials/notifications", fragmentData: vd})
}
