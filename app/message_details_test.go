package app

import (
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
	"securemessages/views/htmltest"
)

// slotOf checks an answer that opens the slot under message id, page or fragment, and returns
// the slot. On the page the slot is open in place, under its message in the inbox.
func (e *env) slotOf(t *testing.T, r *response, htmx bool, id int64) *htmltest.Node {
	t.Helper()
	slotID := "slot-" + e.mid(id)
	if htmx {
		return wantFragment(t, r, slotID, "#"+slotID)
	}
	inbox := inboxOf(t, r, false)
	li, slot := e.messageLI(inbox, id), inbox.ByID(slotID)
	if li == nil || slot == nil || !li.Contains(slot) {
		t.Fatalf("message %d is not shown with its slot:\n%s", id, r.Body)
	}
	return slot
}

func TestMessageSlots(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	both(t, func(t *testing.T, htmx bool) {
		c := patient.variant(htmx)
		for _, s := range []struct {
			name string
			path string
			id   int64
			want []string // in the slot's text
			form string   // the action of the form in the slot, if any
		}{
			{"details", "/messages/%s", m.lab.ID,
				[]string{"My portal shows a cholesterol result flagged high.", "From You", "Billing consent Agreed to be billed $25.00"}, ""},
			{"details with special instructions", "/messages/%s", m.rash.ID,
				[]string{"A red, itchy rash", "Requested staff member Jordan Patel, RN", "Response method Phone call",
					"Billing consent Agreed to be billed $25.00"}, ""},
			{"details of a staff reply", "/messages/%s", m.refillDr.ID,
				[]string{"have your home readings stayed under 130/80?", "From Dr. Amelia Chen"}, ""},
			{"reply form", "/messages/%s/reply", m.refillDr.ID,
				[]string{"Reply: " + subjReRefil, "I agree to be billed $25.00 for this message."}, "/messages/%s/replies"},
			{"follow-up form", "/messages/%s/reply", m.lab.ID,
				[]string{"Send Follow-Up: " + subjLab}, "/messages/%s/replies"},
			{"cancel question", "/messages/%s/cancel", m.lab.ID,
				[]string{"Cancel “" + subjLab + "”? It will be deleted permanently, for you and for the care team.", "Cancel Message"},
				"/messages/%s/cancel"},
		} {
			t.Run(s.name, func(t *testing.T) {
				r := c.get(t, fmt.Sprintf(s.path, e.mid(s.id)))
				wantStatus(t, r, http.StatusOK)
				slot := e.slotOf(t, r, htmx, s.id)
				for _, want := range s.want {
					if !strings.Contains(slot.TextContent(), want) {
						t.Errorf("slot lacks %q: %s", want, slot.TextContent())
					}
				}
				if s.form != "" {
					form := slot.First(htmltest.Tag("form"))
					if form == nil || form.Attr["action"] != fmt.Sprintf(s.form, e.mid(s.id)) || form.Attr["method"] != "post" ||
						form.FormValues().Get("_csrf") == "" {
						t.Errorf("no form posting to %s with a CSRF token in the slot", fmt.Sprintf(s.form, e.mid(s.id)))
					}
				}
				closeLink := slot.First(htmltest.TagText("a", "Close"))
				if closeLink == nil {
					t.Fatal("no Close link in the slot")
				}
				// Close empties the slot again.
				closed := c.get(t, closeLink.Attr["hx-get"])
				wantStatus(t, closed, http.StatusOK)
				if empty := e.slotOf(t, closed, htmx, s.id); empty.TextContent() != "" {
					t.Errorf("closed slot still shows %q", empty.TextContent())
				}
			})
		}
	})
}

