package main

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runExhaust floods a broker whose open-file limit is below the client
// count: the excess must be refused (closed, or left unanswered) while the
// broker stays up, and once the flood leaves, new clients must get in again.
func runExhaust(args []string) error {
	fs := flag.NewFlagSet("exhaust", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 2000, "clients of the flood, all held at once")
	after := fs.Int("after", 500, "clients connected once the flood has left (keep below the broker's limit)")
	pid := fs.Int("pid", 0, "broker process id: is it alive, how many descriptors it holds (0: skip)")
	limit := fs.Int("limit", 0, "the broker's open-file limit, carried into the JSON for the report")
	dialTimeout := fs.Duration("dial-timeout", 5*time.Second, "bound on one connect and CONNACK: past it a client counts as not served")
	settle := fs.Duration("settle", 2*time.Second, "wait after the flood leaves before reconnecting")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *after < 1 {
		return fmt.Errorf("-n and -after must be positive")
	}
	if lim, _ := raiseNoFile(); lim > 0 && uint64(*n)+64 > lim {
		return fmt.Errorf("-n %d needs more descriptors than this process may open (%d)", *n, lim)
	}
	ctx, cancel := c.context()
	defer cancel()
	out := c.human()
	id := runID()
	res := newResult("exhaust", &c, fmt.Sprintf("exhaust v%d n=%d limit=%d", c.version, *n, *limit),
		map[string]any{"n": *n, "after": *after, "limit": *limit})
	fig := res.Figures

	// connectAll dials count clients at once and keeps those that got in.
	connectAll := func(count int, tag string) (conns []*mqttConn, refused, timedOut int64) {
		conns = make([]*mqttConn, count)
		var ref, to atomic.Int64
		var errMu sync.Mutex
		parallel(count, c.concurrency, func(i int) error {
			dl := time.Now().Add(*dialTimeout)
			m, err := dialOpts{bufSize: 512}.dial(ctx, c.addr, c.protoVersion(), fmt.Sprintf("lg%s-%s%d", id, tag, i), 300, cleanSession, dl)
			if err != nil {
				if isTimeout(err) {
					to.Add(1)
				} else {
					ref.Add(1)
				}
				errMu.Lock()
				if len(res.Errors) < 6 {
					res.Errors = append(res.Errors, tag+": "+err.Error())
				}
				errMu.Unlock()
				return nil
			}
			conns[i] = m
			return nil
		})
		return conns, ref.Load(), to.Load()
	}
	leaveAll := func(conns []*mqttConn) {
		parallel(len(conns), 1000, func(i int) error {
			if conns[i] != nil {
				conns[i].Disconnect(time.Second)
			}
			return nil
		})
	}
	count := func(conns []*mqttConn) (k int64) {
		for _, m := range conns {
			if m != nil {
				k++
			}
		}
		return k
	}

	peaks := samplePeaks(*pid, 10*time.Millisecond)
	flood, refused, timedOut := connectAll(*n, "f")
	_, fdsPeak := peaks.done()
	fig["flood_connected"] = float64(count(flood))
	fig["flood_refused"] = float64(refused)
	fig["flood_timed_out"] = float64(timedOut)
	fig["flood_not_served"] = float64(refused + timedOut)
	aliveFlood := *pid == 0 || alive(*pid)
	if *pid != 0 {
		if s, err := readProcStats(*pid); err == nil {
			fig["held_fds"] = float64(s.fds) // the flood still connected
			fdsPeak = max(fdsPeak, s.fds)
		}
		fig["peak_fds"] = float64(fdsPeak)
	}
	leaveAll(flood)
	time.Sleep(*settle)

	again, _, _ := connectAll(*after, "a")
	fig["after_connected"] = float64(count(again))
	leaveAll(again)
	aliveEnd := *pid == 0 || alive(*pid)
	fig["alive"] = b2f(aliveFlood && aliveEnd)
	pass := refused+timedOut > 0 && aliveFlood && aliveEnd && count(again) == int64(*after)
	fig["pass"] = b2f(pass)
	res.TimedOut = ctx.Err() != nil

	printf(out, "exhaust %s v%d (limit %d): flood of %d: %v connected, %d refused, %d timed out; peak fds %v",
		c.label, c.version, *limit, *n, fig["flood_connected"], refused, timedOut, fig["peak_fds"])
	printf(out, "exhaust %s: after the flood left, %v of %d connected; broker alive: %v; pass: %v",
		c.label, fig["after_connected"], *after, aliveFlood && aliveEnd, pass)
	writeErrors(out, "exhaust "+c.label, res.Errors)
	return res.emit(&c)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
