package systemtest

// The access matrix: every route of the app's own route table, for an anonymous visitor, a
// patient (Maria), another patient of her practice (Tom), staff of her practice and staff of
// another practice, against Maria's ids (and an id that does not exist). Only the cells allowed
// succeed; every other answers 404 (or, signed out, a sign-in redirect or 401) and changes
// nothing. A route the table does not know fails the test, so a new route cannot slip past it.
// Then the same for live streams: no event of Maria's reaches anybody else's stream.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"securemessages/app"
	"securemessages/store"
	"securemessages/views/htmltest"
)

type secActor string

const (
	secAnonActor  secActor = "anonymous"
	secOwner      secActor = "Maria (the patient)"
	secOtherPat   secActor = "Tom (another patient)"
	secStaffActor secActor = "staff of her practice"
	secOtherStaff secActor = "staff of another practice"
	secAdmin      secActor = "administrator of her practice"
	secOtherAdmin secActor = "administrator of another practice"
)

var secActors = []secActor{secAnonActor, secOwner, secOtherPat, secStaffActor, secOtherStaff, secAdmin, secOtherAdmin}

// secCell is what one actor gets from one route.
type secCell struct {
	status   int
	location string // for a redirect: where to
	changes  bool   // the request is allowed to change something (and must)
	counted  bool   // a refusal counted as one failed sign-in of the actor's (and nothing else)
}

var (
	secOK        = secCell{status: http.StatusOK}
	secNotFound  = secCell{status: http.StatusNotFound}
	secToSignIn  = secCell{status: http.StatusSeeOther, location: "/signin"}
	secToInbox   = secCell{status: http.StatusSeeOther, location: "/inbox"}
	secNoSession = secCell{status: http.StatusUnauthorized}
	secRefused   = secCell{status: http.StatusConflict} // visible, but the action does not apply to this viewer
	secInvalid   = secCell{status: http.StatusUnprocessableEntity}
	secForbidden = secCell{status: http.StatusForbidden} // signed in, without the right (store.PracticeAllowed)
	secGone      = secCell{status: http.StatusGone}      // a password reset link that is not, or no longer, one
	// secChanged: a change made, answered with a redirect to the page it was made on.
	secChanged = secCell{status: http.StatusSeeOther, changes: true}
	// secWrongCode: a wrong second-factor code, refused and counted against the sign-in limits.
	secWrongCode = secCell{status: http.StatusUnprocessableEntity, counted: true}
)

func secDid(location string) secCell {
	return secCell{status: http.StatusSeeOther, location: location, changes: true}
}

// secTarget is what a request acts on, made afresh for each cell.
type secTarget struct {
	message, conversation int64
	token                 string // an unsubscribe or invitation token, for the :token routes
	user                  int64  // for the people routes: a person of Maria's practice, made for the cell
	patient               int64  // for the audit review's patient routes
	invitation            int64  // a pending invitation of Maria's practice
	upload                string // a patient import of Maria's practice, waiting for its confirmation
}

// secRouteSpec is one row of the matrix: how to make the request, and each actor's answer.
type secRouteSpec struct {
	// target makes what the request acts on; nil for routes without ids.
	target func(t *testing.T, sys *system) secTarget
	// form is the body of a POST, nil for none.
	form func(sys *system, t *testing.T) url.Values
	// want is each actor's answer for Maria's id (or for the route, without ids).
	want map[secActor]secCell
	// check, if set, runs after an allowed change.
	check func(t *testing.T, sys *system, actor secActor)
}

func secSame(c secCell) map[secActor]secCell {
	return map[secActor]secCell{secAnonActor: c, secOwner: c, secOtherPat: c, secStaffActor: c, secOtherStaff: c, secAdmin: c, secOtherAdmin: c}
}

func secSignedIn(anon, signedIn secCell) map[secActor]secCell {
	return map[secActor]secCell{secAnonActor: anon, secOwner: signedIn, secOtherPat: signedIn, secStaffActor: signedIn,
		secOtherStaff: signedIn, secAdmin: signedIn, secOtherAdmin: signedIn}
}

// secMessageRoute: a route on Maria's message; the owner and her practice's staff get owner and
// staff, everybody else the 404 of a message that does not exist.
func secMessageRoute(anon, owner, staff secCell) map[secActor]secCell {
	return map[secActor]secCell{secAnonActor: anon, secOwner: owner, secOtherPat: secNotFound, secStaffActor: staff,
		secOtherStaff: secNotFound, secAdmin: staff, secOtherAdmin: secNotFound}
}