// An action the message no longer offers is answered with the inbox as it is and the reason; for
// htmx, in place of the inbox, not inside the slot the link aimed at.
func TestMessageSlotsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	both(t, func(t *testing.T, htmx bool) {
		for _, s := range []struct {
			name, path string
			id         int64
			reason     string
		}{
			{"cancel what was answered", "/messages/%s/cancel", m.refill.ID, cancelRefusedText},
			{"cancel the physician's", "/messages/%s/cancel", m.refillDr.ID, cancelRefusedText},
			{"reply in an archived thread", "/messages/%s/reply", m.rashRN.ID, "This conversation is archived; Re-Open it to write more."},
		} {
			t.Run(s.name, func(t *testing.T) {
				r := patient.variant(htmx).get(t, fmt.Sprintf(s.path, e.mid(s.id)))
				wantStatus(t, r, http.StatusConflict)
				var inbox *htmltest.Node
				if htmx {
					// The link's hx-target is the message's slot.
					inbox = wantFragment(t, r, "inbox", "#slot-"+e.mid(s.id))
				} else {
					inbox = inboxOf(t, r, false)
				}
				if got := notice(t, inbox); got != s.reason {
					t.Errorf("notice %q, want %q", got, s.reason)
				}
			})
		}
	})
}

// idRoutes are the GET and POST routes that take the id of a message or conversation. The
// practice's administrator routes (/practice/...) take other ids (a patient's, an invitation's, an
// import's) and answer anyone else 403 before reading them: their own tests
// (TestAuditReviewForeignIDs, TestOnboardingForbidden) and the access matrix hold them to their
// own practice.
func (e *env) idRoutes() []fiber.Route {
	var routes []fiber.Route
	for _, route := range e.app.GetRoutes(true) {
		if strings.Contains(route.Path, ":id") && !strings.HasPrefix(route.Path, "/practice/") &&
			(route.Method == http.MethodGet || route.Method == http.MethodPost) {
			routes = append(routes, route)
		}
	}
	return routes
}

// call sends what a route of method takes: a GET, or a POST of a form every route accepts.
func (c *client) call(t *testing.T, method, path string) *response {
	t.Helper()
	if method == http.MethodGet {
		return c.get(t, path)
	}
	return c.post(t, path, anyForm())
}

// Another patient's ids, and another practice's, answer 404 and show none of their data, for every
// route that takes an id. Each such answer is audited as a denied access by the viewer to that
// object; an id that names nothing is not.
func TestOtherPatientsMessagesAreNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	toms := e.start(t, tom, "Tom private subject QX7", "Tom private body QX7")
	graces := e.start(t, grace, "Grace private subject QX7", "Grace private body QX7")
	patient := e.signIn(t, maria)
	before := e.counts(t)
	wantDenied := map[string]int{} // "message 12": how many denials of it
	for _, other := range []struct {
		name          string
		msgID, convID int64
	}{{"same practice", toms.MessageID, toms.ConversationID}, {"other practice", graces.MessageID, graces.ConversationID},
		{"no such id", 987654321, 987654321}} {
		msgID, convID := other.msgID, other.convID
		for _, route := range e.idRoutes() {
			id, internalID, kind := e.mid(msgID), msgID, "message"
			if strings.HasPrefix(route.Path, "/conversations/") {
				id, internalID, kind = e.cid(convID), convID, "conversation"
			}
			path := strings.ReplaceAll(route.Path, ":id", id)
			if other.name != "no such id" {
				wantDenied[kind+" "+itoa(internalID)] += 2 // page and htmx
			}
			t.Run(other.name+" "+route.Method+" "+route.Path, func(t *testing.T) {
				both(t, func(t *testing.T, htmx bool) {
					r := patient.variant(htmx).call(t, route.Method, path)
					wantNotice(t, r, htmx, http.StatusNotFound, "That message or conversation was not found.")
					// Whole phrases: a fragment like "QX7" alone turns up in random CSRF tokens.
					if strings.Contains(r.Body, "private subject QX7") || strings.Contains(r.Body, "private body QX7") ||
						strings.Contains(r.Body, "Tom Becker") || strings.Contains(r.Body, "Grace Kim") {
						t.Errorf("another patient's data in the answer:\n%s", r.Body)
					}
				})
			})
		}
	}
	t.Cleanup(func() {
		if after := e.counts(t); after != before {
			t.Errorf("requests on another patient's ids changed the database: %+v -> %+v", before, after)
		}
		var rows []struct {
			Object   string `db:"object"`
			N        int    `db:"n"`
			Actors   int    `db:"actors"`
			Untagged int    `db:"untagged"`
		}
		if err := e.st.DB().Select(&rows, `
			SELECT object_type || ' ' || object_id AS object, count(*) AS n,
			       count(*) FILTER (WHERE actor_id = $1 AND outcome = 'denied') AS actors,
			       count(*) FILTER (WHERE request_id = '') AS untagged
			FROM audit_log WHERE action = 'access_denied' GROUP BY 1`, e.user(t, maria).ID); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, r := range rows {
			got[r.Object] = r.N
			if r.Actors != r.N || r.Untagged != 0 {
				t.Errorf("%s: %d denials, %d of them by Maria as denied, %d without a request id", r.Object, r.N, r.Actors, r.Untagged)
			}
		}
		if !maps.Equal(got, wantDenied) {
			t.Errorf("access_denied audit rows per object %v, want %v", got, wantDenied)
		}
	})
}

