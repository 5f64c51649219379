package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// DemoPassword is every demo account's password. The demo is for trying the product locally;
// production never loads it.
const DemoPassword = "demo-password"

// DemoSignIn is one demo account, as printed for a newcomer.
type DemoSignIn struct {
	Practice string
	Role     Role
	Name     string
	Email    string
}

// LoadDemo fills an empty database with two practices, their staff and patients, and
// conversations that show every case of the inbox. It does nothing if any practice exists, so
// running it again keeps what is there. Everything goes through the store's own methods, as the
// app would write it. Both practices show their dates in the IANA time zone timeZone, or, where it is "", in the
// configured default.
func (s *Store) LoadDemo(ctx context.Context, timeZone string) ([]DemoSignIn, error) {
	var exists bool
	if err := s.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM practices)`); err != nil {
		return nil, fmt.Errorf("store: demo: %w", err)
	}
	if !exists {
		if err := s.loadDemo(ctx, timeZone); err != nil {
			return nil, fmt.Errorf("store: demo: %w", err)
		}
	}
	return s.DemoSignIns(ctx)
}

// DemoSignIns lists every account, for the local sign-in page and make run's greeting.
func (s *Store) DemoSignIns(ctx context.Context) ([]DemoSignIn, error) {
	var signIns []DemoSignIn
	err := s.db.SelectContext(ctx, &signIns, `
		SELECT p.name AS practice, u.role, u.full_name AS name, u.email
		FROM users u JOIN practices p ON p.id = u.practice_id
		WHERE NOT u.automatic
		ORDER BY p.id, u.role, u.id`)
	if err != nil {
		return nil, fmt.Errorf("store: demo sign-ins: %w", err)
	}
	return signIns, nil
}

type demoPractice struct {
	practice Practice
	staff    []User // physician, nurse, front desk
	patients []User
}

func (s *Store) loadDemo(ctx context.Context, timeZone string) error {
	hash, err := HashPassword(ctx, DemoPassword)
	if err != nil {
		return err
	}
	riverside, err := s.demoPractice(ctx, hash, "Riverside Family Medicine", 2500, timeZone, "riverside",
		[][3]string{{"Dr. Amelia Chen", "AC", "Physician"}, {"Jordan Patel, RN", "JP", "Nurse"}, {"Sam Rivera", "SR", "Front desk"}},
		[][2]string{{"Maria Lopez", "ML"}, {"Tom Becker", "TB"}})
	if err != nil {
		return err
	}
	hillcrest, err := s.demoPractice(ctx, hash, "Hillcrest Pediatrics", 0, timeZone, "hillcrest",
		[][3]string{{"Dr. Owen Brooks", "OB", "Physician"}, {"Priya Nair, RN", "PN", "Nurse"}, {"Lena Fischer", "LF", "Front desk"}},
		[][2]string{{"Grace Kim", "GK"}, {"David Osei", "DO"}})
	if err != nil {
		return err
	}
	for _, p := range []demoPractice{riverside, hillcrest} {
		if err := s.demoConversations(ctx, p); err != nil {
			return err
		}
	}
	// Spread the history over the past weeks, oldest first, so dates read like a real inbox.
	_, err = s.db.ExecContext(ctx, `
		UPDATE messages m SET created_at = now() - (last.id - m.id) * interval '19 hours' - interval '2 hours'
		FROM (SELECT max(id) AS id FROM messages) last;
		UPDATE conversations c SET last_activity_at = m.latest,
		       archived_at = CASE WHEN c.archived_at IS NOT NULL THEN m.latest + interval '1 hour' END
		FROM (SELECT conversation_id, max(created_at) AS latest FROM messages GROUP BY conversation_id) m
		WHERE m.conversation_id = c.id`)
	if err != nil {
		return err
	}
	// The history above is made up: nobody is e-mailed about it (its jobs find nothing to do).
	// What people do in the demo afterwards is e-mailed as anywhere else.
	_, err = s.db.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $1 WHERE state = 'pending'`, ReasonDemo)
	return err
}

func (s *Store) demoPractice(ctx context.Context, hash, name string, fee int, timeZone, domain string,
	staff [][3]string, patients [][2]string) (demoPractice, error) {
	var d demoPractice
	var err error
	if d.practice, err = s.CreatePractice(ctx, name, fee, timeZone); err != nil {
		return d, err
	}
	for _, st := range staff {
		u, err := s.CreateUser(ctx, User{PracticeID: d.practice.ID, Role: RoleStaff, PasswordHash: hash,
			Email: demoEmail(st[2], domain), FullName: st[0], Initials: st[1], Title: st[2], AnswersMessages: true,
			StaffRole: demoRoles[st[2]]})
		if err != nil {
			return d, err
		}
		d.staff = append(d.staff, u)
	}
	// The practice's administrator, who sets it up (the settings page) and answers no messages.
	if _, err := s.CreateUser(ctx, User{PracticeID: d.practice.ID, Role: RoleStaff, PasswordHash: hash,
		Email: "admin@" + domain + ".example", FullName: "Alex Morgan", Initials: "AM", Title: "Administrator",
		Administrator: true}); err != nil {
		return d, err
	}
	for _, p := range patients {
		u, err := s.CreateUser(ctx, User{PracticeID: d.practice.ID, Role: RolePatient, PasswordHash: hash,
			Email: demoEmail(p[0], domain), FullName: p[0], Initials: p[1]})
		if err != nil {
			return d, err
		}
		d.patients = append(d.patients, u)
	}
	return d, nil
}

