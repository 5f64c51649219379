package store_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"securemessages/store"
)

// validationFields returns the field keys of a *store.ValidationError, failing if err is not one.
func validationFields(t *testing.T, err error) map[string]string {
	t.Helper()
	var v *store.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v (%T), want a *store.ValidationError", err, err)
	}
	return v.Fields
}

func assertFields(t *testing.T, err error, want ...string) map[string]string {
	t.Helper()
	fields := validationFields(t, err)
	got := slices.Sorted(maps.Keys(fields))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v (%v)", got, want, fields)
	}
	for k, problem := range fields {
		if problem == "" {
			t.Errorf("field %s has no message", k)
		}
	}
	return fields
}

func TestStartConversationValidation(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	good := func(edit func(n *store.NewConversation)) store.NewConversation {
		n := store.NewConversation{Subject: "Question", Body: "A question.", ResponseMethod: "message",
			BillingConsent: true, SubmitKey: uuid.NewString()}
		edit(&n)
		return n
	}
	cases := []struct {
		name       string
		n          store.NewConversation
		wantFields []string
		wantText   map[string]string // field -> part of its message
	}{
		{"empty subject", good(func(n *store.NewConversation) { n.Subject = "" }), []string{"subject"},
			map[string]string{"subject": "Subject is required"}},
		{"blank subject", good(func(n *store.NewConversation) { n.Subject = " \t\n " }), []string{"subject"}, nil},
		{"subject one too long", good(func(n *store.NewConversation) { n.Subject = strings.Repeat("s", 151) }), []string{"subject"},
			map[string]string{"subject": "Subject must be at most 150 characters (it is 151)."}},
		{"subject too long in characters", good(func(n *store.NewConversation) { n.Subject = strings.Repeat("é", 151) }), []string{"subject"},
			map[string]string{"subject": "at most 150 characters (it is 151)"}},
		{"subject not UTF-8", good(func(n *store.NewConversation) { n.Subject = "bad \xff byte" }), []string{"subject"},
			map[string]string{"subject": "cannot be read"}},
		{"empty body", good(func(n *store.NewConversation) { n.Body = "" }), []string{"body"},
			map[string]string{"body": "Complaints / Questions / Symptoms is required."}},
		{"body one too long", good(func(n *store.NewConversation) { n.Body = strings.Repeat("b", 4001) }), []string{"body"},
			map[string]string{"body": "Complaints / Questions / Symptoms must be at most 4000 characters (it is 4001)."}},
		{"invalid response method", good(func(n *store.NewConversation) { n.ResponseMethod = "fax" }), []string{"method"},
			map[string]string{"method": "Choose a response method"}},
		{"response method label instead of code", good(func(n *store.NewConversation) { n.ResponseMethod = "Phone call" }), []string{"method"}, nil},
		{"no submit key", good(func(n *store.NewConversation) { n.SubmitKey = "" }), []string{"form"},
			map[string]string{"form": "expired"}},
		{"bad submit key", good(func(n *store.NewConversation) { n.SubmitKey = "not-a-uuid" }), []string{"form"}, nil},
		{"everything wrong", store.NewConversation{Subject: "", Body: strings.Repeat("b", 5000), ResponseMethod: "pigeon", BillingConsent: true},
			[]string{"subject", "body", "method", "form"}, nil},
	}
	// Staff read the text as their own form names it, "Message".
	staffText := map[string]map[string]string{
		"empty body":        {"body": "Message is required."},
		"body one too long": {"body": "Message must be at most 4000 characters (it is 4001)."},
	}
	before := dbState(t, f.s)
	for _, tc := range cases {
		for _, v := range []store.Viewer{f.maria, f.grace, f.nurse} {
			n := tc.n
			if v.Role == store.RoleStaff {
				n.PatientID = f.maria.UserID
			}
			sent, err := f.s.StartConversation(t.Context(), v, origin, n)
			if sent != (store.Sent{}) {
				t.Errorf("%s: sent %+v with an error", tc.name, sent)
			}
			fields := assertFields(t, err, tc.wantFields...)
			want := tc.wantText
			if words, ok := staffText[tc.name]; ok && v.Role == store.RoleStaff {
				want = words
			}
			for field, part := range want {
				if !strings.Contains(fields[field], part) {
					t.Errorf("%s: %s says %q, want it to contain %q", tc.name, field, fields[field], part)
				}
			}
			if !strings.Contains(err.Error(), tc.wantFields[0]) {
				t.Errorf("%s: error text %q does not name the field", tc.name, err)
			}
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// At the limits exactly, in characters (not bytes), and with spaces around that do not count.
	for _, n := range []store.NewConversation{
		{Subject: strings.Repeat("é", 150), Body: strings.Repeat("ü", 4000)},
		{Subject: "  " + strings.Repeat("s", 150) + "\n", Body: "\n" + strings.Repeat("b", 4000) + "  "},
	} {
		sent := start(t, f.s, f.grace, n)
		m, err := f.s.MessageDetails(t.Context(), f.grace, origin, sent.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != strings.TrimSpace(n.Subject) || m.Details.Body != strings.TrimSpace(n.Body) {
			t.Errorf("stored subject/body not the trimmed text sent (%d/%d characters)", len(m.Subject), len(m.Details.Body))
		}
	}
}

// TestStartConversationStaffMember: the requested staff member must be one of the practice's
// staff who answer messages.
func TestStartConversationStaffMember(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	silent, err := f.s.CreateUser(ctx, store.User{PracticeID: f.riverside.ID, Role: store.RoleStaff, Email: "billing@riverside.example",
		PasswordHash: "x", FullName: "Billing Office", Initials: "BO", AnswersMessages: false})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		staffID int64
		consent bool
		want    []string
	}{
		{"unknown id", 1 << 40, true, []string{"staff"}},
		{"negative id", -5, true, []string{"staff"}},
		{"staff of another practice", f.hNurse.UserID, true, []string{"staff"}},
		{"a patient", f.tom.UserID, true, []string{"staff"}},
		{"themself", f.maria.UserID, true, []string{"staff"}},
		{"staff who do not answer messages", silent.ID, true, []string{"staff"}},
		{"unknown staff and no consent", 1 << 40, false, []string{"staff", "consent"}},
	}
	before := dbState(t, f.s)
	for _, tc := range cases {
		_, err := f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "S", Body: "B",
			RequestedStaffID: tc.staffID, BillingConsent: tc.consent, SubmitKey: uuid.NewString()})
		t.Run(tc.name, func(t *testing.T) {
			fields := assertFields(t, err, tc.want...)
			if fields["staff"] != "Choose a staff member from the list." {
				t.Errorf("staff message %q", fields["staff"])
			}
		})
	}
	assertUnchanged(t, before, dbState(t, f.s))

	// A staff member who answers messages is recorded as requested, and named in the details.
	sent := start(t, f.s, f.maria, store.NewConversation{Subject: "For the nurse", RequestedStaffID: f.nurse.UserID})
	m, err := f.s.MessageDetails(ctx, f.physician, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Details.RequestedStaffName != "Jordan Patel, RN" {
		t.Errorf("requested staff %q", m.Details.RequestedStaffName)
	}
	if n := count(t, f.s, `SELECT count(*) FROM messages WHERE id = $1 AND requested_staff_id = $2`, sent.MessageID, f.nurse.UserID); n != 1 {
		t.Error("requested_staff_id not stored")
	}
}

// TestBillingConsent: where the practice charges, a patient's message needs consent to the fee,
// and the consent and fee are sealed into its instructions.
func TestBillingConsent(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()

	before := dbState(t, f.s)
	_, err := f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "S", Body: "B", SubmitKey: uuid.NewString()})
	fields := assertFields(t, err, "consent")
	for _, part := range []string{"Riverside Family Medicine", "$25.00"} {
		if !strings.Contains(fields["consent"], part) {
			t.Errorf("consent message %q does not mention %q", fields["consent"], part)
		}
	}
	// Every problem of the form is reported at once, consent with the rest.
	_, err = f.s.StartConversation(ctx, f.maria, origin, store.NewConversation{Subject: "", Body: "B", SubmitKey: uuid.NewString()})
	assertFields(t, err, "subject", "consent")
	// A patient's reply needs it too.
	staffMsg := conversationBySubject(t, f.s, f.maria, "Your annual check-up is due").Messages[0].ID
	_, err = f.s.SendReply(ctx, f.maria, origin, store.NewReply{ParentID: staffMsg, Body: "Tuesday?", SubmitKey: uuid.NewString()})
	assertFields(t, err, "consent")
	assertUnchanged(t, before, dbState(t, f.s))

	cases := []struct {
		name    string
		v       store.Viewer
		patient int64
		consent bool
		want    store.Instructions
	}{
		{"charging practice, patient consents", f.maria, 0, true,
			store.Instructions{ResponseMethod: "visit", BillingConsent: true, FeeCents: 2500}},
		{"charging practice, staff need no consent", f.nurse, f.maria.UserID, false,
			store.Instructions{ResponseMethod: "visit"}},
		{"free practice, no consent needed", f.grace, 0, false,
			store.Instructions{ResponseMethod: "visit"}},
		{"free practice, consent ticked anyway is not a charge", f.grace, 0, true,
			store.Instructions{ResponseMethod: "visit"}},
	}
	for _, tc := range cases {
		sent, err := f.s.StartConversation(ctx, tc.v, origin, store.NewConversation{PatientID: tc.patient,
			Subject: tc.name, Body: "B", ResponseMethod: "visit", BillingConsent: tc.consent, SubmitKey: uuid.NewString()})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		m, err := f.s.MessageDetails(ctx, tc.v, origin, sent.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Details.Instructions != tc.want {
			t.Errorf("%s: instructions %+v, want %+v", tc.name, m.Details.Instructions, tc.want)
		}
	}

	// A consented reply records the fee as well.
	sent, err := f.s.SendReply(ctx, f.maria, origin, store.NewReply{ParentID: staffMsg, Body: "Tuesday?",
		BillingConsent: true, SubmitKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.s.MessageDetails(ctx, f.nurse, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Instructions{BillingConsent: true, FeeCents: 2500}); m.Details.Instructions != want {
		t.Errorf("reply instructions %+v, want %+v", m.Details.Instructions, want)
	}
}

func TestFormatFee(t *testing.T) {
	t.Parallel()
	for cents, want := range map[int]string{0: "$0.00", 5: "$0.05", 250: "$2.50", 2500: "$25.00", 123456: "$1234.56"} {
		if got := store.FormatFee(cents); got != want {
			t.Errorf("FormatFee(%d) = %q, want %q", cents, got, want)
		}
	}
}

// TestNoResponseNeeded: the thread is archived as it is sent.
func TestNoResponseNeeded(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	sent := start(t, f.s, f.grace, store.NewConversation{Subject: "Just letting you know", NoResponseNeeded: true})
	c, err := f.s.Conversation(ctx, f.grace, sent.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Archived() || !c.Messages[0].ThreadArchived {
		t.Error("conversation is not archived")
	}
	open := inboxOf(t, f.s, f.grace, store.InboxFilter{})
	if slices.Contains(conversationIDs(open), sent.ConversationID) {
		t.Error("listed among open conversations")
	}
	if e := lastEvent(t, f.s); e.Kind != store.EventMessageSent || e.MessageID != sent.MessageID {
		t.Errorf("event %+v", e)
	}
	m, err := f.s.MessageDetails(ctx, f.hNurse, origin, sent.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Details.Instructions.NoResponseNeeded {
		t.Error("instructions do not say no response needed")
	}
}

// TestSendWritesOneEventAndAuditRow: each successful send writes its message, exactly one events
// row and exactly one audit row, all in one transaction (the rows share their xmin).
func TestSendWritesOneEventAndAuditRow(t *testing.T) {
	t.Parallel()
	f := newDemo(t)

	check := func(t *testing.T, sent store.Sent, v store.Viewer, action string, patientID int64, sameTx ...string) {
		t.Helper()
		e := lastEvent(t, f.s)
		want := store.Event{ID: e.ID, Kind: store.EventMessageSent, PracticeID: v.PracticeID, PatientID: patientID,
			ConversationID: sent.ConversationID, MessageID: sent.MessageID}
		if sent.Event != want || (store.Event{ID: e.ID, Kind: e.Kind, PracticeID: e.PracticeID, PatientID: e.PatientID,
			ConversationID: e.ConversationID, MessageID: e.MessageID}) != want {
			t.Errorf("event returned %+v, stored %+v, want %+v", sent.Event, e, want)
		}
		a := lastAudit(t, f.s)
		if a.ActorID != v.UserID || a.Action != action || a.ObjectType != "message" || a.ObjectID != sent.MessageID ||
			a.Outcome != "success" || a.RequestID != origin.RequestID || a.ClientIP != origin.ClientIP {
			t.Errorf("audit %+v, want %s of message %d by %d", a, action, sent.MessageID, v.UserID)
		}
		tx := xmin(t, f.s, "messages", sent.MessageID)
		if e.Xmin != tx || a.Xmin != tx {
			t.Errorf("message written by transaction %s, event by %s, audit by %s", tx, e.Xmin, a.Xmin)
		}
		for _, x := range sameTx {
			if x != tx {
				t.Errorf("a row changed with the message was written by transaction %s, not %s", x, tx)
			}
		}
	}
	delta := func(t *testing.T, before counts) {
		t.Helper()
		if after := rowCounts(t, f.s); after.events != before.events+1 || after.audit != before.audit+1 {
			t.Errorf("wrote %d events and %d audit rows, want 1 and 1", after.events-before.events, after.audit-before.audit)
		}
	}

	t.Run("patient starts", func(t *testing.T) {
		before := rowCounts(t, f.s)
		sent := start(t, f.s, f.maria, store.NewConversation{Subject: "Knee pain"})
		delta(t, before)
		check(t, sent, f.maria, "conversation_started", f.maria.UserID, xmin(t, f.s, "conversations", sent.ConversationID))
		if sent.Duplicate {
			t.Error("first send marked duplicate")
		}
	})
	t.Run("staff start", func(t *testing.T) {
		before := rowCounts(t, f.s)
		sent := start(t, f.s, f.desk, store.NewConversation{Subject: "Flu shots", PatientID: f.tom.UserID})
		delta(t, before)
		check(t, sent, f.desk, "conversation_started", f.tom.UserID, xmin(t, f.s, "conversations", sent.ConversationID))
	})
	first := start(t, f.s, f.maria, store.NewConversation{Subject: "Dizzy spells"})
	var staffReply store.Sent
	t.Run("staff reply", func(t *testing.T) {
		before := rowCounts(t, f.s)
		staffReply = reply(t, f.s, f.nurse, first.MessageID, "How long do they last?")
		delta(t, before)
		check(t, staffReply, f.nurse, "reply_sent", f.maria.UserID,
			xmin(t, f.s, "messages", first.MessageID), xmin(t, f.s, "conversations", first.ConversationID))
	})
	t.Run("staff follow-up of a colleague", func(t *testing.T) {
		before := rowCounts(t, f.s)
		sent := reply(t, f.s, f.physician, staffReply.MessageID, "And do you feel faint?")
		delta(t, before)
		check(t, sent, f.physician, "follow_up_sent", f.maria.UserID, xmin(t, f.s, "messages", staffReply.MessageID))
	})
	t.Run("patient reply", func(t *testing.T) {
		before := rowCounts(t, f.s)
		sent := reply(t, f.s, f.maria, staffReply.MessageID, "A minute or so.")
		delta(t, before)
		check(t, sent, f.maria, "reply_sent", f.maria.UserID, xmin(t, f.s, "messages", staffReply.MessageID))
	})
	t.Run("patient follow-up", func(t *testing.T) {
		before := rowCounts(t, f.s)
		sent := reply(t, f.s, f.maria, first.MessageID, "It happened again today.")
		delta(t, before)
		check(t, sent, f.maria, "follow_up_sent", f.maria.UserID, xmin(t, f.s, "messages", first.MessageID))
	})
}

// TestFollowUpAndReply: which of the two a new message is depends on whose side its parent is on;
// in an archived thread neither applies, and nothing is written.
func TestFollowUpAndReply(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	open := start(t, f.s, f.maria, store.NewConversation{Subject: "Open thread"})
	openStaff := reply(t, f.s, f.nurse, open.MessageID, "Noted.")
	closed := start(t, f.s, f.maria, store.NewConversation{Subject: "Closed thread"})
	closedStaff := reply(t, f.s, f.nurse, closed.MessageID, "Noted.")
	if _, err := f.s.Archive(ctx, f.nurse, origin, closed.ConversationID); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		v      store.Viewer
		parent int64
		want   error
	}{
		{"patient replies to staff", f.maria, openStaff.MessageID, nil},
		{"patient follows up own message", f.maria, open.MessageID, nil},
		{"staff reply to patient", f.physician, open.MessageID, nil},
		{"staff follow up own message", f.nurse, openStaff.MessageID, nil},
		{"staff follow up colleague's message", f.desk, openStaff.MessageID, nil},
		{"patient replies in archived thread", f.maria, closedStaff.MessageID, store.ErrNoLongerApplies},
		{"patient follows up in archived thread", f.maria, closed.MessageID, store.ErrNoLongerApplies},
		{"staff reply in archived thread", f.physician, closed.MessageID, store.ErrNoLongerApplies},
		{"staff follow-up in archived thread", f.nurse, closedStaff.MessageID, store.ErrNoLongerApplies},
	}
	for _, tc := range cases {
		before := dbState(t, f.s)
		sent, err := f.s.SendReply(ctx, tc.v, origin, store.NewReply{ParentID: tc.parent, Body: tc.name,
			BillingConsent: true, SubmitKey: uuid.NewString()})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if tc.want != nil {
			assertUnchanged(t, before, dbState(t, f.s))
			continue
		}
		c, err := f.s.Conversation(ctx, tc.v, sent.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		m := findMessage(c, sent.MessageID)
		if m == nil || m.ParentID != tc.parent || m.AuthorID != tc.v.UserID || m.AuthorRole != tc.v.Role {
			t.Errorf("%s: message %+v, want under %d by %d", tc.name, m, tc.parent, tc.v.UserID)
		}
		if parent := findMessage(c, tc.parent); parent == nil || !slices.ContainsFunc(parent.Replies,
			func(r *store.Message) bool { return r.ID == sent.MessageID }) {
			t.Errorf("%s: not nested under its parent", tc.name)
		}
	}
}

func TestSendReplyValidation(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	parent := conversationBySubject(t, f.s, f.david, "Trouble sleeping").Messages[0].ID
	cases := []struct {
		name string
		n    store.NewReply
		want []string
		text string
	}{
		{"empty body", store.NewReply{ParentID: parent, SubmitKey: uuid.NewString()}, []string{"body"}, "Message is required."},
		{"blank body", store.NewReply{ParentID: parent, Body: "\n\n", SubmitKey: uuid.NewString()}, []string{"body"}, ""},
		{"body too long", store.NewReply{ParentID: parent, Body: strings.Repeat("x", 4001), SubmitKey: uuid.NewString()},
			[]string{"body"}, "Message must be at most 4000 characters (it is 4001)."},
		{"no submit key", store.NewReply{ParentID: parent, Body: "hi"}, []string{"form"}, ""},
		{"both", store.NewReply{ParentID: parent, SubmitKey: "x"}, []string{"body", "form"}, ""},
		{"own subject too long", store.NewReply{ParentID: parent, Subject: strings.Repeat("s", 151), Body: "hi",
			SubmitKey: uuid.NewString()}, []string{"subject"}, "Subject must be at most 150 characters (it is 151)."},
	}
	before := dbState(t, f.s)
	for _, tc := range cases {
		_, err := f.s.SendReply(t.Context(), f.david, origin, tc.n)
		fields := assertFields(t, err, tc.want...)
		if tc.text != "" && fields[tc.want[0]] != tc.text {
			t.Errorf("%s: %q, want %q", tc.name, fields[tc.want[0]], tc.text)
		}
	}
	assertUnchanged(t, before, dbState(t, f.s))
}

// TestReplySubject: a reply carries "Re: " and the subject it answers, marked once however deep.
func TestReplySubject(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	long := strings.Repeat("é", 150)
	cases := []struct {
		subject string
		want    string
	}{
		{"Headache", "Re: Headache"},
		{"Re: my appointment", "Re: my appointment"},
		{"Reply needed", "Re: Reply needed"},
		{long, "Re: " + strings.Repeat("é", 146)},
	}
	for _, tc := range cases {
		first := start(t, f.s, f.grace, store.NewConversation{Subject: tc.subject})
		r1 := reply(t, f.s, f.hNurse, first.MessageID, "one")
		r2 := reply(t, f.s, f.grace, r1.MessageID, "two")
		r3 := reply(t, f.s, f.hPhysician, r2.MessageID, "three")
		c, err := f.s.Conversation(ctx, f.grace, first.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{r1.MessageID, r2.MessageID, r3.MessageID} {
			m := findMessage(c, id)
			if m.Subject != tc.want {
				t.Errorf("reply %d to %q: subject %q, want %q", id, tc.subject, m.Subject, tc.want)
			}
			if n := len([]rune(m.Subject)); n > store.MaxSubjectLen {
				t.Errorf("reply subject is %d characters", n)
			}
		}
	}
}

// TestReplyOwnSubject: a follow-up or reply may have a subject of its own, kept as typed, which
// the replies under it answer as "Re: …"; one left empty (or blank) carries its parent's.
func TestReplyOwnSubject(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	first := start(t, f.s, f.grace, store.NewConversation{Subject: "Headache"})
	send := func(v store.Viewer, parent int64, subject string) int64 {
		t.Helper()
		sent, err := f.s.SendReply(ctx, v, origin, store.NewReply{ParentID: parent, Subject: subject, Body: "text",
			SubmitKey: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		return sent.MessageID
	}
	own := strings.Repeat("ü", store.MaxSubjectLen) // as long as a subject may be, in characters
	r1 := send(f.hNurse, first.MessageID, "Your blood test is booked")
	r2 := send(f.grace, r1, "")
	r3 := send(f.grace, r2, "  \n")
	r4 := send(f.hPhysician, r3, own)
	r5 := send(f.grace, r4, "")
	c, err := f.s.Conversation(ctx, f.grace, first.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]string{
		r1: "Your blood test is booked", r2: "Re: Your blood test is booked", r3: "Re: Your blood test is booked",
		r4: own, r5: "Re: " + strings.Repeat("ü", store.MaxSubjectLen-4),
	} {
		if m := findMessage(c, id); m == nil || m.Subject != want {
			t.Errorf("message %d: %+v, want subject %q", id, m, want)
		}
	}
}

// TestReplyMarksParentAndBumpsConversation: a reply sets acted_on on the message it answers (so
// that message can no longer be cancelled) and moves the conversation to the top of the inbox.
func TestReplyMarksParentAndBumpsConversation(t *testing.T) {
	t.Parallel()
	f := newDemo(t)
	ctx := t.Context()
	older := start(t, f.s, f.tom, store.NewConversation{Subject: "Older"})
	newer := start(t, f.s, f.tom, store.NewConversation{Subject: "Newer"})
	for _, v := range []store.Viewer{f.tom, f.physician} {
		list := inboxOf(t, f.s, v, store.InboxFilter{})
		if list[0].ID != newer.ConversationID {
			t.Fatalf("user %d: before the reply, %d is first, want %d", v.UserID, list[0].ID, newer.ConversationID)
		}
	}
	c, err := f.s.Conversation(ctx, f.tom, older.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	activityBefore := c.LastActivityAt
	if c.Messages[0].ActedOn {
		t.Fatal("new message already acted on")
	}

	sent := reply(t, f.s, f.physician, older.MessageID, "Answered")
	for _, v := range []store.Viewer{f.tom, f.physician} {
		list := inboxOf(t, f.s, v, store.InboxFilter{})
		if list[0].ID != older.ConversationID {
			t.Errorf("user %d: after the reply, %d is first, want %d", v.UserID, list[0].ID, older.ConversationID)
		}
		first := list[0]
		if !first.Messages[0].ActedOn || !first.LastActivityAt.After(activityBefore) {
			t.Errorf("parent acted on %v, activity %v -> %v", first.Messages[0].ActedOn, activityBefore, first.LastActivityAt)
		}
		if r := findMessage(first, sent.MessageID); r == nil || r.ActedOn {
			t.Errorf("reply %+v", r)
		}
	}
	if _, err := f.s.Cancel(ctx, f.tom, origin, older.MessageID); !errors.Is(err, store.ErrNoLongerApplies) {
		t.Errorf("cancel after a reply: %v", err)
	}
}

func TestResponseMethodLabel(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{"message": "Secure message", "phone": "Phone call", "visit": "Schedule a visit", "": "", "fax": ""} {
		if got := (store.Instructions{ResponseMethod: code}).ResponseMethodLabel(); got != want {
			t.Errorf("label of %q = %q, want %q", code, got, want)
		}
	}
	if len(store.ResponseMethods) != 3 || store.ResponseMethods[0].Code != "message" {
		t.Errorf("compose form choices %v", store.ResponseMethods)
	}
}
