package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"securemessages/realtime"
	"securemessages/store"
	"securemessages/store/storetest"
)

// fanoutRound is one round of live fan-out: fresh server(s), the streams opened, changes
// committed and published, and what arrived where.
type fanoutRound struct {
	instances  int
	streams    int
	connect    time.Duration // to open every stream
	rssPerKB   float64       // server memory added per idle stream (one instance only)
	rssBase    int64
	rssAfter   int64
	p50, p99   time.Duration // commit -> arrival, over every allowed (stream, event)
	max        time.Duration
	expected   int
	delivered  int
	unexpected int // an event on a stream not allowed to see it
	duplicates int
	cpuPer1000 time.Duration // server CPU per 1,000 deliveries over the publish window
	idleCPU    float64       // cores the server(s) used while the streams were idle, just before
	floorP50   time.Duration // raw Redis publish -> subscriber, same round
	floorP99   time.Duration
	cpu        cpuShare
	commitP50  time.Duration // SendReply's own time, for reference
}

type fanoutResult struct {
	streams      int
	staffStreams int
	otherStreams int
	patStreams   int
	perEvent     int // expected deliveries per event
	single, dual []fanoutRound
}

type streamUser struct {
	u        store.User
	staff    bool
	practice int64
}

// streamSet is every stream the fan-out opens, with who may see what.
type streamSet struct {
	clients []*sseClient
	targets []openConv // conversations to reply in: their patients have a stream open
}

func makeStreams(ctx context.Context, e *env, d *dataset, n int) (*streamSet, time.Duration, error) {
	step := time.Now()
	other := min(50, n/100)
	staffN := n/2 - other
	patientN := n - staffN - other
	patientN = min(patientN, len(d.patients))
	var users []streamUser
	for i := 0; i < staffN; i++ {
		users = append(users, streamUser{d.staff[i%len(d.staff)], true, d.practice.ID})
	}
	for i := 0; i < other; i++ {
		users = append(users, streamUser{d.otherStaff[i%len(d.otherStaff)], true, d.other.ID})
	}
	// Patients with an open conversation first: the changes are made in their conversations.
	streaming := map[int64]bool{}
	set := &streamSet{}
	for _, oc := range d.openList {
		if len(streaming) == patientN {
			break
		}
		streaming[oc.PatientID] = true
		set.targets = append(set.targets, oc)
	}
	for _, p := range d.patients {
		if len(streaming) == patientN {
			break
		}
		streaming[p.ID] = true
	}
	for _, p := range d.patients {
		if streaming[p.ID] {
			users = append(users, streamUser{p, false, d.practice.ID})
		}
	}
	list := make([]store.User, len(users))
	for i, u := range users {
		list[i] = u.u
	}
	tokens, err := sessions(ctx, e.store, list, 4)
	if err != nil {
		return nil, 0, err
	}
	ids, err := e.store.PublicIDs(ctx)
	if err != nil {
		return nil, 0, err
	}
	for i, u := range users {
		c := &sseClient{token: tokens[i], staff: u.staff, practice: u.practice, ids: ids}
		if !u.staff {
			c.patient = u.u.ID
		}
		set.clients = append(set.clients, c)
	}
	// Interleave the kinds, so that each instance gets a share of each.
	interleaved := make([]*sseClient, 0, len(set.clients))
	staffC, otherC, patC := set.clients[:staffN], set.clients[staffN:staffN+other], set.clients[staffN+other:]
	for i := 0; len(interleaved) < len(set.clients); i++ {
		if i < len(staffC) {
			interleaved = append(interleaved, staffC[i])
		}
		if i < len(patC) {
			interleaved = append(interleaved, patC[i])
		}
		if i < len(otherC) {
			interleaved = append(interleaved, otherC[i])
		}
	}
	set.clients = interleaved
	return set, time.Since(step), nil
}

// allowed reports whether a stream may see an event: the patient's own, or its practice's staff.
func (c *sseClient) allowed(e store.Event) bool {
	if c.staff {
		return c.practice == e.PracticeID
	}
	return c.patient == e.PatientID && c.practice == e.PracticeID
}

