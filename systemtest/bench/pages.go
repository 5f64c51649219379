package main

import (
	"context"
	"io"
	"net/http"

	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"securemessages/app"
	"securemessages/store"
)

// pageCase is one of the inbox requests measured.
type pageCase struct {
	name  string
	key   string // file name of its capture, and its route on the ceiling server
	req   request
	staff bool
	full  bool // a whole page (not the htmx fragment)
	kept  bool // served by the server that keeps threads and conversations (not the one that keeps none)
	pid   int  // the server that answers it, whose CPU is measured
	bytes int  // the response body as sent (compressed)
	plain int  // the same, uncompressed
	enc   string

	inbox, ceiling, single []loadResult
	// db: the DB ceiling of the case's side, replayed right after each of its rounds, so that
	// the two figures of a ratio meet the machine in the same state (its speed drifts by a third
	// within minutes here).
	db []loadResult
}

type pagesResult struct {
	cases         []*pageCase
	without       []*pageCase // full pages on servers that each keep all caches but one
	db            map[side][]loadResult
	dbStatements  map[side]int
	counts        []countRow
	ceilingServer string
}

// side is whose render a DB ceiling replays, and whether the store kept the page's conversations
// from the render before (as the server that keeps them does, every time a page repeats).
type side struct{ staff, kept bool }

// sides are the DB ceilings replayed, in the order the report prints them.
var sides = []side{{false, true}, {true, true}, {false, false}, {true, false}}

type countRow struct {
	what          string
	conversations int
	count         statementCount // a render repeated, on the server that keeps conversations
	err           error
	fresh         statementCount // the same render on the server that keeps none
	freshErr      error
}