var demoRoles = map[string]StaffRole{"Physician": StaffPhysician, "Nurse": StaffNurse, "Front desk": StaffFrontDesk}

func demoEmail(name, domain string) string {
	local := []rune{}
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			local = append(local, r+'a'-'A')
		case r >= 'a' && r <= 'z':
			local = append(local, r)
		case r == ' ' && len(local) > 0 && local[len(local)-1] != '.':
			local = append(local, '.')
		}
	}
	return string(local) + "@" + domain + ".example"
}

// demoConversations writes, for each practice: a thread several levels deep, an archived one with
// special instructions, a message that can still be cancelled, and one the practice started.
func (s *Store) demoConversations(ctx context.Context, d demoPractice) error {
	o := Origin{RequestID: "demo"}
	physician, nurse, desk := d.staff[0].Viewer(), d.staff[1].Viewer(), d.staff[2].Viewer()
	first, second := d.patients[0].Viewer(), d.patients[1].Viewer()
	consent := d.practice.Charges()
	start := func(v Viewer, n NewConversation) (Sent, error) {
		n.SubmitKey, n.BillingConsent = uuid.NewString(), consent
		return s.StartConversation(ctx, v, o, n)
	}
	reply := func(v Viewer, parent int64, body string) (Sent, error) {
		return s.SendReply(ctx, v, o, NewReply{ParentID: parent, Body: body, BillingConsent: consent, SubmitKey: uuid.NewString()})
	}

	// Archived, with special instructions.
	rash, err := start(first, NewConversation{Subject: "Rash on my forearm",
		Body:             "A red, itchy rash appeared on my left forearm three days ago. No fever. Should I come in?",
		RequestedStaffID: d.staff[1].ID, ResponseMethod: "phone"})
	if err != nil {
		return err
	}
	if _, err := reply(nurse, rash.MessageID, "Thanks for the photo description. Try a fragrance-free moisturiser and hydrocortisone 1% twice a day; call us if it spreads."); err != nil {
		return err
	}
	if _, err := s.Archive(ctx, first, o, rash.ConversationID); err != nil {
		return err
	}

	// Several levels deep: patient, physician, patient, nurse, and the nurse's own follow-up.
	refill, err := start(first, NewConversation{Subject: "Refill for my blood pressure medication",
		Body:             "I have five days of lisinopril 10 mg left. Could you send a refill to the pharmacy on Main Street?",
		RequestedStaffID: d.staff[0].ID, ResponseMethod: "message"})
	if err != nil {
		return err
	}
	r1, err := reply(physician, refill.MessageID, "Of course. Before I renew it: have your home readings stayed under 130/80?")
	if err != nil {
		return err
	}
	r2, err := reply(first, r1.MessageID, "Mostly 125/78 in the mornings, a little higher in the evenings.")
	if err != nil {
		return err
	}
	r3, err := reply(nurse, r2.MessageID, "Thank you. Dr. Chen has sent a 90-day refill to Main Street Pharmacy.")
	if err != nil {
		return err
	}
	if _, err := reply(nurse, r3.MessageID, "The pharmacy confirmed it will be ready after 3 pm today."); err != nil {
		return err
	}

	// Started by the practice; the patient can reply.
	if _, err := start(desk, NewConversation{PatientID: first.UserID, Subject: "Your annual check-up is due",
		Body: "It has been a year since your last physical. Reply here and we will find a time that suits you."}); err != nil {
		return err
	}

	// The second patient's thread, answered.
	sleep, err := start(second, NewConversation{Subject: "Trouble sleeping",
		Body: "I wake up at 3 am most nights and cannot get back to sleep. Is there anything I can try?"})
	if err != nil {
		return err
	}
	if _, err := reply(physician, sleep.MessageID, "Let us start with a sleep diary for two weeks; I have attached tips in your visit summary."); err != nil {
		return err
	}

	// Sent last and not yet seen by anyone: it can still be cancelled.
	_, err = start(first, NewConversation{Subject: "Question about my lab results",
		Body: "My portal shows a cholesterol result flagged high. What does that mean for me?"})
	return err
}
