package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"securemessages/store"
	"securemessages/store/storetest"
)

// The data set: one practice of 5,000 patients and a few staff, two years of history. One patient
// has 200 conversations and 1,000 messages, another 10 conversations, the rest some history each.
// A second, small practice is there only so that its staff's streams prove they see nothing of
// the first's.
const (
	practicePatients = 5000
	heavyConvs       = 200
	heavyMessages    = 1000
	tenConvs         = 10
	historyDays      = 730
)

// practiceSet is a practice with its people, for bulk writes.
type practiceSet struct {
	practice store.Practice
	staff    []store.User
	patients []store.User
}

type dataset struct {
	practice, other store.Practice
	staff           []store.User // the practice's staff
	otherStaff      []store.User
	lake            practiceSet  // a practice with 200 conversations, for the dashboard's statement count
	patients        []store.User // patients[0] has 200 conversations, patients[1] has 10
	conversations   int
	// practiceConversations is the first practice's count: what its dashboard lists, in pages.
	practiceConversations int
	messages              int
	archived              int

	heavyToken, tenToken, staffToken string // sessions for the page benchmarks
	// For live fan-out: for each patient with an open conversation, its latest message.
	openList []openConv
}

func (d *dataset) heavy() store.User { return d.patients[0] }
func (d *dataset) ten() store.User   { return d.patients[1] }

// convPlan is one conversation to write: who starts it, and each later message's parent and side.
type convPlan struct {
	patient      int // index in dataset.patients (or in other practice's list when other)
	other        bool
	staffStarted bool
	requested    int // 0: anyone; else staff index + 1
	method       string
	replies      []replyPlan
	times        []time.Time // one per message, increasing
	archive      bool
}

type replyPlan struct {
	parent  int  // index of the message it answers, in the conversation
	byStaff bool // written by the practice
	staff   int  // which staff member
}

var subjects = []string{
	"Refill for my blood pressure medication", "Question about my lab results", "Rash on my forearm",
	"Follow-up after my visit", "Side effects of the new prescription", "Trouble sleeping",
	"Knee pain when climbing stairs", "Vaccination records for school", "Referral to a cardiologist",
	"Persistent cough for two weeks", "Blood sugar readings this week", "Allergy season again",
	"Physical therapy exercises", "Insurance form for my employer", "Headaches in the afternoon",
	"Cholesterol medication dose", "Results of my MRI", "Travel vaccines for next month",
	"Dizziness when standing up", "Prescription for my inhaler", "Appointment for my annual check-up",
	"Back pain after lifting", "Thyroid test follow-up", "Sore throat and mild fever",
}

var phrases = []string{
	"I have been feeling this way for a few days now.", "It seems to get worse in the evening.",
	"Could you let me know whether I should come in?", "I am taking the medication as prescribed.",
	"The pharmacy said they need a new authorisation.", "My readings have been mostly in the normal range.",
	"Thank you for getting back to me so quickly.", "Please call me if that is easier.",
	"We have reviewed your results and they look reassuring.", "Please keep a diary of your symptoms for two weeks.",
	"Dr. Chen would like to see you in the next month.", "We have sent the prescription to your pharmacy.",
	"If anything changes, reply here or call the office.", "No fever, but I feel tired most afternoons.",
}

func sentence(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(phrases[r.IntN(len(phrases))])
	}
	return b.String()
}

