package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// runStorm has n clients connect and disconnect over and over for a while,
// then checks what the broker kept: descriptors, memory and threads against
// its figures before the storm, and whether a new client still gets in.
func runStorm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 19000, "clients cycling at once (lowered to fit this process's descriptor limit)")
	dur := fs.Duration("duration", 60*time.Second, "how long the clients keep cycling")
	pid := fs.Int("pid", 0, "broker process id, for its RSS, descriptors and threads (0: skip them)")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "bound on one connect and CONNACK")
	settle := fs.Duration("settle", 3*time.Second, "wait after the storm before the last readings")
	goroutines := fs.String("goroutines", "", "a Go broker's goroutine profile URL (net/http/pprof's /debug/pprof/goroutine?debug=1), for its goroutines before and after ('': skip)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *dur <= 0 {
		return fmt.Errorf("-n and -duration must be positive")
	}
	if c.timeout < *dur+*dialTimeout+*settle+5*time.Second {
		c.timeout = *dur + *dialTimeout + *settle + 30*time.Second
	}
	requested := *n
	if lim, _ := raiseNoFile(); lim > 0 && uint64(*n)+64 > lim {
		*n = int(lim) - 64 // the tool's own descriptors: stdio, epoll, the runtime
	}
	ctx, cancel := c.context()
	defer cancel()
	out := c.human()
	id := runID()
	res := newResult("storm", &c, fmt.Sprintf("storm v%d n=%d %v", c.version, requested, *dur),
		map[string]any{"n": requested, "clients": *n, "duration_s": dur.Seconds()})
	if *n != requested {
		res.Errors = append(res.Errors, fmt.Sprintf("descriptor limit: %d clients instead of %d", *n, requested))
	}
	stats := func(prefix string) {
		if *pid == 0 {
			return
		}
		s, err := readProcStats(*pid)
		if err != nil {
			res.Errors = append(res.Errors, prefix+": "+err.Error())
			return
		}
		res.Figures[prefix+"_rss_bytes"] = float64(s.rss)
		res.Figures[prefix+"_fds"] = float64(s.fds)
		res.Figures[prefix+"_threads"] = float64(s.threads)
		if *goroutines != "" {
			if g, err := readGoroutines(*goroutines); err != nil {
				res.Errors = append(res.Errors, prefix+": "+err.Error())
			} else {
				res.Figures[prefix+"_goroutines"] = float64(g)
			}
		}
	}
	stats("before")

	peaks := samplePeaks(*pid, 250*time.Millisecond)
	var cycles, failed atomic.Int64
	var errMu sync.Mutex
	var errs []string
	stopAt := time.Now().Add(*dur)
	start := time.Now()
	opts := dialOpts{bufSize: 256}
	var wg sync.WaitGroup
	for w := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stopAt) && ctx.Err() == nil; i++ {
				dl := time.Now().Add(*dialTimeout)
				m, err := opts.dial(ctx, c.addr, c.protoVersion(), fmt.Sprintf("lg%s-w%d-%d", id, w, i), 300, cleanSession, dl)
				if err != nil {
					if failed.Add(1) <= 5 {
						errMu.Lock()
						errs = append(errs, err.Error())
						errMu.Unlock()
					}
					time.Sleep(20 * time.Millisecond) // a refused dial must not spin
					continue
				}
				cycles.Add(1)
				stormLeave(m)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rssPeak, fdsPeak := peaks.done()
	if *pid != 0 {
		res.Figures["peak_rss_bytes"] = float64(rssPeak)
		res.Figures["peak_fds"] = float64(fdsPeak)
	}
	time.Sleep(*settle)
	stats("after")
	fig := res.Figures
	fig["cycles"] = float64(cycles.Load())
	fig["failed"] = float64(failed.Load())
	fig["cycles_per_s"] = rate(cycles.Load(), elapsed)
	if b, ok := fig["before_fds"]; ok {
		fig["fds_leaked"] = fig["after_fds"] - b
		fig["rss_after_ratio"] = fig["after_rss_bytes"] / fig["before_rss_bytes"]
		fig["threads_added"] = fig["after_threads"] - fig["before_threads"]
	}
	if b, ok := fig["before_goroutines"]; ok {
		if a, ok := fig["after_goroutines"]; ok {
			fig["goroutines_added"] = a - b
		}
	}
	// One more client after the storm: the broker must still serve.
	dl := time.Now().Add(*dialTimeout)
	if m, err := dialMQTT(ctx, c.addr, c.protoVersion(), "lg"+id+"-probe", 60, cleanSession, dl); err != nil {
		fig["probe_ok"] = 0
		errs = append(errs, "probe after the storm: "+err.Error())
	} else {
		fig["probe_ok"] = 1
		m.Disconnect(time.Second)
	}
	res.Errors = append(res.Errors, errs...)
	res.TimedOut = ctx.Err() != nil

	printf(out, "storm %s v%d: %d clients, %d connect/disconnect cycles in %v (%.0f/s), %d failed connects",
		c.label, c.version, *n, cycles.Load(), elapsed.Round(time.Millisecond), fig["cycles_per_s"], failed.Load())
	if *pid != 0 {
		printf(out, "storm %s: fds %v before, %v peak, %v after; RSS %s before, %s peak, %s after; threads %v before, %v after",
			c.label, fig["before_fds"], fig["peak_fds"], fig["after_fds"], mib(fig["before_rss_bytes"]),
			mib(fig["peak_rss_bytes"]), mib(fig["after_rss_bytes"]), fig["before_threads"], fig["after_threads"])
	}
	if v, ok := fig["goroutines_added"]; ok {
		printf(out, "storm %s: goroutines %v before, %v after (%+v)", c.label, fig["before_goroutines"], fig["after_goroutines"], v)
	}
	writeErrors(out, "storm "+c.label, res.Errors)
	return res.emit(&c)
}

// stormLeave disconnects m and waits briefly for the broker to close first;
// if it does not, the socket is reset rather than closed, so no TIME_WAIT
// holds the tool's port while thousands of clients cycle.
func stormLeave(m *mqttConn) {
	var d proto.Disconnect
	deadline := time.Now().Add(time.Second)
	m.NetConn().SetDeadline(deadline)
	if m.Encode(func(b []byte) []byte { return d.Append(b, m.Version()) }, true) == nil {
		var buf [64]byte
		for {
			if _, err := m.NetConn().Read(buf[:]); err != nil {
				if isTimeout(err) {
					if tc, ok := m.NetConn().(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
				}
				break
			}
		}
	}
	m.Close()
}

// isTimeout reports whether err is a deadline rather than a refusal.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
