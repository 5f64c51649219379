package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"securemessages/store"
)

type report struct {
	cfg      config
	data     *dataset
	machine  string
	software string
	pages    *pagesResult
	fanout   *fanoutResult
	release  *releaseResult
	took     time.Duration
	failures []string
}

// --- medians ---------------------------------------------------------------------------------

func med[T int | int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pick[R any, T any](rs []R, f func(R) T) []T {
	out := make([]T, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// spread is "median (min–max)" of a set of rounds, formatted by f.
func spread[T int | int64 | float64 | time.Duration](xs []T, f func(T) string) string {
	if len(xs) == 0 {
		return "n/a"
	}
	if len(xs) == 1 {
		return f(xs[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(med(xs)), f(slices.Min(xs)), f(slices.Max(xs)))
}

func rps(v float64) string { return fmt.Sprintf("%.0f/s", v) }
func ms(d time.Duration) string {
	switch {
	case d < 0:
		return "n/a"
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}
func kb(n int) string        { return fmt.Sprintf("%.1f KB", float64(n)/1024) }
func cores(v float64) string { return fmt.Sprintf("%.2f", v) }
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	switch r := a / b; {
	case r < 0.01:
		return fmt.Sprintf("%.4f", r)
	case r < 0.1:
		return fmt.Sprintf("%.3f", r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

// table prints rows with columns padded to their widest cell.
type table struct {
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer, indent string) {
	widths := map[int]int{}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for ri, r := range t.rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if ri == 0 {
			total := len(indent)
			for i := range widths {
				total += widths[i] + 2
			}
			fmt.Fprintln(w, indent+strings.Repeat("-", total-len(indent)-2))
		}
	}
}

// --- targets ---------------------------------------------------------------------------------

type verdict struct{ target, measured, result string }

// atLeast says whether got reaches want (higher is better), and by how much.
func atLeast(got, want float64) string {
	if want == 0 {
		return "n/a"
	}
	if got >= want {
		return fmt.Sprintf("met (%.1f× the target)", got/want)
	}
	return fmt.Sprintf("MISSED: %.0f%% short", (1-got/want)*100)
}

// atMost says whether got stays under limit (lower is better), and by how much.
func atMost(got, limit float64) string {
	if limit == 0 {
		return "n/a"
	}
	if got < limit {
		return fmt.Sprintf("met (%.0f%% under)", (1-got/limit)*100)
	}
	return fmt.Sprintf("MISSED: %.1f× the limit", got/limit)
}

// --- the report ------------------------------------------------------------------------------

func (r *report) print(w io.Writer) {
	d, cfg := r.data, r.cfg
	fmt.Fprintf(w, "\nSecure Messages: make bench\n\n")
	fmt.Fprintf(w, "machine   %s\n", r.machine)
	fmt.Fprintf(w, "software  %s\n", r.software)
	fmt.Fprintf(w, "data      %d patients and %d staff in the measured practice, %d conversations and %d messages over two years in all\n",
		len(d.patients), len(d.staff), d.conversations, d.messages)
	fmt.Fprintf(w, "          (%d archived); the measured patient has %d conversations and %d messages, another has %d\n",
		d.archived, heavyConvs, heavyMessages, tenConvs)
	fmt.Fprintf(w, "method    every figure is the median of %d rounds in this run, (min–max) after it; HTTP rounds last %s\n",
		cfg.rounds, cfg.duration)
	fmt.Fprintf(w, "          the server is the real binary in a subprocess; the load generator (Go, fasthttp client) runs in this one\n")
	var verdicts []verdict

	if p := r.pages; p != nil {
		fmt.Fprintf(w, "\n1. Inbox page: GET /inbox, first page (%d conversations), %d keep-alive clients, compressed as for a browser\n\n", store.PageSize, cfg.clients)
		t := &table{}
		t.add("request", "size (sent / html)", "requests/s", "p50", "p99", "÷ HTTP ceiling", "÷ DB ceiling", "CPU/request: server, postgres", "load generator CPU")
		for _, c := range p.cases {
			in := pick(c.inbox, func(l loadResult) float64 { return l.rps })
			ceil := med(pick(c.ceiling, func(l loadResult) float64 { return l.rps }))
			t.add(c.name, fmt.Sprintf("%s %s / %s", kb(c.bytes), c.enc, kb(c.plain)), spread(in, rps),
				spread(pick(c.inbox, func(l loadResult) time.Duration { return l.p50 }), ms),
				spread(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }), ms),
				ratio(med(in), ceil), fmt.Sprintf("%.2f", pairedRatio(c.inbox, c.db)),
				fmt.Sprintf("%s, %s", ms(med(pick(c.inbox, func(l loadResult) time.Duration { return perRequest(l, l.cpu.server) }))),
					ms(med(pick(c.inbox, func(l loadResult) time.Duration { return perRequest(l, l.cpu.postgres) })))),
				fmt.Sprintf("%s of %d cores", cores(med(pick(c.inbox, func(l loadResult) float64 { return l.cpu.bench }))), nprocs()))
		}
		t.print(w, "  ")
		fmt.Fprintf(w, "\n  ceilings, same run\n\n")
		t = &table{}
		t.add("ceiling", "requests/s", "p50", "p99", "CPU/request: server, postgres", "load generator CPU")
		for _, c := range p.cases {
			t.add("HTTP: "+c.name, spread(pick(c.ceiling, func(l loadResult) float64 { return l.rps }), rps),
				spread(pick(c.ceiling, func(l loadResult) time.Duration { return l.p50 }), ms),
				spread(pick(c.ceiling, func(l loadResult) time.Duration { return l.p99 }), ms),
				ms(med(pick(c.ceiling, func(l loadResult) time.Duration { return perRequest(l, l.cpu.server) })))+", -",
				cores(med(pick(c.ceiling, func(l loadResult) float64 { return l.cpu.bench }))))
		}
		for _, sd := range sides {
			who := map[bool]string{false: "patient", true: "staff"}[sd.staff]
			kept := map[bool]string{false: "nothing kept", true: "page kept"}[sd.kept]
			rs := p.db[sd]
			t.add(fmt.Sprintf("DB: %s render's %d statements, %s", who, p.dbStatements[sd], kept),
				spread(pick(rs, func(l loadResult) float64 { return l.rps }), rps),
				spread(pick(rs, func(l loadResult) time.Duration { return l.p50 }), ms),
				spread(pick(rs, func(l loadResult) time.Duration { return l.p99 }), ms),
				"-, "+ms(med(pick(rs, func(l loadResult) time.Duration { return perRequest(l, l.cpu.postgres) }))),
				cores(med(pick(rs, func(l loadResult) float64 { return l.cpu.bench }))))
		}
		t.print(w, "  ")
		fmt.Fprintf(w, "\n  HTTP ceiling: %s serving the very bytes and headers the server sent, from memory.\n", p.ceilingServer)
		fmt.Fprintf(w, "  DB ceiling: the statements one render issues (recorded from the store's own calls; on the server that keeps\n")
		fmt.Fprintf(w, "  conversations, a repeated render's, which finds the page's conversations kept), replayed one after\n")
		fmt.Fprintf(w, "  another on %d connections at once, rows read, no HTTP and no rendering. It runs right after each page\n", cfg.clients)
		fmt.Fprintf(w, "  round, and \"÷ DB ceiling\" is the median of each round's page over the ceiling that followed it.\n")

		fmt.Fprintf(w, "\n  renders in parallel: full pages, 1 client against %d\n\n", cfg.clients)
		t = &table{}
		t.add("request", "1 client", "p50 at 1", fmt.Sprintf("%d clients", cfg.clients), "ratio")
		for _, c := range p.cases {
			if !c.full {
				continue
			}
			one := med(pick(c.single, func(l loadResult) float64 { return l.rps }))
			many := med(pick(c.inbox, func(l loadResult) float64 { return l.rps }))
			t.add(c.name, spread(pick(c.single, func(l loadResult) float64 { return l.rps }), rps),
				spread(pick(c.single, func(l loadResult) time.Duration { return l.p50 }), ms),
				rps(many), ratio(many, one)+"×")
			verdicts = append(verdicts,
				verdict{c.name + ": throughput ≥ ½ DB ceiling", fmt.Sprintf("%.2f (%s)", pairedRatio(c.inbox, c.db), spreadRatio(c.inbox, c.db)),
					atLeast(pairedRatio(c.inbox, c.db), 0.5)},
				verdict{c.name + ": p99 < 20 ms at 32 clients", ms(med(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }))),
					atMost(float64(med(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }))), float64(20*time.Millisecond))},
				verdict{c.name + ": 32 clients ≥ 1.6 × 1 client", ratio(many, one) + "×", atLeast(many/one, 1.6)})
		}
		for _, c := range p.cases {
			if c.full {
				continue
			}
			verdicts = append(verdicts, verdict{c.name + ": p99 < 20 ms at 32 clients",
				ms(med(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }))),
				atMost(float64(med(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }))), float64(20*time.Millisecond))})
		}
		t.print(w, "  ")
		fmt.Fprintf(w, "\n  CPU in the median %d-client round, of %d cores:\n", cfg.clients, nprocs())
		for _, c := range p.cases {
			fmt.Fprintf(w, "    %-24s %s\n", c.name, medianRound(c.inbox).cpu)
		}

		if len(p.without) > 0 {
			fmt.Fprintf(w, "\n  what each cache earns: the full page on a server that keeps every cache but one (CACHE_OFF), same rounds\n\n")
			t = &table{}
			t.add("request", "requests/s", "p99", "CPU/request: server, postgres", "÷ all caches")
			all := map[bool]*pageCase{}
			for _, c := range p.cases {
				if c.full && c.kept {
					all[c.staff] = c
				}
			}
			for _, c := range append([]*pageCase{all[false], all[true]}, p.without...) {
				if c == nil {
					continue
				}
				name, versus := c.name, "1.00"
				if c == all[c.staff] {
					name = map[bool]string{false: "patient", true: "staff"}[c.staff] + ", all caches"
				} else if a := all[c.staff]; a != nil {
					versus = ratio(med(pick(c.inbox, func(l loadResult) float64 { return l.rps })), med(pick(a.inbox, func(l loadResult) float64 { return l.rps })))
				}
				t.add(name, spread(pick(c.inbox, func(l loadResult) float64 { return l.rps }), rps),
					spread(pick(c.inbox, func(l loadResult) time.Duration { return l.p99 }), ms),
					fmt.Sprintf("%s, %s", ms(med(pick(c.inbox, func(l loadResult) time.Duration { return perRequest(l, l.cpu.server) }))),
						ms(med(pick(c.inbox, func(l loadResult) time.Duration { return perRequest(l, l.cpu.postgres) })))),
					versus)
			}
			t.print(w, "  ")
		}

		fmt.Fprintf(w, "\n2. Statements per render, counted by PostgreSQL (pg_stat_statements, the web servers' own role)\n\n")
		t = &table{}
		t.add("render", "conversations", "statements, page kept", "nothing kept", "of them read marks, nothing kept")
		counts := map[string]*[2][]int{} // by render: the kept counts, then the fresh ones
		for _, c := range p.counts {
			if counts[c.what] == nil {
				counts[c.what] = &[2][]int{}
			}
			cell := func(n statementCount, err error, series int) string {
				if err != nil {
					return "n/a: " + err.Error()
				}
				counts[c.what][series] = append(counts[c.what][series], n.total)
				return fmt.Sprint(n.total)
			}
			marks := "n/a"
			if c.freshErr == nil {
				marks = fmt.Sprintf("%d, %.2f ms", c.fresh.reads, c.fresh.readsMs)
			}
			t.add(c.what, fmt.Sprint(c.conversations), cell(c.count, c.err, 0), cell(c.fresh, c.freshErr, 1), marks)
		}
		t.print(w, "  ")
		for _, c := range p.counts {
			if c.err == nil && c.conversations == heavyConvs && c.what == "patient inbox" {
				fmt.Fprintf(w, "\n  a patient's render, as PostgreSQL counted it:\n    %s\n", strings.Join(c.count.queries, "\n    "))
			}
		}
		for _, what := range []string{"patient inbox", "staff dashboard"} {
			res, shown := "n/a (not counted)", "n/a"
			if ns := counts[what]; ns != nil && len(ns[0]) > 1 && len(ns[1]) > 1 {
				res = "met (the same at every size)"
				for _, series := range ns {
					if slices.Min(series) != slices.Max(series) {
						res = "MISSED: grows with the conversations"
					}
				}
				shown = strings.Trim(fmt.Sprint(ns[0]), "[]") + " kept, " + strings.Trim(fmt.Sprint(ns[1]), "[]") + " not"
			}
			verdicts = append(verdicts, verdict{what + ": constant statements per render", shown, res})
		}
	}

	if f := r.fanout; f != nil {
		fmt.Fprintf(w, "\n3. Live fan-out: %d open streams (%d staff dashboards, %d patient inboxes, %d dashboards of another practice);\n",
			f.streams, f.staffStreams, f.patStreams, f.otherStreams)
		fmt.Fprintf(w, "   %d replies committed through the store at %d/s per round, each allowed on %d streams; latency is commit to arrival\n\n",
			cfg.events, cfg.rate, f.perEvent)
		t := &table{}
		t.add("instances", "p50", "p99", "max", "delivered", "not allowed", "Redis floor p50 / p99", "p99 ÷ floor p99", "CPU per 1,000 deliveries")
		for _, rs := range [][]fanoutRound{f.single, f.dual} {
			if len(rs) == 0 {
				continue
			}
			p99 := med(pick(rs, func(x fanoutRound) time.Duration { return x.p99 }))
			fp99 := med(pick(rs, func(x fanoutRound) time.Duration { return x.floorP99 }))
			delivered := fmt.Sprintf("%s (%d of %d)", pct(sum(pick(rs, func(x fanoutRound) int { return x.delivered })), sum(pick(rs, func(x fanoutRound) int { return x.expected }))),
				sum(pick(rs, func(x fanoutRound) int { return x.delivered })), sum(pick(rs, func(x fanoutRound) int { return x.expected })))
			t.add(fmt.Sprint(rs[0].instances),
				spread(pick(rs, func(x fanoutRound) time.Duration { return x.p50 }), ms),
				spread(pick(rs, func(x fanoutRound) time.Duration { return x.p99 }), ms),
				spread(pick(rs, func(x fanoutRound) time.Duration { return x.max }), ms),
				delivered, fmt.Sprint(sum(pick(rs, func(x fanoutRound) int { return x.unexpected + x.duplicates }))),
				ms(med(pick(rs, func(x fanoutRound) time.Duration { return x.floorP50 })))+" / "+ms(fp99),
				ratio(float64(p99), float64(fp99)),
				spread(pick(rs, func(x fanoutRound) time.Duration { return x.cpuPer1000 }), ms))
			name := fmt.Sprintf("fan-out, %d instance(s): p99 < 100 ms at %d streams", rs[0].instances, f.streams)
			verdicts = append(verdicts, verdict{name, ms(p99), atMost(float64(p99), float64(100*time.Millisecond))})
			del, exp := sum(pick(rs, func(x fanoutRound) int { return x.delivered })), sum(pick(rs, func(x fanoutRound) int { return x.expected }))
			res := "met"
			if del != exp || sum(pick(rs, func(x fanoutRound) int { return x.unexpected + x.duplicates })) > 0 {
				res = "MISSED"
			}
			verdicts = append(verdicts, verdict{fmt.Sprintf("fan-out, %d instance(s): 100%% delivered, only where allowed", rs[0].instances),
				fmt.Sprintf("%s, %d not allowed", pct(del, exp), sum(pick(rs, func(x fanoutRound) int { return x.unexpected + x.duplicates }))), res})
		}
		t.print(w, "  ")
		fmt.Fprintf(w, "\n  Redis floor: go-redis Publish to a go-redis subscriber in this process, %d messages at %d/s, the same round.\n", cfg.events, cfg.rate)
		if len(f.single) > 0 {
			fmt.Fprintf(w, "  streams opened in %s (one instance); a commit (SendReply) takes %s; CPU while publishing: %s\n",
				ms(med(pick(f.single, func(x fanoutRound) time.Duration { return x.connect }))),
				ms(med(pick(f.single, func(x fanoutRound) time.Duration { return x.commitP50 }))), f.single[len(f.single)/2].cpu)

			fmt.Fprintf(w, "\n4. Memory and CPU per stream (one instance, fresh process each round)\n\n")
			t = &table{}
			t.add("figure", "value", "detail")
			per := med(pick(f.single, func(x fanoutRound) float64 { return x.rssPerKB }))
			t.add("server memory per idle stream", spread(pick(f.single, func(x fanoutRound) float64 { return x.rssPerKB }), func(v float64) string { return fmt.Sprintf("%.1f KB", v) }),
				fmt.Sprintf("VmRSS %d → %d KB with %d streams", f.single[0].rssBase, f.single[0].rssAfter, f.streams))
			t.add("server CPU per 1,000 deliveries", spread(pick(f.single, func(x fanoutRound) time.Duration { return x.cpuPer1000 }), ms),
				"utime+stime over the publishing window")
			t.add("server CPU with every stream idle", spread(pick(f.single, func(x fanoutRound) float64 { return x.idleCPU }), cores)+" cores", "one second before publishing")
			t.print(w, "  ")
			verdicts = append(verdicts, verdict{"memory per idle stream < 25 KB", fmt.Sprintf("%.1f KB", per), atMost(per, 25)})
		}
	}

	if rl := r.release; rl != nil {
		hb := rl.heartbeat
		fmt.Fprintf(w, "\n5. Dead streams: %d clients vanish at once (RST, no goodbye); SSE_HEARTBEAT_SECONDS=%d\n\n",
			rl.rounds[0].streams, int(hb/time.Second))
		t := &table{}
		t.add("until", "time", "heartbeats")
		hbs := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(hb)) }
		for _, x := range []struct {
			name string
			f    func(releaseRound) time.Duration
		}{{"the first is let go", func(x releaseRound) time.Duration { return x.first }},
			{"half are let go", func(x releaseRound) time.Duration { return x.half }},
			{"every one is let go", func(x releaseRound) time.Duration { return x.all }}} {
			v := pick(rl.rounds, x.f)
			t.add(x.name, spread(v, ms), spread(pick(v, func(d time.Duration) float64 { return float64(d) / float64(hb) }), func(f float64) string { return fmt.Sprintf("%.2f", f) }))
		}
		t.print(w, "  ")
		all := med(pick(rl.rounds, func(x releaseRound) time.Duration { return x.all }))
		left := sum(pick(rl.rounds, func(x releaseRound) int { return x.remaining }))
		res := atMost(float64(all), float64(2*hb))
		if left > 0 {
			res = fmt.Sprintf("MISSED: %d streams still held", left)
		}
		verdicts = append(verdicts, verdict{"dead streams let go within two heartbeats", hbs(all) + " heartbeats", res})
	}

	for _, f := range r.failures {
		fmt.Fprintf(w, "\n%s\n", f)
	}
	fmt.Fprintf(w, "\nTargets\n\n")
	t := &table{}
	t.add("target", "measured (median)", "verdict")
	for _, v := range verdicts {
		t.add(v.target, v.measured, v.result)
	}
	t.print(w, "  ")
	fmt.Fprintf(w, "\nwhole run: %s\n", round(r.took))
}

// medianRound is the round whose throughput is the median.
// pairedRatio is the median, over the rounds, of a's throughput over b's in the same round.
func pairedRatio(a, b []loadResult) float64 {
	return med(roundRatios(a, b))
}

// spreadRatio is the lowest and highest of those ratios: "0.44–0.52".
func spreadRatio(a, b []loadResult) string {
	rs := roundRatios(a, b)
	return fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
}

func roundRatios(a, b []loadResult) []float64 {
	rs := make([]float64, 0, len(a))
	for i := range min(len(a), len(b)) {
		if b[i].rps > 0 {
			rs = append(rs, a[i].rps/b[i].rps)
		}
	}
	if len(rs) == 0 {
		return []float64{0}
	}
	return rs
}

func medianRound(rs []loadResult) loadResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b loadResult) int { return cmp.Compare(a.rps, b.rps) })
	return s[len(s)/2]
}

// perRequest is the CPU time a party spent per request in a round, from its share of the cores.
func perRequest(l loadResult, share float64) time.Duration {
	if share < 0 {
		return -1 // not measured
	}
	if l.rps == 0 {
		return 0
	}
	return time.Duration(share / l.rps * float64(time.Second))
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func pct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(a)/float64(b))
}