func runFanout(ctx context.Context, e *env, d *dataset, cfg config) (*fanoutResult, error) {
	set, took, err := makeStreams(ctx, e, d, cfg.streams)
	if err != nil {
		return nil, err
	}
	res := &fanoutResult{streams: len(set.clients)}
	for _, c := range set.clients {
		switch {
		case c.staff && c.practice == d.practice.ID:
			res.staffStreams++
		case c.staff:
			res.otherStreams++
		default:
			res.patStreams++
		}
	}
	res.perEvent = res.staffStreams + 1
	logf("fan-out: %d sessions made in %s (store.CreateSession): %d staff dashboards, %d patient inboxes, %d dashboards of another practice",
		len(set.clients), round(took), res.staffStreams, res.patStreams, res.otherStreams)
	if len(set.targets) == 0 {
		return nil, fmt.Errorf("fan-out: no open conversation to reply in")
	}
	hub := realtime.NewHub(e.redis, slog.New(slog.NewTextHandler(io.Discard, nil)))
	next := 0
	for _, instances := range []int{1, 2} {
		for r := 1; r <= cfg.rounds; r++ {
			rd, err := fanoutOnce(ctx, e, d, cfg, set, hub, instances, &next)
			if err != nil {
				return nil, err
			}
			if instances == 1 {
				res.single = append(res.single, rd)
			} else {
				res.dual = append(res.dual, rd)
			}
			logf("fan-out: %d instance(s), round %d: p50 %s p99 %s, %d of %d delivered, %.1f KB/stream, %s CPU/1,000, floor p99 %s",
				instances, r, ms(rd.p50), ms(rd.p99), rd.delivered, rd.expected, rd.rssPerKB, ms(rd.cpuPer1000), ms(rd.floorP99))
		}
	}
	return res, nil
}