// plan builds a conversation with the given number of messages, spread from start on.
func plan(r *rand.Rand, patient, messages, staffCount int, start time.Time, archiveOld float64, now time.Time) convPlan {
	p := convPlan{patient: patient, staffStarted: r.IntN(10) == 0, method: []string{"", "message", "phone", "visit"}[r.IntN(4)]}
	if !p.staffStarted && r.IntN(2) == 0 {
		p.requested = 1 + r.IntN(staffCount)
	}
	byStaff := []bool{p.staffStarted}
	t := start
	p.times = append(p.times, t)
	for k := 1; k < messages; k++ {
		// Mostly an answer to the latest message, sometimes to an earlier one (a branch).
		parent := k - 1
		if k > 2 && r.IntN(5) == 0 {
			parent = r.IntN(k - 1)
		}
		staff := !byStaff[parent]
		if r.IntN(6) == 0 {
			staff = byStaff[parent] // a follow-up on one's own message
		}
		byStaff = append(byStaff, staff)
		p.replies = append(p.replies, replyPlan{parent: parent, byStaff: staff, staff: r.IntN(staffCount)})
		t = t.Add(time.Duration(1+r.ExpFloat64()*30) * time.Hour)
		if t.After(now.Add(-time.Minute)) {
			t = now.Add(-time.Duration(messages-k) * time.Minute)
		}
		p.times = append(p.times, t)
	}
	last := p.times[len(p.times)-1]
	if now.Sub(last) > 45*24*time.Hour {
		p.archive = r.Float64() < archiveOld
	} else {
		p.archive = r.IntN(10) == 0
	}
	return p
}