// secMatrix is the table: one row per route of app/routes.go, keyed "METHOD pattern".
func secMatrix() map[string]secRouteSpec {
	fresh := func(t *testing.T, sys *system) secTarget {
		s := sys.startConversation(t, secMaria, "Matrix", "Only Maria and her care team may see this.")
		return secTarget{message: s.MessageID, conversation: s.ConversationID}
	}
	archivedOne := func(t *testing.T, sys *system) secTarget {
		tg := fresh(t, sys)
		if _, err := sys.st.Archive(context.Background(), sys.viewer(t, secMaria), store.Origin{}, tg.conversation); err != nil {
			t.Fatal(err)
		}
		return tg
	}
	// mariasToken is a fresh unsubscribe token of Maria's, with her e-mail turned on again, so
	// that using it changes something.
	mariasToken := func(t *testing.T, sys *system) secTarget {
		v := sys.viewer(t, secMaria)
		if err := sys.st.SetNotificationPreference(context.Background(), v, store.Origin{}, store.KindPracticeMessage, store.DeliveryNow); err != nil {
			t.Fatal(err)
		}
		token, err := sys.st.NewUnsubscribeToken(context.Background(), nil, v.UserID, store.KindPracticeMessage)
		if err != nil {
			t.Fatal(err)
		}
		return secTarget{token: token}
	}
	openedByStaff := func(t *testing.T, sys *system) secTarget {
		tg := fresh(t, sys)
		if _, err := sys.st.MessageDetails(context.Background(), sys.viewer(t, secPhysician), store.Origin{}, tg.message); err != nil {
			t.Fatal(err)
		}
		return tg
	}
	mariaHerself := func(t *testing.T, sys *system) secTarget {
		return secTarget{patient: sys.user(t, secMaria).ID}
	}
	// Maria's practice's invitations and uploads, made by its administrator.
	invited := func(t *testing.T, sys *system) secTarget {
		id, err := sys.st.Invite(context.Background(), sys.user(t, secAdminEmail), store.Origin{},
			store.NewInvitation{Email: fmt.Sprintf("matrix.%d@example.com", time.Now().UnixNano()), FullName: "Matrix Person", Role: "nurse"})
		if err != nil {
			t.Fatal(err)
		}
		return secTarget{invitation: id}
	}
	invitationLink := func(t *testing.T, sys *system) secTarget {
		tg := invited(t, sys)
		m, err := sys.st.MintInvitation(context.Background(), tg.invitation, 1)
		if err != nil || m.Token == "" {
			t.Fatalf("mint: %+v, %v", m, err)
		}
		return secTarget{token: m.Token}
	}
	uploaded := func(t *testing.T, sys *system) secTarget {
		id, err := sys.st.UploadPatientImport(context.Background(), sys.user(t, secAdminEmail), []store.ImportRow{{Line: 2,
			Name: "Matrix Patient", Email: fmt.Sprintf("matrix.p.%d@example.com", time.Now().UnixNano()), DateOfBirth: "1990-01-01"}})
		if err != nil {
			t.Fatal(err)
		}
		return secTarget{upload: id}
	}
	inviteForm := func(*system, *testing.T) url.Values {
		return url.Values{"full_name": {"Matrix Invitee"}, "email": {fmt.Sprintf("matrix.i.%d@example.com", time.Now().UnixNano())}, "role": {"nurse"}}
	}
	passwordForm := func(*system, *testing.T) url.Values {
		return url.Values{"password": {"matrix password here"}, "confirm": {"matrix password here"}}
	}
	reply := func(*system, *testing.T) url.Values { return secReplyForm("Matrix reply") }
	code := func(*system, *testing.T) url.Values { return url.Values{"code": {"000000"}} }
	totpForm := func(*system, *testing.T) url.Values {
		return url.Values{"password": {store.DemoPassword}, "code": {"000000"}}
	}
	wrongPassword := func(*system, *testing.T) url.Values {
		return url.Values{"current_password": {"not the password"}, "new_password": {"a long new password"}, "confirm": {"a long new password"}}
	}
	unknownAddress := func(*system, *testing.T) url.Values { return url.Values{"email": {"nobody@riverside.example"}} }
	newPassword := func(*system, *testing.T) url.Values {
		return url.Values{"new_password": {"a long new password"}, "confirm": {"a long new password"}}
	}
	// person makes a person of Maria's practice for one cell: a patient, or a nurse ("staff"),
	// one deactivated, or one with two-step sign-in on ("totp").
	person := func(kind string) func(t *testing.T, sys *system) secTarget {
		return func(t *testing.T, sys *system) secTarget {
			u := store.User{PracticeID: sys.user(t, secMaria).PracticeID, Role: store.RolePatient, PasswordHash: "x",
				Email: fmt.Sprintf("matrix-%d@riverside.example", time.Now().UnixNano()), FullName: "Matrix Target", Initials: "MT"}
			if kind != "" {
				u.Role, u.StaffRole = store.RoleStaff, store.StaffNurse
			}
			u, err := sys.st.CreateUser(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "deactivated":
				_, err = sys.db().Exec(`UPDATE users SET deactivated_at = now() WHERE id = $1`, u.ID)
			case "totp":
				_, err = sys.db().Exec(`UPDATE users SET totp_enabled = true WHERE id = $1`, u.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			return secTarget{user: u.ID}
		}
	}
	m := map[string]secRouteSpec{
		"GET /healthz":  {want: secSame(secOK)},
		"GET /static/+": {want: secSame(secOK)},
		"GET /":         {want: secSignedIn(secToSignIn, secToInbox)},
		"GET /signin":   {want: secSignedIn(secOK, secToInbox)},
		"POST /signin": {
			form: func(*system, *testing.T) url.Values {
				return url.Values{"email": {secGrace}, "password": {store.DemoPassword}}
			},
			want: secSame(secDid("/inbox")),
		},
		// Nobody here owes a second factor: the code step is closed to all.
		"GET /signin/code":  {want: secSame(secToSignIn)},
		"POST /signin/code": {form: code, want: secSame(secToSignIn)},
		"POST /signout":     {want: secSignedIn(secToSignIn, secDid("/signin"))},

		"GET /account/security":      {want: secSignedIn(secToSignIn, secOK)},
		"POST /account/totp":         {want: secSignedIn(secNoSession, secCell{status: http.StatusOK, changes: true})},
		"POST /account/totp/enable":  {form: totpForm, want: secSignedIn(secNoSession, secWrongCode)},
		"POST /account/totp/disable": {form: totpForm, want: secSignedIn(secNoSession, secWrongCode)},

		// Everyone sets only their own choices (there is no user to name), each their own kinds.
		"GET /account/notifications": {want: secSignedIn(secToSignIn, secOK)},
		"POST /account/notifications": {
			form: func(*system, *testing.T) url.Values {
				return url.Values{"practice_message": {"digest"}, "requested": {"digest"}, "waiting": {"now"}}
			},
			want: secSignedIn(secNoSession, secDid("/account/notifications?notice=saved")),
		},
		// An unsubscribe link is its own authority: whoever holds it is asked (GET), and stops
		// Maria's e-mail (POST, with no session or CSRF token needed), and nothing else; a token
		// that is not one is not found for anybody.
		"GET /unsubscribe/:token":  {target: mariasToken, want: secSame(secOK)},
		"POST /unsubscribe/:token": {target: mariasToken, want: secSame(secCell{status: http.StatusOK, changes: true})},

		"GET /inbox":        {want: secSignedIn(secToSignIn, secOK)},
		"GET /messages/new": {want: secSignedIn(secToSignIn, secOK)},
		"POST /messages": {
			// Maria's id as the patient to write to: her practice's staff may; a patient always
			// writes as themself; the other practice's staff cannot choose her.
			form: func(sys *system, t *testing.T) url.Values {
				f := secComposeForm("Matrix compose", "Text")
				f.Set("patient", sys.ids.User(sys.user(t, secMaria).ID))
				return f
			},
			want: map[secActor]secCell{secAnonActor: secNoSession, secOwner: secDid("/inbox?notice=sent"),
				secOtherPat: secDid("/inbox?notice=sent"), secStaffActor: secDid("/inbox?notice=sent"), secOtherStaff: secInvalid,
				secAdmin: secDid("/inbox?notice=sent"), secOtherAdmin: secInvalid},
			check: func(t *testing.T, sys *system, actor secActor) {
				var patient int64
				if err := sys.db().Get(&patient, `SELECT patient_id FROM conversations ORDER BY id DESC LIMIT 1`); err != nil {
					t.Fatal(err)
				}
				want := sys.user(t, secMaria).ID
				if actor == secOtherPat {
					want = sys.user(t, secTom).ID // Tom writes as himself, whatever the form says
				}
				if patient != want {
					t.Errorf("%s: the new conversation belongs to user %d, want %d", actor, patient, want)
				}
			},
		},
		"GET /messages/:id":       {target: fresh, want: secMessageRoute(secToSignIn, secOK, secOK)},
		"GET /messages/:id/slot":  {target: fresh, want: secMessageRoute(secToSignIn, secOK, secOK)},
		"GET /messages/:id/reply": {target: fresh, want: secMessageRoute(secToSignIn, secOK, secOK)},
		"POST /messages/:id/replies": {target: fresh, form: reply,
			want: secMessageRoute(secNoSession, secDid("/inbox?notice=sent"), secDid("/inbox?notice=sent"))},
		"GET /messages/:id/cancel":  {target: fresh, want: secMessageRoute(secToSignIn, secOK, secRefused)},
		"POST /messages/:id/cancel": {target: fresh, want: secMessageRoute(secNoSession, secDid("/inbox?notice=cancelled"), secRefused)},
		// Her message, opened by staff: theirs to mark unread, not hers (she wrote it).
		"POST /messages/:id/unread": {target: openedByStaff,
			want: secMessageRoute(secNoSession, secRefused, secDid("/inbox?notice=unread"))},
		"POST /conversations/:id/archive": {target: fresh,
			want: secMessageRoute(secNoSession, secDid("/inbox?notice=archived"), secDid("/inbox?notice=archived"))},
		"POST /conversations/:id/reopen": {target: archivedOne,
			want: secMessageRoute(secNoSession, secDid("/inbox?notice=reopened"), secDid("/inbox?notice=reopened"))},

		"GET /events": {want: secSignedIn(secToSignIn, secOK)},

		// One's own account: the password (a wrong current one, refused and counted as a failed
		// sign-in), and the sessions list, whose "everywhere else" ends the others (none here,
		// but the sign-out is audited).
		"GET /account/password":  {want: secSignedIn(secToSignIn, secOK)},
		"POST /account/password": {form: wrongPassword, want: secSignedIn(secNoSession, secWrongCode)},
		"GET /account/sessions":  {want: secSignedIn(secToSignIn, secOK)},
		"POST /account/sessions/end_others": {
			want: secSignedIn(secNoSession, secDid("/account/sessions?done=1"))},

		// A forgotten password, signed in or not: the request for an address without an account
		// answers as any does and changes nothing; the link here is no real one.
		"GET /password/forgot":        {want: secSame(secOK)},
		"POST /password/forgot":       {form: unknownAddress, want: secSame(secCell{status: http.StatusSeeOther, location: "/password/forgot?sent=1"})},
		"GET /password/reset/:token":  {want: secSame(secGone)},
		"POST /password/reset/:token": {form: newPassword, want: secSame(secGone)},

		// The practice's people: its administrators only; a person of Maria's practice is nobody
		// to the other practice's administrator (404).
		"GET /practice/people":     {want: secSettingsRoute(secToSignIn, secOK, secOK)},
		"GET /practice/people/:id": {target: person(""), want: secPeopleRoute(secToSignIn, secOK)},
		"POST /practice/people/:id/name": {target: person(""), form: func(*system, *testing.T) url.Values {
			return url.Values{"full_name": {"Matrix Person"}, "initials": {"MP"}}
		}, want: secPeopleRoute(secNoSession, secChanged)},
		"POST /practice/people/:id/role": {target: person("staff"), form: func(*system, *testing.T) url.Values {
			return url.Values{"staff_role": {"physician"}}
		}, want: secPeopleRoute(secNoSession, secChanged)},
		"POST /practice/people/:id/deactivate":    {target: person(""), want: secPeopleRoute(secNoSession, secChanged)},
		"POST /practice/people/:id/reactivate":    {target: person("deactivated"), want: secPeopleRoute(secNoSession, secChanged)},
		"POST /practice/people/:id/second_factor": {target: person("totp"), want: secPeopleRoute(secNoSession, secChanged)},

		// The practice's settings: its administrators only. The other practice's administrator
		// reaches their own practice's settings, never Maria's (secSettingsCheck).
		"GET /practice/settings": {want: secSettingsRoute(secToSignIn, secOK, secOK)},

		// The audit review: its administrators only, each their own practice's log. Who opened
		// Maria's messages is her practice's administrator's to see, and not found for the other
		// practice's; the export is recorded (the audit row is the change), in the exporter's
		// own practice (secExportCheck).
		"GET /practice/audit": {want: secSettingsRoute(secToSignIn, secOK, secOK)},
		"GET /practice/audit/patients/:id": {target: mariaHerself,
			want: secSettingsRoute(secToSignIn, secOK, secNotFound)},
		"POST /practice/audit/export": {want: secSettingsRoute(secNoSession, secExported, secExported), check: secExportCheck},
		// Invitations and the patient import: administrators, each of their own practice only.
		"GET /practice/invitations": {want: secSettingsRoute(secToSignIn, secOK, secOK)},
		"POST /practice/invitations": {form: inviteForm, check: secInvitationCheck,
			want: secSettingsRoute(secNoSession, secDid("/practice/invitations?done=sent"), secDid("/practice/invitations?done=sent"))},
		"POST /practice/invitations/:id/resend": {target: invited,
			want: secSettingsRoute(secNoSession, secDid("/practice/invitations?done=resent"), secNotFound)},
		"POST /practice/invitations/:id/revoke": {target: invited,
			want: secSettingsRoute(secNoSession, secDid("/practice/invitations?done=revoked"), secNotFound)},
		"GET /practice/import": {want: secSettingsRoute(secToSignIn, secOK, secOK)},
		// Without a file: refused as such, for administrators (the upload itself: TestOnboarding).
		"POST /practice/import":     {want: secSettingsRoute(secNoSession, secInvalid, secInvalid)},
		"GET /practice/import/:id":  {target: uploaded, want: secSettingsRoute(secToSignIn, secOK, secNotFound)},
		"POST /practice/import/:id": {target: uploaded, want: secSettingsRoute(secNoSession, secCell{status: http.StatusSeeOther, changes: true}, secNotFound)},
		// An invitation's link is its own authority, signed in or not: whoever holds it sets the
		// password of the account it makes (and is signed in as it).
		"GET /invitations/:token":  {target: invitationLink, want: secSame(secOK)},
		"POST /invitations/:token": {target: invitationLink, form: passwordForm, want: secSame(secDid("/inbox"))},
	}
	sections := map[string]url.Values{
		"fee":        {"fee_on": {"yes"}, "fee_amount": {"30.00"}, "consent_text": {"I agree to be billed {fee}."}, "fee_applies_to": {"all"}},
		"limits":     {"max_body": {"4000"}, "per_day": {""}, "per_week": {""}},
		"compose":    {"methods": {"message", "phone"}},
		"notice":     {"notice": {"For non-urgent requests only."}, "reply_promise": {""}},
		"hours":      {"time_zone": {"America/Chicago"}, "open_mon": {"yes"}, "opens_mon": {"08:00"}, "closes_mon": {"17:00"}},
		"auto_reply": {"auto_reply_text": {"We are closed."}},
	}
	for section, form := range sections {
		saved := secDid("/practice/settings?saved=" + section + "#settings-" + section)
		m["POST /practice/settings/"+section] = secRouteSpec{
			form:  func(*system, *testing.T) url.Values { return form },
			want:  secSettingsRoute(secNoSession, saved, saved),
			check: secSettingsCheck,
		}
	}
	return m
}

// secPeopleRoute: a person's route on someone of Maria's practice: her administrator gets admin,
// the other practice's administrator a 404 (a person not of theirs is nobody), everyone else
// signed in 403.
func secPeopleRoute(anon, admin secCell) map[secActor]secCell {
	m := secSettingsRoute(anon, admin, secNotFound)
	return m
}

// secSettingsRoute: a settings route; signed in without the right, 403.
func secSettingsRoute(anon, admin, otherAdmin secCell) map[secActor]secCell {
	return map[secActor]secCell{secAnonActor: anon, secOwner: secForbidden, secOtherPat: secForbidden, secStaffActor: secForbidden,
		secOtherStaff: secForbidden, secAdmin: admin, secOtherAdmin: otherAdmin}
}

// secExported is an export: the CSV, and its audit row.
var secExported = secCell{status: http.StatusOK, changes: true}

// secExportCheck: an export is recorded in the exporter's own practice's log.
func secExportCheck(t *testing.T, sys *system, actor secActor) {
	var practice int64
	if err := sys.db().Get(&practice, `SELECT practice_id FROM audit_log WHERE action = 'audit_exported' ORDER BY chain_seq DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	want := sys.user(t, secMaria).PracticeID
	if actor == secOtherAdmin {
		want = sys.user(t, secHillAdmin).PracticeID
	}
	if practice != want {
		t.Errorf("%s exported, recorded in practice %d, want %d", actor, practice, want)
	}
}

// secSettingsCheck: a settings change lands in the administrator's own practice.
func secSettingsCheck(t *testing.T, sys *system, actor secActor) {
	var practice int64
	if err := sys.db().Get(&practice, `SELECT practice_id FROM practice_setting_changes ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	want := sys.user(t, secMaria).PracticeID
	if actor == secOtherAdmin {
		want = sys.user(t, secHillAdmin).PracticeID
	}
	if practice != want {
		t.Errorf("%s changed the settings of practice %d, want %d", actor, practice, want)
	}
}

// secState is what a refused request must leave alone: every row count that a change moves, and
// the audit of changes (reads are audited too, and are not changes, nor is the event a read writes
// for the live pages of the side it opens the message for; nor is a refusal, which the
// store records with its outcome, e.g. a cancel refused as "too_late"). Failed sign-ins are
// counted apart (failures), as some refusals must add one.
func (s *system) state(t *testing.T) string {
	t.Helper()
	var st string
	err := s.db().Get(&st, `SELECT concat_ws(' ',
		'messages', (SELECT count(*) FROM messages), (SELECT coalesce(sum(id), 0) FROM messages),
		'acted_on', (SELECT count(*) FROM messages WHERE acted_on),
		'conversations', (SELECT count(*) FROM conversations),
		'archived', (SELECT count(*) FROM conversations WHERE archived_at IS NOT NULL),
		'activity', (SELECT coalesce(max(last_activity_at)::text, '') FROM conversations),
		'events', (SELECT count(*) FROM events WHERE kind <> 'message_read'),
		'sessions', (SELECT count(*) FROM sessions),
		'totp', (SELECT count(*) FROM users WHERE totp_secret IS NOT NULL OR totp_enabled),
		'preferences', (SELECT coalesce(string_agg(user_id || ':' || kind || '=' || delivery, ',' ORDER BY user_id, kind), '')
		                FROM notification_preferences),
		'settings', (SELECT count(*) FROM practice_setting_changes),
		'settings_rows', (SELECT md5(string_agg(ps::text, '|' ORDER BY ps.practice_id)) FROM practice_settings ps),
		'fees', (SELECT string_agg(message_fee_cents || ':' || coalesce(time_zone, ''), ',' ORDER BY id) FROM practices),
		'people', (SELECT md5(string_agg(concat_ws(':', id, role, full_name, initials, staff_role, administrator, deactivated_at, password_hash), '|' ORDER BY id)) FROM users),
		'account_changes', (SELECT count(*) FROM account_changes),
		'resets', (SELECT count(*) FROM password_resets),
		'invitations', (SELECT coalesce(md5(string_agg(id || state || sends || coalesce(encode(token_hash, 'hex'), ''), ',' ORDER BY id)), '')
		                FROM invitations),
		'uploads', (SELECT count(*) || '/' || count(confirmed_at) FROM patient_imports),
		'users', (SELECT count(*) FROM users),
		'audited', (SELECT count(*) FROM audit_log WHERE action <> 'message_read' AND outcome = 'success'))`)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// failures is the accounts of the failed sign-ins counted, oldest first.
func (s *system) failures(t *testing.T) []string {
	t.Helper()
	var emails []string
	if err := s.db().Select(&emails, `SELECT email FROM signin_failures ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return emails
}

// TestAccessMatrix walks every route × actor × id.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	in := sys.start(t, nil)
	matrix := secMatrix()

	// The route table, from the app itself.
	seen := map[string]bool{}
	var routes []string
	for _, r := range in.App.GetRoutes(true) {
		key := r.Method + " " + r.Path
		if r.Method == http.MethodHead {
			key = "GET " + r.Path // HEAD answers as GET does, without the body
		}
		if _, ok := matrix[key]; !ok {
			t.Errorf("route %s %s has no row in the access matrix: add one", r.Method, r.Path)
			continue
		}
		seen[key] = true
		routes = append(routes, r.Method+" "+r.Path)
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("the access matrix has a row for %s, which is not a route", key)
		}
	}
	sort.Strings(routes)
	if len(routes) < 20 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}

	// One signed-in browser per actor; sign-in and sign-out get a session of their own each time.
	clients := map[secActor]*secClient{
		secAnonActor:  in.anon(),
		secOwner:      in.signIn(t, secMaria),
		secOtherPat:   in.signIn(t, secTom),
		secStaffActor: in.signIn(t, secPhysician),
		secOtherStaff: in.signIn(t, secHillStaff),
		secAdmin:      in.signIn(t, secAdminEmail),
		secOtherAdmin: in.signIn(t, secHillAdmin),
	}
	emails := map[secActor]string{secOwner: secMaria, secOtherPat: secTom, secStaffActor: secPhysician, secOtherStaff: secHillStaff,
		secAdmin: secAdminEmail, secOtherAdmin: secHillAdmin}
	asset := ""
	if n := secParse(t, clients[secOwner].get(t, "/inbox").Body).First(htmltest.Tag("link")); n != nil {
		asset = n.Attr["href"]
	}
	if !strings.HasPrefix(asset, "/static/") {
		t.Fatalf("no stylesheet link to find an asset by: %q", asset)
	}

	cells := 0
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		spec := matrix[strings.Replace(route, "HEAD ", "GET ", 1)]
		for _, actor := range secActors {
			ids := []string{""}
			if spec.target != nil {
				ids = []string{"Maria's", "unknown"}
			}
			for _, which := range ids {
				c := clients[actor]
				if (route == "POST /signout" || route == "POST /signin" || route == "POST /invitations/:token") && actor != secAnonActor {
					// Each ends the session it is sent with: use one of its own.
					c = in.signIn(t, emails[actor])
				}
				want := spec.want[actor]
				path := pattern
				switch {
				case pattern == "/static/+":
					path = asset
				case which == "Maria's" && strings.Contains(pattern, ":token"):
					path = strings.Replace(pattern, ":token", spec.target(t, sys).token, 1)
				case which == "unknown" && strings.Contains(pattern, ":token"):
					// Well formed, and nobody's: not found, signed in or not.
					path = strings.Replace(pattern, ":token", strings.Repeat("A", 43), 1)
					want = secNotFound
				case which == "Maria's":
					tg := spec.target(t, sys)
					id := sys.msg(tg.message)
					switch {
					case strings.HasPrefix(pattern, "/conversations/"):
						id = sys.conv(tg.conversation)
					case strings.HasPrefix(pattern, "/practice/people/"):
						id = sys.ids.User(tg.user)
					case strings.HasPrefix(pattern, "/practice/invitations/"):
						id = sys.ids.Invitation(tg.invitation)
					case strings.HasPrefix(pattern, "/practice/import/"):
						id = tg.upload
					}
					if strings.Contains(pattern, "/patients/") {
						id = sys.ids.User(tg.patient)
					}
					path = strings.Replace(pattern, ":id", id, 1)
				case which == "unknown":
					// A well-formed public id of no row: not found, like another's (to those who
					// may look at all: the people routes refuse anyone else first).
					id := sys.msg(987654321)
					switch {
					case strings.HasPrefix(pattern, "/conversations/"):
						id = sys.conv(987654321)
					case strings.HasPrefix(pattern, "/practice/people/"):
						id = sys.ids.User(987654321)
					}
					if strings.Contains(pattern, "/patients/") {
						id = sys.ids.User(987654321)
					}
					switch {
					case strings.HasPrefix(pattern, "/practice/invitations/"):
						id = sys.ids.Invitation(987654321)
					case strings.HasPrefix(pattern, "/practice/import/"):
						id = "00000000-0000-4000-8000-000000000000"
					}
					path = strings.Replace(pattern, ":id", id, 1)
					// Without the right, the administrators' routes refuse before reading the id.
					if actor != secAnonActor && want.status != http.StatusForbidden {
						want = secNotFound
					}
				}
				var form url.Values
				if method == http.MethodPost {
					form = url.Values{}
					if spec.form != nil {
						form = spec.form(sys, t)
					}
				}
				name := fmt.Sprintf("%s %s as %s", method, path, actor)
				if which != "" {
					name += " (" + which + " id)"
				}
				before := sys.state(t)
				failures := sys.failures(t)
				audited := sys.count(t, `SELECT count(*) FROM audit_log`)
				got := secRequest(t, c, method, path, form)
				cells++
				if method == http.MethodHead && actor == secAnonActor && want == secToSignIn && got.Status == http.StatusUnauthorized {
					// requireUser sends only GET to the sign-in page; a HEAD, like a POST, gets 401.
					want = secNoSession
				}
				if got.Status != want.status || (want.location != "" && got.Header.Get("Location") != want.location) {
					t.Errorf("%s: %s, want %d %s\n%s", name, got, want.status, want.location, excerpt(got.Body))
					continue
				}
				after := sys.state(t)
				wantFailures := failures
				if want.counted {
					wantFailures = append(wantFailures, emails[actor])
				}
				if got := sys.failures(t); strings.Join(got, ",") != strings.Join(wantFailures, ",") {
					t.Errorf("%s: failed sign-ins %v, then %v; want %v", name, failures, got, wantFailures)
				}
				switch {
				case want.changes && method != http.MethodHead && before == after:
					t.Errorf("%s: answered %d but changed nothing", name, got.Status)
				case !want.changes && before != after:
					t.Errorf("%s: answered %d and changed something:\n  before %s\n  after  %s", name, got.Status, before, after)
				case !want.changes && want.status >= 400:
					// Refused: not even a read is recorded as having happened (a refusal may be
					// recorded, as what it was).
					if n := sys.count(t, `SELECT count(*) FROM audit_log`) - audited; n > 0 &&
						sys.count(t, `SELECT count(*) FROM (SELECT outcome FROM audit_log ORDER BY chain_seq DESC LIMIT $1) a
							WHERE outcome = 'success'`, n) != 0 {
						t.Errorf("%s: refused, yet audited as a success", name)
					}
				}
				if want.changes && spec.check != nil && method != http.MethodHead {
					spec.check(t, sys, actor)
				}
			}
		}
	}
	t.Logf("%d routes, %d cells", len(routes), cells)
	// Every stream the matrix opened (and HEAD /events) has let go of the hub.
	deadline := time.Now().Add(secWait)
	for in.Hub.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still registered after their connections closed", in.Hub.Len())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secRequest makes one request of the matrix: a POST with the actor's CSRF token (signed out,
// there is none to send), a stream opened only to read its status.
func secRequest(t *testing.T, c *secClient, method, path string, form url.Values) *secResp {
	t.Helper()
	if method == http.MethodGet && strings.HasPrefix(path, "/events") {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := c.streamStatus(ctx, path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return r
	}
	if method == http.MethodPost && c.cookie != nil {
		form = withToken(form, c.token(t))
	}
	r, err := c.do(method, path, form)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// streamStatus opens a stream and reads only its status and headers.
func (c *secClient) streamStatus(ctx context.Context, path string) (*secResp, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return &secResp{Status: resp.StatusCode, Header: resp.Header, Method: "GET", Path: path}, nil
}

// TestLiveStreamsMatrix: every kind of change to Maria's conversations (her message, a staff
// reply, her follow-up, an archive, a re-open, a cancel), made on instance A, reaches her own
// streams and her practice's staff on both instances, and nobody else's: not the other patient
// of her practice, not a patient or the staff of another practice.
func TestLiveStreamsMatrix(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	a := sys.start(t, nil)
	b := sys.start(t, nil)
	after := sys.newestEvent(t)
	type watcher struct {
		s     *stream
		email string
	}
	open := func(in *instance, email, name string) watcher {
		return watcher{in.signIn(t, email).stream(t, name, after), email}
	}
	allowed := []watcher{
		open(b, secMaria, "Maria on B"),
		open(a, secMaria, "Maria on A"),
		open(b, secPhysician, "Riverside physician on B"),
		open(a, secNurse, "Riverside nurse on A"),
	}
	others := []watcher{
		open(a, secTom, "Tom on A"),
		open(b, secTom, "Tom on B"),
		open(b, secGrace, "Grace (Hillcrest patient) on B"),
		open(a, secHillStaff, "Hillcrest physician on A"),
		open(b, secHillStaff, "Hillcrest physician on B"),
	}

	maria, staff := a.signIn(t, secMaria), a.signIn(t, secPhysician)
	step := func(c *secClient, path string, form url.Values) {
		t.Helper()
		if r := c.post(t, path, form); r.Status != http.StatusSeeOther {
			t.Fatalf("POST %s: %s\n%s", path, r, excerpt(r.Body))
		}
	}
	step(maria, "/messages", secComposeForm("Live matrix", "Only for Maria and Riverside"))
	var conv, first int64
	if err := sys.db().QueryRow(`SELECT conversation_id, id FROM messages ORDER BY id DESC LIMIT 1`).Scan(&conv, &first); err != nil {
		t.Fatal(err)
	}
	step(staff, fmt.Sprintf("/messages/%s/replies", sys.msg(first)), secReplyForm("A reply"))
	step(maria, fmt.Sprintf("/messages/%s/replies", sys.msg(first)), secReplyForm("A follow-up"))
	step(staff, fmt.Sprintf("/conversations/%s/archive", sys.conv(conv)), url.Values{})
	step(maria, fmt.Sprintf("/conversations/%s/reopen", sys.conv(conv)), url.Values{})
	step(maria, "/messages", secComposeForm("Sent by mistake", "Cancel me"))
	var mistake int64
	if err := sys.db().Get(&mistake, `SELECT id FROM messages ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	step(maria, fmt.Sprintf("/messages/%s/cancel", sys.msg(mistake)), url.Values{})

	var kinds []string
	if err := sys.db().Select(&kinds, `SELECT DISTINCT kind FROM events WHERE id > $1 ORDER BY kind`, after); err != nil {
		t.Fatal(err)
	}
	if strings.Join(kinds, ",") != "conversation_archived,conversation_reopened,message_cancelled,message_sent" {
		t.Fatalf("the changes made events of kinds %v; want every kind", kinds)
	}
	mariaIDs := sys.eventIDs(t, sys.viewer(t, secMaria), after)
	if len(mariaIDs) != 7 {
		t.Fatalf("%d events of Maria's, want 7", len(mariaIDs))
	}
	for _, w := range allowed {
		w.s.expectIDs(t, secWait, mariaIDs)
	}
	// The allowed streams on the far instance have heard it all through Redis; give the others
	// the same chance, plus five heartbeats each (a second at the suite's heartbeat), and they must
	// have heard nothing.
	for _, w := range others {
		fs, _ := w.s.snapshot()
		w.s.waitFor(t, "five more heartbeats", secWait, func(now []sseFrame, ended bool) bool { return ended || len(now) >= len(fs)+5 })
	}
	for _, w := range others {
		if ids := w.s.eventIDs(); len(ids) != 0 {
			t.Errorf("%s received events %v of Maria's", w.s.name, ids)
		}
		if fs, ended := w.s.snapshot(); ended {
			t.Errorf("%s ended: %+v", w.s.name, secTail(fs))
		}
	}
}

// TestSendLimitAcrossInstances: a patient's sends are limited however they are spread over
// instances, and however many are sent at once: of 50 posts at once to two instances sharing the
// database, exactly the limit are stored and the rest answer 429, changing nothing. Another
// patient and staff send on.
func TestSendLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	sys := newSecSystem(t)
	limit := store.SendLimits{Messages: 10, Window: 10 * time.Minute}
	a := sys.start(t, func(c *app.Config) { c.SendLimits = limit })
	b := sys.start(t, func(c *app.Config) { c.SendLimits = limit })
	maria := a.signIn(t, secMaria)
	token := maria.token(t)
	mariaID := sys.user(t, secMaria).ID
	before := sys.count(t, `SELECT count(*) FROM messages WHERE author_id = $1`, mariaID)
	events := sys.newestEvent(t)

	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		c := maria.fresh()
		if i%2 == 1 {
			c = c.on(b)
		}
		wg.Go(func() {
			<-gate
			r, err := c.do("POST", "/messages", withToken(secComposeForm(fmt.Sprintf("Burst %d", i), "Burst"), token))
			if err == nil {
				statuses[i] = r.Status
			}
		})
	}
	close(gate)
	wg.Wait()
	sent, limited := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusSeeOther:
			sent++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	if sent != limit.Messages || limited != n-limit.Messages {
		t.Errorf("%d sent and %d limited (statuses %v), want %d and %d", sent, limited, statuses, limit.Messages, n-limit.Messages)
	}
	if got := sys.count(t, `SELECT count(*) FROM messages WHERE author_id = $1`, mariaID); got != before+limit.Messages {
		t.Errorf("%d messages stored, want %d", got-before, limit.Messages)
	}
	if got := sys.count(t, `SELECT count(*) FROM events WHERE id > $1`, events); got != limit.Messages {
		t.Errorf("%d events written, want one per message stored (%d)", got, limit.Messages)
	}
	// Tom on B and the physician on A are not held up by Maria.
	if r := b.signIn(t, secTom).post(t, "/messages", secComposeForm("Tom's own", "Not limited by Maria")); r.Status != http.StatusSeeOther {
		t.Errorf("Tom's send: %s", r)
	}
	physician := a.signIn(t, secPhysician)
	for i := range limit.Messages + 1 {
		form := secComposeForm(fmt.Sprintf("From the physician %d", i), "Staff are not limited")
		form.Set("patient", sys.ids.User(mariaID))
		if r := physician.post(t, "/messages", form); r.Status != http.StatusSeeOther {
			t.Fatalf("the physician's send %d: %s\n%s", i, r, excerpt(r.Body))
		}
	}
}

// secInvitationCheck: an invitation is made at the administrator's own practice.
func secInvitationCheck(t *testing.T, sys *system, actor secActor) {
	var practice int64
	if err := sys.db().Get(&practice, `SELECT practice_id FROM invitations ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	want := sys.user(t, secMaria).PracticeID
	if actor == secOtherAdmin {
		want = sys.user(t, secHillAdmin).PracticeID
	}
	if practice != want {
		t.Errorf("%s invited to practice %d, want %d", actor, practice, want)
	}
}
