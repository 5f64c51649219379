package main

import (
	"context"
	"fmt"
	"time"

	"securemessages/store/storetest"
)

// releaseRound is one round of clients vanishing: how long until the hub held none of them.
type releaseRound struct {
	streams   int
	first     time.Duration // until the first stream was let go
	half      time.Duration
	all       time.Duration // until every one was let go
	remaining int           // streams still held when the wait gave up (0: all let go)
}

type releaseResult struct {
	heartbeat time.Duration
	rounds    []releaseRound
}

// runRelease opens streams on a server with a short heartbeat, makes every client vanish at once
// without closing (an RST, as a phone that lost its network meets on its next packet), and polls
// the server's metrics until the hub has let each one go.
func runRelease(ctx context.Context, e *env, d *dataset, cfg config) (*releaseResult, error) {
	res := &releaseResult{heartbeat: time.Duration(cfg.heartbeat) * time.Second}
	set, _, err := makeStreams(ctx, e, d, cfg.dead)
	if err != nil {
		return nil, err
	}
	srv, err := e.startServer(ctx, "release", cfg.heartbeat)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	for r := 1; r <= cfg.rounds; r++ {
		newest, err := storetest.NewestEvent(ctx, e.db)
		if err != nil {
			return nil, err
		}
		// Pages open at random moments, so their heartbeats are spread over the whole interval:
		// the streams open at an even pace over one heartbeat, and the slowest to be let go is
		// the one whose heartbeat came just before the clients vanished.
		if err := openAll(ctx, set.clients, []string{srv.addr}, newest, res.heartbeat); err != nil {
			return nil, err
		}
		if _, err := waitStreams([]*server{srv}, len(set.clients), 30*time.Second); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(r) * res.heartbeat / time.Duration(cfg.rounds+1))
		rd := releaseRound{streams: len(set.clients)}
		t0 := time.Now()
		for _, c := range set.clients {
			c.vanish()
		}
		limit := 4*res.heartbeat + 10*time.Second
		for {
			held, err := srv.streams()
			if err != nil {
				return nil, err
			}
			el := time.Since(t0)
			if held < rd.streams && rd.first == 0 {
				rd.first = el
			}
			if held <= rd.streams/2 && rd.half == 0 {
				rd.half = el
			}
			if held == 0 {
				rd.all = el
				break
			}
			if el > limit {
				rd.all, rd.remaining = el, held
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, c := range set.clients {
			c.close()
		}
		res.rounds = append(res.rounds, rd)
		logf("release: round %d: %d streams let go after %s (first %s, half %s)%s", r, rd.streams, round(rd.all),
			round(rd.first), round(rd.half), map[bool]string{true: fmt.Sprintf(", %d still held", rd.remaining), false: ""}[rd.remaining > 0])
	}
	return res, nil
}
