package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// browserAcceptEncoding is what Chrome and Firefox send; the server compresses for them.
const browserAcceptEncoding = "gzip, deflate, br, zstd"

// request is one kind of request the load generator repeats.
type request struct {
	addr   string
	path   string
	cookie string // the session cookie's value, if any
	htmx   bool   // an htmx request: the server answers with the fragment
	accept string // Accept-Encoding; a browser's when empty
}

func (r request) prepare(req *fasthttp.Request) {
	req.SetRequestURI("http://" + r.addr + r.path)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if r.accept == "" {
		req.Header.Set("Accept-Encoding", browserAcceptEncoding)
	} else {
		req.Header.Set("Accept-Encoding", r.accept)
	}
	if r.cookie != "" {
		req.Header.SetCookie("sid", r.cookie)
	}
	if r.htmx {
		req.Header.Set("HX-Request", "true")
	}
}

// fetch makes one request and returns the response's status, headers and body as sent.
func fetch(r request) (int, [][2]string, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	r.prepare(req)
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0, nil, nil, err
	}
	var headers [][2]string
	resp.Header.VisitAll(func(k, v []byte) {
		switch strings.ToLower(string(k)) {
		case "content-length", "date", "server", "connection", "transfer-encoding", "set-cookie":
			return
		}
		headers = append(headers, [2]string{string(k), string(v)})
	})
	return resp.StatusCode(), headers, slices.Clone(resp.Body()), nil
}

// loadResult is one round of load.
type loadResult struct {
	requests int
	errors   int
	wall     time.Duration
	rps      float64
	p50, p99 time.Duration
	cpu      cpuShare
}

// cpuShare is how many cores each party used during a round; others is the rest of the
// machine's busy time (another program running on it makes the figures noisy).
type cpuShare struct {
	bench, server, postgres, redis, others float64
}

func (c cpuShare) String() string {
	s := fmt.Sprintf("server %.2f", c.server)
	if c.postgres >= 0 {
		s += fmt.Sprintf(", postgres %.2f", c.postgres)
	}
	if c.redis > 0.005 {
		s += fmt.Sprintf(", redis %.2f", c.redis)
	}
	return s + fmt.Sprintf(", load generator %.2f, other programs %.2f cores", c.bench, c.others)
}

// meter measures the CPU the parties use between start and stop.
type meter struct {
	e       *env
	servers []int
	t0      time.Time
	b0, s0  time.Duration
	p0, r0  time.Duration
	busy0   time.Duration
}

func (e *env) meter(servers ...int) *meter {
	m := &meter{e: e, servers: servers, t0: time.Now(), b0: cpuTime(os.Getpid(), false), p0: treeCPU(e.pgPID()),
		r0: cpuTime(e.redisPID(), false), busy0: machineBusy()}
	for _, pid := range servers {
		m.s0 += cpuTime(pid, false)
	}
	return m
}

func (m *meter) stop() (cpuShare, time.Duration, time.Duration) {
	wall := time.Since(m.t0)
	var s time.Duration
	for _, pid := range m.servers {
		s += cpuTime(pid, false)
	}
	server := s - m.s0
	share := func(d time.Duration) float64 { return d.Seconds() / wall.Seconds() }
	c := cpuShare{bench: share(cpuTime(os.Getpid(), false) - m.b0), server: share(server)}
	c.postgres = -1 // unknown: PostgreSQL is not ours to watch
	if m.e.pgPID() > 0 {
		c.postgres = share(treeCPU(m.e.pgPID()) - m.p0)
	}
	if m.e.redisPID() > 0 {
		c.redis = share(cpuTime(m.e.redisPID(), false) - m.r0)
	}
	c.others = max(0, share(machineBusy()-m.busy0)-c.bench-c.server-max(c.postgres, 0)-c.redis)
	return c, wall, server
}

// runLoad repeats r from `clients` keep-alive connections for d, each client sending its next
// request as soon as the last is answered (a closed loop, as wrk does).
func runLoad(e *env, r request, clients int, d time.Duration, serverPID int) loadResult {
	hc := &fasthttp.HostClient{Addr: r.addr, MaxConns: clients, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ReadBufferSize: 16 << 10, NoDefaultUserAgentHeader: true}
	defer hc.CloseIdleConnections()
	pids := []int{}
	if serverPID > 0 {
		pids = append(pids, serverPID)
	}
	res, _ := closedLoop(e.meter(pids...), clients, d, func() (func() error, func()) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		r.prepare(req)
		once := func() error {
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) == 0 {
				return fmt.Errorf("answered %d with %d bytes", resp.StatusCode(), len(resp.Body()))
			}
			return nil
		}
		return once, func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) }
	})
	return res
}

// closedLoop runs `clients` loops for d, each calling its once (made for it by newClient, and
// ended by its done) again as soon as the last call returned, and times the calls that succeed.
// m, started before, measures the CPU over the same time. The error is the first a call gave.
func closedLoop(m *meter, clients int, d time.Duration, newClient func() (once func() error, done func())) (loadResult, error) {
	lat := make([][]time.Duration, clients)
	var errs atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := range clients {
		once, done := newClient()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done()
			own := make([]time.Duration, 0, 4096)
			for t := time.Now(); !t.After(deadline); t = time.Now() {
				if err := once(); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				own = append(own, time.Since(t))
			}
			lat[w] = own
		}()
	}
	wg.Wait()
	cpu, wall, _ := m.stop()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res := loadResult{requests: len(all), errors: int(errs.Load()), wall: wall, cpu: cpu}
	res.rps = float64(len(all)) / wall.Seconds()
	res.p50, res.p99 = percentile(all, 0.50), percentile(all, 0.99)
	var err error
	if p := firstErr.Load(); p != nil {
		err = *p
	}
	return res, err
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// --- the HTTP ceiling: a bare Fiber server that serves captured responses from memory ----------

const ceilingEnv = "SM_BENCH_CEILING_DIR"

type captured struct {
	Headers [][2]string `json:"headers"`
}

// saveCapture writes a response the ceiling server will serve as it was sent.
func saveCapture(dir, name string, headers [][2]string, body []byte) error {
	b, _ := json.Marshal(captured{Headers: headers})
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".body"), body, 0o644)
}

// ceilingMain is the bench binary run again as the ceiling server (a subprocess, so that its CPU
// is measured apart from the load generator's, as the real server's is): one Fiber app, one route
// per captured response, the body and headers straight from memory.
func ceilingMain(dir string) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	files, _ := filepath.Glob(filepath.Join(dir, "*.body"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".body")
		body, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var c captured
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		app.Get("/"+name, func(ctx *fiber.Ctx) error {
			for _, h := range c.Headers {
				ctx.Set(h[0], h[1])
			}
			return ctx.Send(body)
		})
	}
	return app.Listen("127.0.0.1:" + os.Getenv("PORT"))
}

// startCeiling runs the ceiling server and waits for it.
func (e *env) startCeiling(dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &server{name: "ceiling", port: port, addr: fmt.Sprintf("127.0.0.1:%d", port),
		log: filepath.Join(e.tmp, "ceiling.log"), done: make(chan error, 1)}
	logFile, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(self)
	s.cmd.Env = append(os.Environ(), ceilingEnv+"="+dir, "PORT="+strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.done <- s.cmd.Wait(); logFile.Close() }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, _, _, err := fetch(request{addr: s.addr, path: "/"}); err == nil && code > 0 {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("the ceiling server did not start%s", tail(s.log))
}