// sizes splits total messages over n conversations, each at least 1, varied.
func sizes(r *rand.Rand, n, total int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	for left := total - n; left > 0; left-- {
		// Favour some conversations: long threads and one-liners, as in a real inbox.
		i := r.IntN(n)
		if r.IntN(3) == 0 {
			i = r.IntN(n/4 + 1)
		}
		s[i]++
	}
	r.Shuffle(n, func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func seed(ctx context.Context, st *store.Store, e *env) (*dataset, error) {
	r := rand.New(rand.NewPCG(42, 2024))
	d := &dataset{}
	o := store.Origin{RequestID: "bench-seed"}
	now := time.Now()
	step := time.Now()

	hash, err := store.HashPassword(ctx, "bench-password")
	if err != nil {
		return nil, err
	}
	if d.practice, err = st.CreatePractice(ctx, "Riverside Family Medicine", 2500, "UTC"); err != nil {
		return nil, err
	}
	if d.other, err = st.CreatePractice(ctx, "Hillcrest Pediatrics", 0, "UTC"); err != nil {
		return nil, err
	}
	staffNames := [][3]string{{"Dr. Amelia Chen", "AC", "Physician"}, {"Dr. Marcus Hale", "MH", "Physician"},
		{"Jordan Patel, RN", "JP", "Nurse"}, {"Aisha Grant, RN", "AG", "Nurse"},
		{"Sam Rivera", "SR", "Front desk"}, {"Noor Haddad", "NH", "Front desk"}}
	for i, n := range staffNames {
		u, err := st.CreateUser(ctx, store.User{PracticeID: d.practice.ID, Role: store.RoleStaff, PasswordHash: hash,
			Email: fmt.Sprintf("staff%d@riverside.example", i), FullName: n[0], Initials: n[1], Title: n[2], AnswersMessages: true})
		if err != nil {
			return nil, err
		}
		d.staff = append(d.staff, u)
	}
	for i := 0; i < 2; i++ {
		u, err := st.CreateUser(ctx, store.User{PracticeID: d.other.ID, Role: store.RoleStaff, PasswordHash: hash,
			Email: fmt.Sprintf("staff%d@hillcrest.example", i), FullName: fmt.Sprintf("Hillcrest Staff %d", i), Initials: "HS",
			Title: "Nurse", AnswersMessages: true})
		if err != nil {
			return nil, err
		}
		d.otherStaff = append(d.otherStaff, u)
	}
	first := []string{"Maria", "Tom", "Grace", "David", "Lena", "Omar", "Chloe", "Ivan", "Priya", "Ben", "Sofia", "Kwame"}
	last := []string{"Lopez", "Becker", "Kim", "Osei", "Fischer", "Nair", "Brooks", "Silva", "Novak", "Ahmed", "Moreau", "Tanaka"}
	if err := parallel(ctx, 8, practicePatients, func(i int) error {
		f, l := first[i%len(first)], last[(i/len(first))%len(last)]
		u, err := st.CreateUser(ctx, store.User{PracticeID: d.practice.ID, Role: store.RolePatient, PasswordHash: hash,
			Email: fmt.Sprintf("patient%d@riverside.example", i), FullName: fmt.Sprintf("%s %s %d", f, l, i),
			Initials: f[:1] + l[:1]})
		if err != nil {
			return err
		}
		patientsMu.Lock()
		patientsByIndex[i] = u
		patientsMu.Unlock()
		return nil
	}); err != nil {
		return nil, err
	}
	d.patients = make([]store.User, practicePatients)
	for i := range d.patients {
		d.patients[i] = patientsByIndex[i]
	}
	logf("seed: 2 practices, %d staff, %d patients in %s (store.CreatePractice/CreateUser, 8 at a time)",
		len(d.staff)+len(d.otherStaff), practicePatients, since(step))

	// Plans, deterministic.
	var plans []convPlan
	span := historyDays * 24 * time.Hour
	for _, n := range sizes(r, heavyConvs, heavyMessages) {
		plans = append(plans, plan(r, 0, n, len(d.staff), now.Add(-time.Duration(r.Int64N(int64(span)))), 0.6, now))
	}
	for _, n := range sizes(r, tenConvs, 40) {
		plans = append(plans, plan(r, 1, n, len(d.staff), now.Add(-time.Duration(r.Int64N(int64(span)))), 0.6, now))
	}
	for p := 2; p < practicePatients; p++ {
		convs := []int{0, 0, 0, 1, 1, 1, 2, 2, 3, 4}[r.IntN(10)]
		for c := 0; c < convs; c++ {
			n := 1 + r.IntN(5)
			plans = append(plans, plan(r, p, n, len(d.staff), now.Add(-time.Duration(r.Int64N(int64(span)))), 0.8, now))
		}
	}
	// The other practice: a little history of its own.
	otherPatients := make([]store.User, 10)
	for i := range otherPatients {
		u, err := st.CreateUser(ctx, store.User{PracticeID: d.other.ID, Role: store.RolePatient, PasswordHash: hash,
			Email: fmt.Sprintf("patient%d@hillcrest.example", i), FullName: fmt.Sprintf("Hillcrest Patient %d", i), Initials: "HP"})
		if err != nil {
			return nil, err
		}
		otherPatients[i] = u
		cp := plan(r, i, 2, len(d.otherStaff), now.Add(-time.Duration(r.Int64N(int64(span)))), 0.5, now)
		cp.other = true
		plans = append(plans, cp)
	}
	for _, p := range plans {
		d.conversations++
		d.messages += 1 + len(p.replies)
		if !p.other {
			d.practiceConversations++
		}
	}

	// The two patients the pages are measured on, and the small practice, are written through
	// the store, as the app writes them: StartConversation, SendReply, Archive, each its own
	// transaction with its event and audit rows. That runs at a few hundred transactions a second
	// on two cores, so the other 4,998 patients' history (about 20,000 messages) would take over
	// a minute; it is written in bulk instead (see bulkHistory), sealed with the same keys.
	var viaStore, inBulk []convPlan
	for _, p := range plans {
		if p.other || p.patient < 2 {
			viaStore = append(viaStore, p)
		} else {
			inBulk = append(inBulk, p)
		}
	}
	step = time.Now()
	var (
		mu       sync.Mutex
		msgIDs   []int64
		msgTimes []time.Time
	)
	err = parallel(ctx, 4, len(viaStore), func(i int) error {
		p := viaStore[i]
		rr := rand.New(rand.NewPCG(uint64(i), 7))
		staff, patient := d.staff, store.User{}
		if p.other {
			staff, patient = d.otherStaff, otherPatients[p.patient]
		} else {
			patient = d.patients[p.patient]
		}
		consent := !p.other
		n := store.NewConversation{Subject: subjects[rr.IntN(len(subjects))], Body: sentence(rr, 1+rr.IntN(5)),
			ResponseMethod: p.method, BillingConsent: consent, SubmitKey: uuid.NewString()}
		author := patient.Viewer()
		if p.staffStarted {
			author = staff[rr.IntN(len(staff))].Viewer()
			n.PatientID = patient.ID
		} else if p.requested > 0 {
			n.RequestedStaffID = staff[(p.requested-1)%len(staff)].ID
		}
		sent, err := st.StartConversation(ctx, author, o, n)
		if err != nil {
			return fmt.Errorf("conversation %d: %w", i, err)
		}
		ids := []int64{sent.MessageID}
		for _, rp := range p.replies {
			v := patient.Viewer()
			if rp.byStaff {
				v = staff[rp.staff%len(staff)].Viewer()
			}
			s, err := st.SendReply(ctx, v, o, store.NewReply{ParentID: ids[rp.parent], Body: sentence(rr, 1+rr.IntN(4)),
				BillingConsent: consent, SubmitKey: uuid.NewString()})
			if err != nil {
				return fmt.Errorf("conversation %d reply: %w", i, err)
			}
			ids = append(ids, s.MessageID)
		}
		if p.archive {
			if _, err := st.Archive(ctx, staff[0].Viewer(), o, sent.ConversationID); err != nil {
				return fmt.Errorf("archive %d: %w", i, err)
			}
		}
		mu.Lock()
		msgIDs = append(msgIDs, ids...)
		msgTimes = append(msgTimes, p.times...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	txs := 0
	for _, p := range viaStore {
		txs += 1 + len(p.replies)
		if p.archive {
			txs++
		}
	}
	took := time.Since(step)
	rate := float64(txs) / took.Seconds()
	logf("seed: %d conversations, %d transactions through the store's own methods in %s (%.0f transactions/s, 4 at a time)",
		len(viaStore), txs, round(took), rate)

	step = time.Now()
	bulkMsgs, err := bulkHistory(ctx, e, practiceSet{d.practice, d.staff, d.patients}, inBulk, r)
	if err != nil {
		return nil, err
	}
	// A third practice, of 50 patients and 200 conversations: the dashboard at 200.
	if d.lake, err = smallPractice(ctx, st, hash, "Lakeside Clinic", "lakeside", 2, 50); err != nil {
		return nil, err
	}
	var lakePlans []convPlan
	for _, n := range sizes(r, 200, 700) {
		lakePlans = append(lakePlans, plan(r, r.IntN(50), n, 2, now.Add(-time.Duration(r.Int64N(int64(span)))), 0.3, now))
	}
	lakeMsgs, err := bulkHistory(ctx, e, d.lake, lakePlans, r)
	if err != nil {
		return nil, err
	}
	bulkMsgs += lakeMsgs
	inBulk = append(inBulk, lakePlans...)
	bulkTxs := bulkMsgs
	for _, p := range inBulk {
		if p.archive {
			bulkTxs++
		}
	}
	logf("seed: %d more conversations, %d messages in bulk (COPY) in %s; through the store at %.0f/s they would take %s",
		len(inBulk), bulkMsgs, since(step), rate, round(time.Duration(float64(bulkTxs)/rate*float64(time.Second))))
	d.conversations += len(lakePlans)
	for _, p := range append(plans, lakePlans...) {
		if p.archive {
			d.archived++
		}
	}
	d.messages += lakeMsgs
	if err := e.db.SelectContext(ctx, &d.openList, `
		SELECT DISTINCT ON (c.patient_id) c.patient_id, m.id
		FROM conversations c JOIN messages m ON m.conversation_id = c.id
		WHERE c.practice_id = $1 AND c.archived_at IS NULL
		ORDER BY c.patient_id, m.id DESC`, d.practice.ID); err != nil {
		return nil, err
	}

	// Spread the history over two years: the store stamps everything now(), so the dates are
	// set afterwards, in one statement each (dates are not part of the sealed text).
	step = time.Now()
	if _, err := e.db.ExecContext(ctx, `
		UPDATE messages m SET created_at = v.t
		FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, t) WHERE m.id = v.id`,
		pq.Array(msgIDs), pq.Array(msgTimes)); err != nil {
		return nil, fmt.Errorf("backdate messages: %w", err)
	}
	if _, err := e.db.ExecContext(ctx, `
		UPDATE conversations c SET created_at = m.first, last_activity_at = m.latest,
		       archived_at = CASE WHEN c.archived_at IS NOT NULL THEN least(m.latest + interval '1 day', now()) END
		FROM (SELECT conversation_id, min(created_at) AS first, max(created_at) AS latest
		      FROM messages GROUP BY conversation_id) m
		WHERE m.conversation_id = c.id`); err != nil {
		return nil, fmt.Errorf("backdate conversations: %w", err)
	}
	// A history that long has been read: what is more than a week old was opened an hour after
	// it came, so the new-message counts and marks look for the few recent ones, as they would.
	if _, err := e.db.ExecContext(ctx, `
		UPDATE messages SET opened_at = created_at + interval '1 hour'
		WHERE created_at < now() - interval '7 days'`); err != nil {
		return nil, fmt.Errorf("open old messages: %w", err)
	}
	if _, err := e.db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	logf("seed: history spread over two years and analyzed in %s", since(step))
	return d, nil
}

var (
	patientsMu      sync.Mutex
	patientsByIndex = map[int]store.User{}
)

// sessions makes n sessions for a user through store.CreateSession (sign-in over HTTP would
// spend an argon2id hash on each).
func sessions(ctx context.Context, st *store.Store, users []store.User, workers int) ([]string, error) {
	tokens := make([]string, len(users))
	err := parallel(ctx, workers, len(users), func(i int) error {
		t, err := st.CreateSession(ctx, users[i], store.Origin{RequestID: "bench-session"})
		tokens[i] = t
		return err
	})
	return tokens, err
}

// parallel runs f(0..n-1) on workers goroutines; the first error stops it.
func parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type openConv struct {
	PatientID int64 `db:"patient_id"`
	MessageID int64 `db:"id"`
}

// messageAD is the associated data store seals a message column with (store/crypto.go). It is
// repeated here only for the bulk history; checkBulk opens what was written through the store,
// so a change of format there shows up at once.
func messageAD(column string, messageID, conversationID int64) []byte {
	return fmt.Appendf(nil, "sm/v1|messages.%s|%d|%d", column, messageID, conversationID)
}

// bulkHistory writes the other patients' conversations with COPY: the same rows, ciphertexts and
// flags the store would write, without the per-message transaction, event and audit rows (events
// of that age would have been pruned; the audit log plays no part in the pages measured).
func bulkHistory(ctx context.Context, e *env, d practiceSet, plans []convPlan, r *rand.Rand) (int, error) {
	if len(plans) == 0 {
		return 0, nil
	}
	total := 0
	for _, p := range plans {
		total += 1 + len(p.replies)
	}
	var convIDs, msgIDs []int64
	if err := e.db.SelectContext(ctx, &convIDs, `SELECT nextval(pg_get_serial_sequence('conversations', 'id')) FROM generate_series(1, $1)`, len(plans)); err != nil {
		return 0, err
	}
	if err := e.db.SelectContext(ctx, &msgIDs, `SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)`, total); err != nil {
		return 0, err
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	convCopy, err := tx.Prepare(pq.CopyIn("conversations", "id", "practice_id", "patient_id", "archived_at", "last_activity_at", "created_at"))
	if err != nil {
		return 0, err
	}
	keys := storetest.Keys
	type row struct {
		id, conv, parent, author, requested int64
		subject, body, instr                []byte
		actedOn                             bool
		at                                  time.Time
	}
	var rows []row
	next := 0
	for i, p := range plans {
		cid := convIDs[i]
		patient := d.patients[p.patient]
		last := p.times[len(p.times)-1]
		var archivedAt any
		if p.archive {
			archivedAt = minTime(last.Add(24*time.Hour), time.Now())
		}
		// COPY writes the identity values given, as INSERT ... OVERRIDING SYSTEM VALUE would.
		if _, err := convCopy.ExecContext(ctx, cid, d.practice.ID, patient.ID, archivedAt, last, p.times[0]); err != nil {
			return 0, err
		}
		subject := subjects[r.IntN(len(subjects))]
		ids := make([]int64, 0, 1+len(p.replies))
		authors := make([]int64, 0, 1+len(p.replies))
		hasReplies := make([]bool, 1+len(p.replies))
		for k := 0; k <= len(p.replies); k++ {
			id := msgIDs[next]
			next++
			ids = append(ids, id)
			var author, parent, requested int64
			instr := store.Instructions{}
			subj := subject
			if k == 0 {
				author = patient.ID
				if p.staffStarted {
					author = d.staff[r.IntN(len(d.staff))].ID
				} else {
					instr = consented(store.Instructions{ResponseMethod: p.method}, d.practice)
					if p.requested > 0 {
						requested = d.staff[(p.requested-1)%len(d.staff)].ID
					}
				}
			} else {
				rp := p.replies[k-1]
				parent = ids[rp.parent]
				hasReplies[rp.parent] = true
				subj = "Re: " + subject
				author = patient.ID
				if rp.byStaff {
					author = d.staff[rp.staff%len(d.staff)].ID
				} else {
					instr = consented(store.Instructions{}, d.practice)
				}
			}
			authors = append(authors, author)
			instrJSON, _ := json.Marshal(instr)
			rows = append(rows, row{id: id, conv: cid, parent: parent, author: author, requested: requested,
				subject: keys.Seal([]byte(subj), messageAD("subject", id, cid)),
				body:    keys.Seal([]byte(sentence(r, 1+r.IntN(4))), messageAD("body", id, cid)),
				instr:   keys.Seal(instrJSON, messageAD("instructions", id, cid)),
				at:      p.times[k]})
		}
		for k := range ids {
			rows[len(rows)-len(ids)+k].actedOn = hasReplies[k] || p.archive
		}
	}
	if _, err := convCopy.ExecContext(ctx); err != nil {
		return 0, err
	}
	convCopy.Close()
	msgCopy, err := tx.Prepare(pq.CopyIn("messages", "id", "conversation_id", "parent_id", "author_id", "subject", "body",
		"instructions", "requested_staff_id", "acted_on", "submit_key", "created_at"))
	if err != nil {
		return 0, err
	}
	for _, m := range rows {
		if _, err := msgCopy.ExecContext(ctx, m.id, m.conv, nullID(m.parent), m.author, m.subject, m.body, m.instr,
			nullID(m.requested), m.actedOn, uuid.NewString(), m.at); err != nil {
			return 0, err
		}
	}
	if _, err := msgCopy.ExecContext(ctx); err != nil {
		return 0, err
	}
	msgCopy.Close()
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(rows), checkBulk(ctx, e, d, convIDs[0], msgIDs[0])
}

// consented records a patient's consent to the fee where the practice charges, as the store does.
func consented(i store.Instructions, p store.Practice) store.Instructions {
	if p.Charges() {
		i.BillingConsent, i.FeeCents = true, p.MessageFeeCents
	}
	return i
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// smallPractice adds a practice with staff and patients through the store.
func smallPractice(ctx context.Context, st *store.Store, hash, name, domain string, staff, patients int) (practiceSet, error) {
	var ps practiceSet
	var err error
	if ps.practice, err = st.CreatePractice(ctx, name, 0, "UTC"); err != nil {
		return ps, err
	}
	for i := 0; i < staff+patients; i++ {
		u := store.User{PracticeID: ps.practice.ID, Role: store.RolePatient, PasswordHash: hash,
			Email: fmt.Sprintf("user%d@%s.example", i, domain), FullName: fmt.Sprintf("%s Person %d", name, i), Initials: "LP"}
		if i < staff {
			u.Role, u.Title, u.AnswersMessages = store.RoleStaff, "Nurse", true
		}
		if u, err = st.CreateUser(ctx, u); err != nil {
			return ps, err
		}
		if i < staff {
			ps.staff = append(ps.staff, u)
		} else {
			ps.patients = append(ps.patients, u)
		}
	}
	return ps, nil
}

// checkBulk opens a bulk-written conversation and message through the store, as the app would.
func checkBulk(ctx context.Context, e *env, d practiceSet, convID, msgID int64) error {
	st := store.New(e.db, storetest.Keys)
	v := d.staff[0].Viewer()
	if _, err := st.Conversation(ctx, v, convID); err != nil {
		return fmt.Errorf("seed: the bulk history does not open through the store: %w", err)
	}
	if _, err := st.MessageDetails(ctx, v, store.Origin{RequestID: "bench-check"}, msgID); err != nil {
		return fmt.Errorf("seed: a bulk message does not open through the store: %w", err)
	}
	return nil
}
