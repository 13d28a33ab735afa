package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// sysDroppedTopic is where both Loom and Mosquitto publish the count of
// messages they dropped (session/sys.go; Mosquitto's $SYS tree).
const sysDroppedTopic = "$SYS/broker/publish/messages/dropped"

// mochiDroppedTopic is Mochi MQTT's name for the same count
// (server.go, publishSysTopics, every second); the watcher files it under
// sysDroppedTopic.
const mochiDroppedTopic = "$SYS/broker/messages/dropped"

// runSlow is pubsub's shape with, optionally, one more subscriber that
// receives every topic of the run and never reads its socket. Run it with
// and without -slow: the healthy clients' throughput should hardly differ,
// the broker's memory should stay bounded, and its drops should show in
// $SYS.
func runSlow(args []string) error {
	fs := flag.NewFlagSet("slow", flag.ContinueOnError)
	var f trafficFlags
	f.register(fs, 5000)
	clients := fs.Int("clients", 100, "healthy clients, each a publisher and a subscriber of its own topic")
	slow := fs.Bool("slow", true, "add the subscriber that never reads")
	reads := fs.Bool("reads", false, "the extra subscriber reads everything it is sent (with -slow): the baseline for what a stalled reader costs beyond one more subscriber of every topic")
	rcvBuf := fs.Int("slow-rcvbuf", 4096, "socket receive buffer of the slow subscriber (the kernel doubles it)")
	pid := fs.Int("pid", 0, "broker process id, for its RSS (0: skip memory figures)")
	sysWait := fs.Duration("sys-wait", 11*time.Second, "after the traffic, wait up to this long for a fresh "+sysDroppedTopic)
	settle := fs.Duration("settle", 2*time.Second, "wait after the slow subscriber leaves before the last RSS reading")
	release := fs.Duration("release", 250*time.Millisecond, "wait after the slow subscriber leaves before reading what the broker gave back (at most -settle)")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *clients < 1 {
		return fmt.Errorf("-clients must be at least 1")
	}
	if f.timeout < *sysWait+30*time.Second {
		f.timeout = *sysWait + 30*time.Second
	}
	ctx, cancel := f.context()
	defer cancel()
	deadline, _ := ctx.Deadline()
	out := f.human()
	id := runID()
	t := f.pairs(id, *clients)
	with := "without"
	if *slow {
		with = "with"
	}
	if *slow && *reads {
		with = "with a reading subscriber in place of the"
	}
	res := newResult("slow", &f.common,
		fmt.Sprintf("slow v%d qos%d clients=%d n=%d %s slow consumer", f.version, f.qos, *clients, f.n, with),
		f.params(map[string]any{"clients": *clients, "slow": *slow, "reads": *slow && *reads}))
	fig := res.Figures

	mon, err := watchSys(ctx, f.addr, f.protoVersion(), "lg"+id+"-sys", deadline)
	if err != nil {
		return fmt.Errorf("$SYS watcher: %w", err)
	}
	defer mon.close()
	var sc *mqttConn
	if *slow {
		o := dialOpts{bufSize: 4096, rcvBuf: *rcvBuf}
		if *reads {
			o = dialOpts{bufSize: 4096} // a reader like the healthy ones
		}
		sc, err = o.dial(ctx, f.addr, f.protoVersion(), "lg"+id+"-slow", 300, cleanSession, deadline)
		if err != nil {
			return fmt.Errorf("slow subscriber: %w", err)
		}
		defer sc.Close()
		if _, err := sc.Subscribe("bench/"+id+"/#", byte(f.qos), deadline); err != nil {
			return fmt.Errorf("slow subscriber: %w", err)
		}
		if *reads {
			go drain(sc)
		}
	}
	if *pid != 0 {
		if v, err := readRSS(*pid); err == nil {
			fig["rss_before_bytes"] = float64(v)
		}
	}
	dropped0, _ := mon.value(sysDroppedTopic)

	peaks := samplePeaks(*pid, 100*time.Millisecond)
	r, err := runTraffic(ctx, t)
	rssPeak, _ := peaks.done()
	if err != nil {
		return err
	}
	trafficEnd := time.Now()
	reportTraffic(&f, t, res, r)
	if *pid != 0 {
		fig["rss_peak_bytes"] = float64(rssPeak)
		if v, err := readRSS(*pid); err == nil {
			fig["rss_during_bytes"] = float64(v) // traffic over, the slow subscriber still there
		}
	}
	if *slow && *sysWait > 0 {
		mon.waitFresh(ctx, sysDroppedTopic, trafficEnd, *sysWait)
	}
	if v, ok := mon.value(sysDroppedTopic); ok {
		fig["sys_dropped"] = v - dropped0
		fig["sys_dropped_total"] = v
	}
	// RSS just before the extra subscriber leaves: not rss_during, read
	// before the wait for $SYS, in which Go's scavenger may give back idle
	// heap that would then count as the subscriber's.
	leaving, leavingOK := 0.0, false
	if *pid != 0 {
		if v, err := readRSS(*pid); err == nil {
			leaving, leavingOK = float64(v), true
		}
	}
	if sc != nil {
		sc.Close()
		sc = nil
	}
	wait := min(*release, *settle)
	if *pid != 0 {
		// What the extra subscriber held, read as what the broker gives back
		// when it leaves: soon after, before Go's scavenger returns idle heap
		// on its own schedule, which would count here too. A stalled
		// reader's holding only grows, so at the end of the traffic it is
		// at its largest.
		time.Sleep(wait)
		if v, err := readRSS(*pid); err == nil {
			fig["rss_left_bytes"] = float64(v)
			if leavingOK {
				fig["rss_released_bytes"] = leaving - float64(v)
			}
		}
		time.Sleep(*settle - wait)
		if v, err := readRSS(*pid); err == nil {
			fig["rss_after_bytes"] = float64(v)
		}
	}
	if *pid != 0 {
		printf(out, "slow %s: broker RSS %s before, %s peak, %s with the traffic over, %s given back in the %v after the extra subscriber (if any) left, %s after %v",
			f.label, mib(fig["rss_before_bytes"]), mib(fig["rss_peak_bytes"]), mib(fig["rss_during_bytes"]),
			mib(fig["rss_released_bytes"]), wait, mib(fig["rss_after_bytes"]), *settle)
	}
	if v, ok := fig["sys_dropped"]; ok {
		printf(out, "slow %s: %s rose by %.0f during the run (now %.0f)", f.label, sysDroppedTopic, v, fig["sys_dropped_total"])
	} else {
		printf(out, "slow %s: no %s seen", f.label, sysDroppedTopic)
	}
	return res.emit(&f.common)
}

