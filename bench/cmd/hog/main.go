// Command hog measures what one subscriber that takes everything and
// acknowledges nothing costs a broker (issue 15, defect 1).
//
// The hog(s) subscribe to "#" at QoS 1 and then never read their socket
// again (a receive buffer of 4 KiB, so the kernel absorbs little), or, with
// -offline, leave a persistent session behind, so the broker queues for an
// absent client. Meanwhile a big publisher sends -size QoS 1 messages to
// big/t with -window of them unacknowledged, as fast as the broker takes
// them, and a healthy pair exchanges small QoS 1 messages on healthy/t at
// -healthy-rate a second. The tool samples the broker's VmRSS (-pid) every
// 100 ms, counts the big publisher's PUBACKs by reason code and per second,
// and checks that the healthy subscriber keeps receiving. At the end it
// reads the broker's $SYS drop and held-bytes counters, prints a summary on
// stderr and one JSON line on stdout.
//
//	hog -addr 127.0.0.1:PORT -pid BROKER_PID [-v 5] [-offline] [-hogs 1]
//	hog table results.jsonl   # a markdown table of JSON lines
//	hog freeport              # a free port on 127.0.0.1 (never 1883)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "table":
			if err := runTable(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "hog table:", err)
				os.Exit(1)
			}
			return
		case "freeport":
			if err := freeport(); err != nil {
				fmt.Fprintln(os.Stderr, "hog freeport:", err)
				os.Exit(1)
			}
			return
		}
	}
	os.Exit(run())
}

