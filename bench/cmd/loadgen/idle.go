package main

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle opens N connections that then sit idle, to measure how fast the
// broker accepts them and how much memory each costs it.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 1000, "connections to open (the tool holds them too: keep under its descriptor limit)")
	pid := fs.Int("pid", 0, "broker process id, to read its VmRSS from /proc (0: skip memory figures)")
	hold := fs.Duration("hold", 3*time.Second, "how long to hold the connections before measuring")
	settle := fs.Duration("settle", 2*time.Second, "wait after closing before the last RSS reading")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	if lim, _ := raiseNoFile(); lim > 0 && uint64(*n)+64 > lim {
		return fmt.Errorf("-n %d needs more descriptors than this process may open (%d)", *n, lim)
	}
	ctx, cancel := c.context()
	defer cancel()
	deadline, _ := ctx.Deadline()
	out := c.human()
	id := runID()

	res := newResult("idle", &c, fmt.Sprintf("idle v%d n=%d", c.version, *n), map[string]any{"n": *n})
	rss := func(key string) {
		if *pid == 0 {
			return
		}
		v, err := readRSS(*pid)
		if err != nil {
			res.Errors = append(res.Errors, "rss: "+err.Error())
			return
		}
		res.Figures[key] = float64(v)
	}

	rss("rss_before_bytes")
	conns := make([]*mqttConn, *n)
	lat := make([]int64, *n)
	var failed atomic.Int64
	var errMu sync.Mutex
	start := time.Now()
	// Keep dialling past failures: a refused connection is a figure here,
	// not a reason to stop.
	parallel(*n, c.concurrency, func(i int) error {
		t := time.Now()
		m, err := dialMQTT(ctx, c.addr, c.protoVersion(), fmt.Sprintf("lg%s-i%d", id, i), 300, cleanSession, deadline)
		if err != nil {
			if failed.Add(1) <= 5 {
				errMu.Lock()
				res.Errors = append(res.Errors, err.Error())
				errMu.Unlock()
			}
			return nil
		}
		lat[i] = int64(time.Since(t))
		conns[i] = m
		return nil
	})
	elapsed := time.Since(start)
	connected := int64(*n) - failed.Load()
	rss("rss_connected_bytes")

	times := lat[:0]
	for i, m := range conns {
		if m != nil {
			times = append(times, lat[i])
		}
	}
	p50, p99, maxLat := latencySummary(times)
	res.Figures["connected"] = float64(connected)
	res.Figures["failed"] = float64(failed.Load())
	res.Figures["connect_s"] = elapsed.Seconds()
	res.Figures["connect_per_s"] = rate(connected, elapsed)
	res.Figures["connect_p50_ms"] = ms(p50)
	res.Figures["connect_p99_ms"] = ms(p99)
	printf(out, "idle %s v%d: %d connected, %d failed in %v: %.0f conn/s, connect p50 %v p99 %v max %v",
		c.label, c.version, connected, failed.Load(), elapsed.Round(time.Millisecond),
		res.Figures["connect_per_s"], p50.Round(time.Microsecond), p99.Round(time.Microsecond), maxLat.Round(time.Microsecond))

	select {
	case <-time.After(*hold):
	case <-ctx.Done():
		res.TimedOut = true
	}
	rss("rss_held_bytes")
	if before, ok := res.Figures["rss_before_bytes"]; ok && connected > 0 {
		if held, ok := res.Figures["rss_held_bytes"]; ok {
			res.Figures["rss_per_conn_bytes"] = (held - before) / float64(connected)
			printf(out, "idle %s v%d: broker RSS %s before, %s connected, %s after holding %v: %.0f B per connection",
				c.label, c.version, mib(before), mib(res.Figures["rss_connected_bytes"]), mib(held), *hold,
				res.Figures["rss_per_conn_bytes"])
		}
	}

	// Close in parallel, each waiting briefly for the broker to hang up first.
	parallel(*n, c.concurrency*5, func(i int) error {
		if conns[i] != nil {
			conns[i].Disconnect(2 * time.Second)
		}
		return nil
	})
	time.Sleep(*settle)
	rss("rss_after_close_bytes")
	if v, ok := res.Figures["rss_after_close_bytes"]; ok {
		if before := res.Figures["rss_before_bytes"]; before > 0 {
			res.Figures["rss_after_ratio"] = v / before
		}
		printf(out, "idle %s v%d: broker RSS %s %v after closing all", c.label, c.version, mib(v), *settle)
	}
	for _, e := range res.Errors {
		printf(out, "idle %s: error: %s", c.label, e)
	}
	if err := res.emit(&c); err != nil {
		return err
	}
	if connected == 0 {
		return fmt.Errorf("no connection succeeded")
	}
	return nil
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