// drain reads and discards c's packets until its connection ends, acking
// none: the extra subscriber of -reads runs at QoS 0.
func drain(c *mqttConn) {
	for {
		if _, _, err := c.ReadFrame(); err != nil {
			return
		}
	}
}

// sysWatch holds the latest value of every numeric $SYS topic a broker
// published to one subscriber of $SYS/#.
type sysWatch struct {
	c    *mqttConn
	mu   sync.Mutex
	vals map[string]float64
	at   map[string]time.Time
	done chan struct{}
}

func watchSys(ctx context.Context, addr string, v proto.Version, clientID string, deadline time.Time) (*sysWatch, error) {
	c, err := dialMQTT(ctx, addr, v, clientID, 300, cleanSession, deadline)
	if err != nil {
		return nil, err
	}
	if _, err := c.Subscribe("$SYS/#", 0, deadline); err != nil {
		c.Close()
		return nil, err
	}
	w := &sysWatch{c: c, vals: map[string]float64{}, at: map[string]time.Time{}, done: make(chan struct{})}
	go w.read()
	// Retained values arrive right after the SUBACK; give them a moment so
	// the starting value of a counter is known.
	time.Sleep(200 * time.Millisecond)
	return w, nil
}

func (w *sysWatch) read() {
	defer close(w.done)
	for {
		h, body, err := w.c.ReadFrame()
		if err != nil {
			return
		}
		if h.Type != proto.PUBLISH {
			continue
		}
		var p proto.Publish
		if p.Decode(h, body, w.c.Version()) != nil {
			return
		}
		v, err := strconv.ParseFloat(string(p.Payload), 64)
		if err != nil {
			continue
		}
		topic := string(p.Topic)
		if topic == mochiDroppedTopic {
			topic = sysDroppedTopic
		}
		w.mu.Lock()
		w.vals[topic] = v
		w.at[topic] = time.Now()
		w.mu.Unlock()
	}
}

func (w *sysWatch) value(topic string) (float64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.vals[topic]
	return v, ok
}

// waitFresh waits, up to max, for topic to be published after since.
func (w *sysWatch) waitFresh(ctx context.Context, topic string, since time.Time, max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) && ctx.Err() == nil {
		w.mu.Lock()
		at := w.at[topic]
		w.mu.Unlock()
		if at.After(since) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *sysWatch) close() {
	w.c.Disconnect(time.Second)
	<-w.done
}