func fanoutOnce(ctx context.Context, e *env, d *dataset, cfg config, set *streamSet, hub *realtime.Hub, instances int, next *int) (fanoutRound, error) {
	rd := fanoutRound{instances: instances, streams: len(set.clients)}
	var servers []*server
	defer func() {
		for _, c := range set.clients {
			c.close()
		}
		for _, s := range servers {
			s.stop()
		}
	}()
	pprofAddr := ""
	for i := 0; i < instances; i++ {
		var extra []string
		if cfg.profile != "" && i == 0 {
			port, err := freePort()
			if err != nil {
				return rd, err
			}
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
			extra = append(extra, "PPROF_ADDR="+pprofAddr)
		}
		s, err := e.startServer(ctx, fmt.Sprintf("fanout-%d-%d", instances, i), 0, extra...)
		if err != nil {
			return rd, err
		}
		servers = append(servers, s)
	}
	// The floor: Redis alone, publisher to subscriber, at the same pace, before the streams open.
	floor, err := redisFloor(ctx, e, cfg.events, cfg.rate)
	if err != nil {
		return rd, err
	}
	rd.floorP50, rd.floorP99 = percentile(floor, 0.5), percentile(floor, 0.99)

	time.Sleep(300 * time.Millisecond)
	if instances == 1 {
		rd.rssBase = rssKB(servers[0].pid)
	}
	newest, err := storetest.NewestEvent(ctx, e.db)
	if err != nil {
		return rd, err
	}
	step := time.Now()
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.addr
	}
	if err := openAll(ctx, set.clients, addrs, newest, 0); err != nil {
		return rd, err
	}
	if _, err := waitStreams(servers, len(set.clients), 30*time.Second); err != nil {
		return rd, err
	}
	rd.connect = time.Since(step)
	time.Sleep(time.Second) // let the servers settle: goroutines parked, buffers returned
	pids := make([]int, len(servers))
	for i, s := range servers {
		pids[i] = s.pid
	}
	idle := e.meter(pids...)
	time.Sleep(time.Second)
	idleShare, _, _ := idle.stop()
	rd.idleCPU = idleShare.server
	if instances == 1 {
		rd.rssAfter = rssKB(servers[0].pid)
		rd.rssPerKB = float64(rd.rssAfter-rd.rssBase) / float64(len(set.clients))
		if pprofAddr != "" {
			saveProfile(pprofAddr, "/debug/pprof/heap?debug=1", filepath.Join(cfg.profile, "fanout-heap.txt"))
			saveProfile(pprofAddr, "/debug/pprof/heap", filepath.Join(cfg.profile, "fanout-heap.pprof"))
			saveProfile(pprofAddr, "/debug/pprof/goroutine?debug=1", filepath.Join(cfg.profile, "fanout-goroutines.txt"))
		}
	}

	// Commit replies through the store, as staff answering, at the given pace; publish each after
	// its commit, as the handler does.
	o := store.Origin{RequestID: "bench-fanout"}
	commits := map[int64]time.Time{}
	events := map[int64]store.Event{}
	var commitDur []time.Duration
	var prof chan struct{}
	if pprofAddr != "" {
		prof = profileDuring(pprofAddr, cfg.profile, fmt.Sprintf("fanout-%d", instances), time.Duration(cfg.events+cfg.rate)*time.Second/time.Duration(cfg.rate))
		defer func() { <-prof }()
	}
	m := e.meter(pids...)
	tick := time.NewTicker(time.Second / time.Duration(cfg.rate))
	defer tick.Stop()
	for k := 0; k < cfg.events; k++ {
		if k > 0 {
			<-tick.C
		}
		target := set.targets[*next%len(set.targets)]
		*next++
		staff := d.staff[k%len(d.staff)].Viewer()
		t0 := time.Now()
		sent, err := e.store.SendReply(ctx, staff, o, store.NewReply{ParentID: target.MessageID,
			Body: "We have looked at this and will call you this afternoon.", SubmitKey: uuid.NewString()})
		if err != nil {
			return rd, fmt.Errorf("commit a reply: %w", err)
		}
		committed := time.Now()
		commitDur = append(commitDur, committed.Sub(t0))
		commits[sent.Event.ID] = committed
		events[sent.Event.ID] = sent.Event
		if err := hub.Publish(ctx, sent.Event); err != nil {
			return rd, err
		}
	}
	rd.commitP50 = percentile(commitDur, 0.5)

	// Wait until everything expected has arrived, or 5 s after the last commit.
	expected := 0
	for _, ev := range events {
		for _, c := range set.clients {
			if c.allowed(ev) {
				expected++
			}
		}
	}
	rd.expected = expected
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, c := range set.clients {
			c.mu.Lock()
			n += len(c.arrived)
			c.mu.Unlock()
		}
		if n >= expected {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu, _, serverCPU := m.stop()
	rd.cpu = cpu

	var lat []time.Duration
	for _, c := range set.clients {
		seen := map[int64]bool{}
		for _, a := range c.arrivals() {
			ev, ours := events[a.id]
			if !ours {
				continue // not from this round
			}
			if seen[a.id] {
				rd.duplicates++
				continue
			}
			seen[a.id] = true
			if !c.allowed(ev) {
				rd.unexpected++
				continue
			}
			rd.delivered++
			lat = append(lat, a.at.Sub(commits[a.id]))
		}
	}
	rd.p50, rd.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	if len(lat) > 0 {
		rd.max = lat[len(lat)-1]
	}
	if rd.delivered > 0 {
		rd.cpuPer1000 = serverCPU * 1000 / time.Duration(rd.delivered)
	}
	return rd, nil
}

// redisFloor measures Redis alone: go-redis Publish to a go-redis subscriber, n messages at rate
// per second, payloads the size of an event.
func redisFloor(ctx context.Context, e *env, n, rate int) ([]time.Duration, error) {
	channel := "securemessages:bench-floor"
	sub := e.redis.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return nil, err
	}
	ch := sub.Channel()
	type stamp struct {
		Seq  int   `json:"seq"`
		Sent int64 `json:"sent"`
		realtime.Wire
	}
	base := time.Now()
	out := make([]time.Duration, 0, n)
	got := make(chan time.Duration, n)
	go func() {
		for msg := range ch {
			var s stamp
			if json.Unmarshal([]byte(msg.Payload), &s) == nil {
				got <- time.Since(base) - time.Duration(s.Sent)
			}
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for k := 0; k < n; k++ {
		if k > 0 {
			<-tick.C
		}
		b, _ := json.Marshal(stamp{Seq: k, Sent: int64(time.Since(base)), Wire: realtime.Wire{ID: int64(k), Kind: store.EventMessageSent,
			PracticeID: 1, PatientID: 1234, ConversationID: 5678, MessageID: 91011}})
		if err := e.redis.Publish(ctx, channel, b).Err(); err != nil {
			return nil, err
		}
	}
	timeout := time.After(2 * time.Second)
	for len(out) < n {
		select {
		case d := <-got:
			out = append(out, d)
		case <-timeout:
			return out, nil
		}
	}
	return out, nil
}