func runTable(files []string) error {
	if len(files) == 0 {
		return writeTable(os.Stdout, os.Stdin)
	}
	for _, f := range files {
		in, err := os.Open(f)
		if err != nil {
			return err
		}
		err = writeTable(os.Stdout, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func freeport() error {
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 1883 {
			fmt.Println(port)
			return nil
		}
	}
	return errors.New("no free port but 1883")
}

// defaultSize is the default big payload: about 1 MiB, and a whole PUBLISH
// of it to "big/t" still fits in a 1 MiB packet (the fixed header, topic,
// packet id and v5 property length add 14 bytes).
const defaultSize = 1<<20 - 64

// fitPayload is the largest QoS 1 payload to topic whose PUBLISH, with no
// properties, is at most maxPacket bytes in version v.
func fitPayload(maxPacket int, topic string, v proto.Version) int {
	p := proto.Publish{QoS: 1, Topic: []byte(topic)}
	empty := p.Size(v)
	// The remaining length's own size grows with the payload: take off the
	// most it can add (3 bytes), then add back while the packet still fits.
	n := max(maxPacket-empty-3, 0)
	buf := make([]byte, maxPacket+1) // Size reads only the length
	for n+1 <= maxPacket {
		p.Payload = buf[:n+1]
		if p.Size(v) > maxPacket {
			break
		}
		n++
	}
	return n
}

// hogRcvBuf is the SO_RCVBUF a hog asks for (the kernel doubles it).
const hogRcvBuf = 4096

func run() int {
	addr := flag.String("addr", "127.0.0.1:1883", "broker address")
	pid := flag.Int("pid", 0, "broker process id, for its VmRSS (/proc/PID/status); required")
	version := flag.Int("v", 5, "MQTT version of every client: 4 (3.1.1) or 5")
	size := flag.Int("size", defaultSize, "payload bytes of each big message (default 1 MiB less 64 bytes, so that the whole PUBLISH fits in a 1 MiB Maximum Packet Size, Loom's default; a v5 broker announcing less gets the most that fits)")
	window := flag.Int("window", 16, "big publisher's unacknowledged QoS 1 messages (at most the broker's Receive Maximum)")
	duration := flag.Duration("duration", 10*time.Second, "how long the publishers publish")
	offline := flag.Bool("offline", false, "hogs leave a persistent session (v5 Session Expiry 3600, 3.1.1 clean session 0) and disconnect, instead of staying connected and never reading")
	hogs := flag.Int("hogs", 1, "hog subscribers, each its own client id")
	healthyRate := flag.Float64("healthy-rate", 200, "healthy publisher's messages a second")
	drain := flag.Duration("drain", 2*time.Second, "after publishing, how long to wait for outstanding PUBACKs")
	sysWait := flag.Duration("sys-wait", time.Second, "at the end, read $SYS/# for this long, or until a fresh round of values has come (brokers publish every 10 s: 11s waits for one)")
	settle := flag.Duration("settle", time.Second, "after every client left, wait this long before the last RSS reading")
	maxRSS := flag.Int64("max-rss", 8192, "stop publishing early once the broker's VmRSS passes this many MiB (0: no cap), to spare the machine")
	label := flag.String("label", "", "the broker's name in the output")
	config := flag.String("config", "", "the configuration's name in the output")
	flag.Parse()

	if *pid <= 0 || (*version != 4 && *version != 5) || *size < 0 || *window < 1 || *hogs < 0 ||
		*duration <= 0 || *healthyRate <= 0 {
		fmt.Fprintln(os.Stderr, "hog: need -pid, -v 4 or 5, -window ≥ 1, -hogs ≥ 0, positive -duration and -healthy-rate")
		flag.Usage()
		return 2
	}
	// Every step below has its own bound; this one catches a bug.
	watchdog := time.AfterFunc(*duration+*drain+*sysWait+*settle+time.Minute, func() {
		fmt.Fprintln(os.Stderr, "hog: watchdog: the run did not end in time")
		os.Exit(3)
	})
	defer watchdog.Stop()

	v := proto.Version(*version)
	res := &Result{Label: *label, Config: *config, Version: *version, Size: *size, Window: *window,
		Hogs: *hogs, Offline: *offline, Duration: duration.Seconds(), BigReasons: map[string]int64{},
		Sys: map[string]string{}}
	fail := func(err error) int {
		res.Errors = append(res.Errors, err.Error())
		emit(res)
		return 1
	}
	before, err := readRSS(*pid)
	if err != nil {
		return fail(err)
	}
	res.RSSBefore = mib(before)
	smp := startSampler(*pid, 100*time.Millisecond, *maxRSS<<20)

	runID := fmt.Sprintf("hog%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	spec := func(name string) dialSpec {
		return dialSpec{addr: *addr, v: v, id: runID + "-" + name, clean: true, keepAlive: 60, readBuf: 64 << 10}
	}
	var toClose []*client
	closeAll := func() {
		for _, c := range toClose {
			c.stopReads()
			c.stopWrites()
			c.nc.Close()
		}
	}
	connectBy := time.Now().Add(10 * time.Second)

	// The healthy subscriber.
	hsub, err := dial(spec("healthy-sub"), connectBy)
	if err != nil {
		smp.stop()
		return fail(err)
	}
	toClose = append(toClose, hsub)
	if err := hsub.subscribe("healthy/#", 1, connectBy, nil); err != nil {
		closeAll()
		smp.stop()
		return fail(err)
	}

	// The hogs.
	hogSpec := func(i int) dialSpec {
		s := spec("hog" + strconv.Itoa(i))
		s.rcvBuf, s.readBuf = hogRcvBuf, 64
		if *offline {
			s.clean, s.persistent = false, true
		}
		return s
	}
	var hogConns []*client
	hogStop := make(chan struct{})
	for i := range *hogs {
		h, err := dial(hogSpec(i), connectBy)
		if err == nil {
			err = h.subscribe("#", 1, connectBy, nil)
			if err != nil {
				h.nc.Close()
			}
		}
		if err != nil {
			closeAll()
			smp.stop()
			return fail(err)
		}
		if *offline {
			h.disconnect()
			continue
		}
		// From here on it never reads; it only pings so that a broker
		// enforcing the keep-alive does not close it for silence.
		hogConns = append(hogConns, h)
		toClose = append(toClose, h)
		go h.pinger(20*time.Second, hogStop)
	}

	// The publishers.
	hpubSpec, bigSpec := spec("healthy-pub"), spec("big-pub")
	hpubConn, err := dial(hpubSpec, connectBy)
	if err != nil {
		closeAll()
		smp.stop()
		return fail(err)
	}
	bigConn, err := dial(bigSpec, connectBy)
	if err != nil {
		hpubConn.nc.Close()
		closeAll()
		smp.stop()
		return fail(err)
	}
	if bigConn.recvMax > 0 && bigConn.recvMax < *window {
		res.Errors = append(res.Errors, fmt.Sprintf("the broker's Receive Maximum %d is below -window %d: the big publisher uses %d",
			bigConn.recvMax, *window, bigConn.recvMax))
	}
	if bigConn.maxPacket > 0 {
		if fit := fitPayload(bigConn.maxPacket, "big/t", v); fit < *size {
			res.Errors = append(res.Errors, fmt.Sprintf("the broker's Maximum Packet Size is %d bytes: big payloads cut from %d to %d bytes",
				bigConn.maxPacket, *size, fit))
			*size = fit
			res.Size = fit
		}
	}
	bigPayload := make([]byte, *size)
	for i := range bigPayload {
		bigPayload[i] = byte('a' + i%26)
	}
	start := time.Now()
	hpub := &publisher{spec: hpubSpec, topic: "healthy/t", window: 100, rate: *healthyRate,
		payload: healthyPayload, drain: *drain, acks: newTimeline(start)}
	big := &publisher{spec: bigSpec, topic: "big/t", window: *window,
		payload: func(uint64) []byte { return bigPayload }, drain: *drain, acks: newTimeline(start)}
	sub := &subscriber{c: hsub, recv: newTimeline(start)}
	stop := make(chan struct{})
	subDone := make(chan struct{})
	go func() { defer close(subDone); sub.run() }()
	pubsDone := make(chan struct{}, 2)
	go func() { hpub.run(hpubConn, stop); pubsDone <- struct{}{} }()
	go func() { big.run(bigConn, stop); pubsDone <- struct{}{} }()

	timer := time.NewTimer(*duration)
	select {
	case <-timer.C:
	case <-smp.over:
		res.Capped = true
	case <-smp.gone:
		res.Gone = true
	}
	timer.Stop()
	close(stop)
	stopped := time.Now()
	res.Published = stopped.Sub(start).Seconds()
	<-pubsDone
	<-pubsDone
	// The last healthy messages are a round trip behind their PUBACKs.
	time.Sleep(200 * time.Millisecond)
	hsub.stopReads()
	hsub.stopWrites()
	<-subDone

	end, err := readRSS(*pid)
	peak, samples, serr := smp.stop()
	if err == nil {
		res.RSSEnd = mib(end)
		peak = max(peak, end)
	} else {
		res.Gone = true
		res.Errors = append(res.Errors, "at end: "+err.Error())
	}
	if serr != nil {
		res.Errors = append(res.Errors, "sampling: "+serr.Error())
	}
	res.RSSPeak, res.Samples, res.Growth = mib(peak), samples, mib(peak-before)

	res.BigSent, res.BigAborted, res.BigAcked = big.sent.Load(), big.aborted.Load(), big.acked.Load()
	for r, n := range big.reasons {
		res.BigReasons[reasonKey(byte(r))] = n
	}
	res.BigAckRate = big.acks.rates(stopped)
	res.BigAckGapMS = ms(big.acks.longestGap(stopped))
	res.BigLost = big.disconnects
	res.HealthySent, res.HealthySkipped, res.HealthyAcked = hpub.sent.Load(), hpub.skipped.Load(), hpub.acked.Load()
	res.HealthyReceived, res.HealthyDups = sub.received.Load(), sub.dups.Load()
	res.HealthyGapMS = ms(sub.recv.longestGap(stopped))
	res.HealthyP50MS = ms(percentile(sub.latency, 50))
	res.HealthyP99MS = ms(percentile(sub.latency, 99))
	res.HealthyMaxMS = ms(percentile(sub.latency, 100))
	res.HealthyLost = append(res.HealthyLost, hpub.disconnects...)
	if sub.err != nil {
		res.HealthyLost = append(res.HealthyLost, "subscriber: "+sub.err.Error())
	}

	if !res.Gone {
		sys, fresh, err := readSys(spec("sys"), *sysWait)
		res.Sys, res.SysFresh = sys, fresh
		if err != nil {
			res.Errors = append(res.Errors, "$SYS: "+err.Error())
		}
	}

	// Everybody leaves; an offline hog's session is removed by connecting
	// with a clean start (v5: and no session expiry), so the broker drops
	// its queue.
	close(hogStop)
	for _, h := range hogConns {
		h.disconnect()
	}
	hsub.disconnect()
	if *offline && !res.Gone {
		for i := range *hogs {
			s := hogSpec(i)
			s.clean, s.persistent = true, false
			c, err := dial(s, time.Now().Add(5*time.Second))
			if err != nil {
				res.Errors = append(res.Errors, "removing the offline session: "+err.Error())
				continue
			}
			// Resuming nothing, it is sent nothing; leave at once.
			c.disconnect()
		}
	}
	if !res.Gone {
		time.Sleep(*settle)
		if after, err := readRSS(*pid); err == nil {
			res.RSSAfter = mib(after)
		}
	}
	emit(res)
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// emit writes the summary on stderr and the JSON line on stdout.
func emit(r *Result) {
	r.summary(os.Stderr)
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hog:", err)
		return
	}
	os.Stdout.Write(append(b, '\n'))
}