// A malformed id is a bad link (400), whatever the route: among them the internal number of the
// patient's own message or conversation (the old links), her own public id altered or of the
// other kind, and an id made under another key.
func TestMalformedIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.mariasInbox(t)
	patient := e.signIn(t, maria)
	before := e.counts(t)
	otherKey, err := store.NewPublicIDs([]byte("another key 16 b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range e.idRoutes() {
		own, other, internal := e.mid(m.lab.ID), e.cid(m.lab.ConversationID), m.lab.ID
		if strings.HasPrefix(route.Path, "/conversations/") {
			own, other, internal = e.cid(m.lab.ConversationID), e.mid(m.lab.ID), m.lab.ConversationID
		}
		altered := own[:10] + string(own[10]^1) + own[11:]
		for _, bad := range []string{"abc", "-1", "0", "1.5", "99999999999999999999", strconv.FormatInt(internal, 10),
			altered, other, e.uid(e.user(t, maria).ID), otherKey.Message(m.lab.ID), otherKey.Conversation(m.lab.ConversationID)} {
			path := strings.ReplaceAll(route.Path, ":id", bad)
			t.Run(route.Method+" "+path, func(t *testing.T) {
				both(t, func(t *testing.T, htmx bool) {
					r := patient.variant(htmx).call(t, route.Method, path)
					wantNotice(t, r, htmx, http.StatusBadRequest, "That link is not valid")
				})
			})
		}
	}
	t.Cleanup(func() {
		if after := e.counts(t); after != before {
			t.Errorf("malformed ids changed the database: %+v -> %+v", before, after)
		}
	})
}

// A cross-site navigation to a message's details (a link on another site, which SameSite=Lax
// sends the session cookie with) neither shows the text nor records a read: it is sent to the
// message in the inbox. From our own pages, the address bar, or a browser that does not say,
// the details open and the read is recorded.
func TestCrossSiteNavigationOpensNoDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	patient := e.signIn(t, maria)
	lab := e.mariasInbox(t).lab.ID
	const text = "My portal shows a cholesterol result flagged high."
	reads := func() int {
		var n int
		if err := e.st.DB().Get(&n, `SELECT count(*) FROM audit_log WHERE action = 'message_read' AND object_id = $1`, lab); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, site := range []string{"cross-site", "same-site", "same-origin", "none", ""} {
		t.Run("Sec-Fetch-Site "+site, func(t *testing.T) {
			before := reads()
			var header []string
			if site != "" {
				header = []string{"Sec-Fetch-Site", site, "Sec-Fetch-Mode", "navigate"}
			}
			r := patient.get(t, "/messages/"+e.mid(lab), header...)
			if site == "cross-site" || site == "same-site" {
				wantRedirect(t, r, "/inbox?all=1#message-"+e.mid(lab))
				if strings.Contains(r.Body, text) {
					t.Errorf("the redirect carries the text:\n%s", r.Body)
				}
				if n := reads() - before; n != 0 {
					t.Errorf("%d reads recorded for a cross-site navigation", n)
				}
				inbox := inboxOf(t, patient.get(t, "/inbox?all=1", header...), false)
				if li := e.messageLI(inbox, lab); li == nil || strings.Contains(li.TextContent(), text) {
					t.Errorf("the inbox should show message %d with its text closed:\n%s", lab, inbox.TextContent())
				}
				return
			}
			wantStatus(t, r, http.StatusOK)
			if slot := e.slotOf(t, r, false, lab); !strings.Contains(slot.TextContent(), text) {
				t.Errorf("the details lack the text: %s", slot.TextContent())
			}
			if n := reads() - before; n != 1 {
				t.Errorf("%d reads recorded, want 1", n)
			}
		})
	}
}