func runPages(ctx context.Context, e *env, d *dataset, cfg config) (*pagesResult, error) {
	res := &pagesResult{db: map[side][]loadResult{}, dbStatements: map[side]int{}}
	step := time.Now()
	var extra []string
	pprofAddr := ""
	if cfg.profile != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		extra = append(extra, "PPROF_ADDR="+pprofAddr)
	}
	web, err := e.startServer(ctx, "web", 0, extra...)
	if err != nil {
		return nil, err
	}
	defer web.stop()
	// The same server keeping no threads and no conversations: what a page costs when every
	// conversation on it changed since it was last shown (the measured pages repeat, so the
	// server that keeps them reads and renders none).
	cold, err := e.startServer(ctx, "web-uncached", 0, "CACHE_ENTRIES=0")
	if err != nil {
		return nil, err
	}
	defer cold.stop()
	toks, err := sessions(ctx, e.store, []store.User{d.heavy(), d.ten(), d.staff[0], d.otherStaff[0], d.lake.staff[0]}, 1)
	if err != nil {
		return nil, err
	}
	heavy, ten, staff, otherStaff, lakeStaff := toks[0], toks[1], toks[2], toks[3], toks[4]
	// A server for each cache, keeping all the others (CACHE_OFF): what that one cache earns on
	// a page shown again, the pages every live event makes open pages fetch.
	for _, name := range app.Caches {
		s, err := e.startServer(ctx, "web-without-"+name, 0, "CACHE_OFF="+name)
		if err != nil {
			return nil, err
		}
		defer s.stop()
		res.without = append(res.without,
			&pageCase{name: "patient, without " + name, req: request{addr: s.addr, path: "/inbox", cookie: heavy}, full: true, pid: s.pid},
			&pageCase{name: "staff, without " + name, req: request{addr: s.addr, path: "/inbox", cookie: staff}, staff: true, full: true, pid: s.pid})
	}
	logf("pages: servers up and sessions made in %s", since(step))

	// Statements per render, counted by PostgreSQL, before any load.
	for _, c := range []struct {
		what  string
		convs int
		req   request
	}{
		{"patient inbox", tenConvs, request{addr: web.addr, path: "/inbox", cookie: ten}},
		{"patient inbox", heavyConvs, request{addr: web.addr, path: "/inbox", cookie: heavy}},
		{"staff dashboard", 10, request{addr: web.addr, path: "/inbox", cookie: otherStaff}},
		{"staff dashboard", 200, request{addr: web.addr, path: "/inbox", cookie: lakeStaff}},
		{"staff dashboard", d.practiceConversations, request{addr: web.addr, path: "/inbox", cookie: staff}},
	} {
		row := countRow{what: c.what, conversations: c.convs}
		row.count, row.err = countRender(ctx, e, c.req)
		fresh := c.req
		fresh.addr = cold.addr
		row.fresh, row.freshErr = countRender(ctx, e, fresh)
		res.counts = append(res.counts, row)
	}

	res.cases = []*pageCase{
		{name: "patient, full page", key: "patient-page", req: request{addr: web.addr, path: "/inbox", cookie: heavy}, full: true},
		{name: "patient, htmx fragment", key: "patient-fragment", req: request{addr: web.addr, path: "/inbox", cookie: heavy, htmx: true}},
		{name: "staff, full page", key: "staff-page", req: request{addr: web.addr, path: "/inbox", cookie: staff}, staff: true, full: true},
		{name: "staff, htmx fragment", key: "staff-fragment", req: request{addr: web.addr, path: "/inbox", cookie: staff, htmx: true}, staff: true},
		{name: "patient, page, no cache", key: "patient-page-uncached", req: request{addr: cold.addr, path: "/inbox", cookie: heavy}, full: true},
		{name: "staff, page, no cache", key: "staff-page-uncached", req: request{addr: cold.addr, path: "/inbox", cookie: staff}, staff: true, full: true},
	}
	for _, c := range res.cases {
		c.pid, c.kept = web.pid, true
		if c.req.addr == cold.addr {
			c.pid, c.kept = cold.pid, false
		}
	}
	capDir := filepath.Join(e.tmp, "ceiling")
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		return nil, err
	}
	for _, c := range res.cases {
		code, headers, body, err := fetch(c.req)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("%s: %d %v%s", c.name, code, err, tail(web.log))
		}
		c.bytes = len(body)
		for _, h := range headers {
			if strings.EqualFold(h[0], "Content-Encoding") {
				c.enc = h[1]
			}
		}
		plain := c.req
		plainCode, _, plainBody, err := fetchPlain(plain)
		if err == nil && plainCode == 200 {
			c.plain = len(plainBody)
			if cfg.profile != "" {
				os.WriteFile(filepath.Join(cfg.profile, c.key+".html"), plainBody, 0o644)
			}
		}
		if err := saveCapture(capDir, c.key, headers, body); err != nil {
			return nil, err
		}
	}
	ceiling, err := e.startCeiling(capDir)
	if err != nil {
		return nil, err
	}
	defer ceiling.stop()
	res.ceilingServer = "a bare Fiber app in a subprocess of its own"

	stmts := map[side][]statement{}
	for _, sd := range sides {
		tok := heavy
		if sd.staff {
			tok = staff
		}
		if stmts[sd], err = renderStatements(ctx, e, tok, sd); err != nil {
			return nil, err
		}
		res.dbStatements[sd] = len(stmts[sd])
	}

	// Warm up every path once, then measure in rounds; each round runs every case, so a slow
	// moment of the machine touches all of them alike, and each case's DB ceiling right after it.
	for _, c := range append(res.cases, res.without...) {
		runLoad(e, c.req, cfg.clients, cfg.warmup, c.pid)
	}
	for r := 1; r <= cfg.rounds; r++ {
		step := time.Now()
		for _, c := range res.cases {
			var prof chan struct{}
			if r == 1 && pprofAddr != "" && c.pid == web.pid {
				prof = profileDuring(pprofAddr, cfg.profile, c.key, cfg.duration)
			}
			c.inbox = append(c.inbox, runLoad(e, c.req, cfg.clients, cfg.duration, c.pid))
			if prof != nil {
				<-prof
			}
			sd := side{staff: c.staff, kept: c.kept}
			lr, err := replayLoad(ctx, e, stmts[sd], cfg.clients, cfg.duration)
			if err != nil {
				return nil, err
			}
			c.db = append(c.db, lr)
			res.db[sd] = append(res.db[sd], lr)
			c.ceiling = append(c.ceiling, runLoad(e, request{addr: ceiling.addr, path: "/" + c.key}, cfg.clients, cfg.duration, ceiling.pid))
			if c.full {
				c.single = append(c.single, runLoad(e, c.req, 1, cfg.duration, c.pid))
			}
		}
		for _, c := range res.without {
			c.inbox = append(c.inbox, runLoad(e, c.req, cfg.clients, cfg.duration, c.pid))
		}
		logf("pages: round %d of %d in %s", r, cfg.rounds, since(step))
	}
	return res, nil
}

// fetchPlain fetches without compression, to report the page's size as rendered.
func fetchPlain(r request) (int, [][2]string, []byte, error) {
	r.accept = "identity"
	return fetch(r)
}

// profileDuring takes the server's CPU profile over a load round, and half-way a goroutine dump
// and a second of execution trace (go tool trace -pprof=sync shows what requests waited for),
// into dir (bench -profile dir).
func profileDuring(addr, dir, name string, d time.Duration) chan struct{} {
	done := make(chan struct{})
	get := func(path, file string) { saveProfile(addr, path, filepath.Join(dir, file)) }
	go func() {
		defer close(done)
		secs := max(1, int(d.Seconds())-1)
		go func() {
			time.Sleep(d / 2)
			get("/debug/pprof/goroutine?debug=1", name+".goroutines.txt")
			get("/debug/pprof/trace?seconds=1", name+".trace")
		}()
		get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name+".cpu.pprof")
	}()
	return done
}

func saveProfile(addr, path, file string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}
