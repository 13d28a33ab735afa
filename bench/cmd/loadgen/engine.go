package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// base is the clock every timestamp is taken against: publisher and
// subscriber live in this process, so one monotonic origin makes a payload's
// send time comparable with its arrival time.
var base = time.Now()

func now() int64 { return int64(time.Since(base)) }

// stampSize is the timestamp at the head of every payload.
const stampSize = 8

// traffic describes one publish/subscribe run: who subscribes to which topic
// and who publishes how much to which. fanout and pubsub are two shapes of it.
type traffic struct {
	addr        string
	v           proto.Version
	qos         byte
	size        int           // payload bytes, at least stampSize
	perPub      int           // messages each publisher sends
	rate        float64       // per publisher, messages/s; 0 = as fast as possible
	window      int           // QoS 1/2 messages in flight per publisher
	concurrency int           // connections dialled at once during setup
	grace       time.Duration // wait for stragglers once deliveries stop
	subTopics   []string      // one subscriber connection per entry
	pubTopics   []string      // one publisher connection per entry
	idPrefix    string
	// subSession is the subscribers' kind of session; a persistent one is
	// removed again once the run ends.
	subSession sessionKind
}

// subscriberID is the client id of subscriber i; the run's prefix keeps it
// apart from the sessions of any other run.
func (t *traffic) subscriberID(i int) string { return fmt.Sprintf("%s-s%d", t.idPrefix, i) }

// expected is the number of deliveries a loss-free broker makes.
func (t *traffic) expected() int64 {
	subs := map[string]int64{}
	for _, s := range t.subTopics {
		subs[s]++
	}
	var n int64
	for _, p := range t.pubTopics {
		n += int64(t.perPub) * subs[p]
	}
	return n
}

type trafficResult struct {
	setup       time.Duration // dialling and subscribing everyone
	expected    int64
	published   int64
	pubElapsed  time.Duration // first publish to the last publisher done (acks included)
	received    int64
	recvElapsed time.Duration // first publish to the last delivery
	latencies   []int64       // publish-to-delivery, nanoseconds
	window      int           // QoS 1/2 in flight per publisher, after the broker's Receive Maximum
	timedOut    bool
	errs        []string
}

type subscriber struct {
	c    *mqttConn
	lat  []int64
	last atomic.Int64 // time of the latest delivery
	err  error
}

type publisher struct {
	c        *mqttConn
	topic    []byte
	slots    chan struct{} // one token per QoS 1/2 message in flight
	inflight []atomic.Bool // by packet id
	nextID   uint16
	sent     atomic.Int64
	end      int64
	err      error // from publish
	ackErr   error // from readAcks, before the run stopped
}

// runTraffic connects everyone, subscribes, lets all publishers go at once
// and waits until every expected message arrived, deliveries stopped for
// t.grace, or ctx ends.
func runTraffic(ctx context.Context, t *traffic) (*trafficResult, error) {
	res := &trafficResult{expected: t.expected()}
	deadline, _ := ctx.Deadline()
	setupStart := time.Now()

	subs := make([]*subscriber, len(t.subTopics))
	pubs := make([]*publisher, len(t.pubTopics))
	var allConns []*mqttConn
	var connMu sync.Mutex
	setupDone := false
	keep := func(c *mqttConn) { connMu.Lock(); allConns = append(allConns, c); connMu.Unlock() }
	defer func() {
		// Reached only on a setup failure: the happy path closes below.
		for _, c := range allConns {
			c.Close()
		}
		if t.subSession == persistentSession && !setupDone {
			t.removeSubSessions() // best effort; the run already failed
		}
	}()

	var windowClamped atomic.Int64
	perSubCap := int(min(res.expected/int64(max(len(subs), 1))+16, 1<<20))
	err := parallel(len(subs)+len(pubs), t.concurrency, func(i int) error {
		if i < len(subs) {
			c, err := dialMQTT(ctx, t.addr, t.v, t.subscriberID(i), 300, t.subSession, deadline)
			if err != nil {
				return err
			}
			keep(c)
			if _, err := c.Subscribe(t.subTopics[i], t.qos, deadline); err != nil {
				return err
			}
			subs[i] = &subscriber{c: c, lat: make([]int64, 0, perSubCap)}
			return nil
		}
		i -= len(subs)
		c, err := dialMQTT(ctx, t.addr, t.v, fmt.Sprintf("%s-p%d", t.idPrefix, i), 300, cleanSession, deadline)
		if err != nil {
			return err
		}
		keep(c)
		p := &publisher{c: c, topic: []byte(t.pubTopics[i])}
		if t.qos > 0 {
			w := t.window
			if c.recvMax > 0 && c.recvMax < w {
				w = c.recvMax
				windowClamped.Store(int64(w))
			}
			p.slots = make(chan struct{}, w)
			p.inflight = make([]atomic.Bool, 1<<16)
		}
		pubs[i] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	setupDone = true
	res.setup = time.Since(setupStart)
	res.window = t.window
	if w := windowClamped.Load(); w > 0 {
		res.window = int(w)
	}

	// A reader that ends before stopping is set lost its connection
	// mid-run, which the result must say; after it, ending is the plan.
	var received atomic.Int64
	var stopping atomic.Bool
	var readers sync.WaitGroup
	for _, s := range subs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			if err := s.read(t.v, &received); !stopping.Load() {
				s.err = err
			}
		}()
	}
	for _, p := range pubs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			p.readAcks(t.qos)
			if stopping.Load() {
				p.ackErr = nil
			}
		}()
	}

	start := make(chan struct{})
	var pubsDone sync.WaitGroup
	for _, p := range pubs {
		pubsDone.Add(1)
		go func() { defer pubsDone.Done(); p.err = p.publish(ctx, t, start) }()
	}
	allPublished := make(chan struct{})
	go func() { pubsDone.Wait(); close(allPublished) }()

	t0 := now()
	close(start)
	res.timedOut = waitDeliveries(ctx, &received, res.expected, allPublished, t.grace)

	// Stop: ask every connection to leave, give the broker a moment to close
	// its side (TIME_WAIT then lands there), then close ours.
	for _, p := range pubs {
		p.c.NetConn().SetDeadline(time.Now().Add(2 * time.Second)) // unblocks a publisher stuck on a full socket
	}
	<-allPublished
	stopping.Store(true)
	linger := time.Now().Add(2 * time.Second)
	for _, c := range allConns {
		c.NetConn().SetWriteDeadline(linger)
		var d proto.Disconnect
		c.Encode(func(b []byte) []byte { return d.Append(b, c.Version()) }, true)
		c.NetConn().SetReadDeadline(linger)
	}
	readers.Wait()
	for _, c := range allConns {
		c.Close()
	}
	allConns = nil
	if t.subSession == persistentSession {
		// After the close, so that each clean start finds its session
		// detached rather than taking over a live connection.
		res.errs = append(res.errs, t.removeSubSessions()...)
	}

	res.received = received.Load()
	lastDelivery := t0
	for i, s := range subs {
		lastDelivery = max(lastDelivery, s.last.Load())
		res.latencies = append(res.latencies, s.lat...)
		if s.err != nil && len(res.errs) < 5 {
			res.errs = append(res.errs, fmt.Sprintf("subscriber %d: %v", i, s.err))
		}
	}
	lastPub := t0
	for _, p := range pubs {
		res.published += p.sent.Load()
		lastPub = max(lastPub, p.end)
		for _, err := range []error{p.err, p.ackErr} {
			if err != nil && len(res.errs) < 5 {
				res.errs = append(res.errs, "publisher: "+err.Error())
			}
		}
	}
	res.pubElapsed = time.Duration(lastPub - t0)
	res.recvElapsed = time.Duration(lastDelivery - t0)
	return res, nil
}

// removeSubSessions discards the subscribers' stored sessions, so that
// repeated runs do not grow the broker's store.
func (t *traffic) removeSubSessions() []string {
	ids := make([]string, len(t.subTopics))
	for i := range ids {
		ids[i] = t.subscriberID(i)
	}
	return removeSessions(t.addr, t.v, ids, t.concurrency, 30*time.Second)
}

// waitDeliveries returns when all expected messages arrived, or publishing
// is over and nothing arrived for grace, or ctx ends (then it reports true).
func waitDeliveries(ctx context.Context, received *atomic.Int64, expected int64, allPublished <-chan struct{}, grace time.Duration) (timedOut bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-tick.C:
		}
		n := received.Load()
		if n != last {
			last, lastChange = n, time.Now()
		}
		select {
		case <-allPublished:
			if n >= expected || time.Since(lastChange) >= grace {
				return false
			}
		default:
		}
	}
}

// read consumes deliveries until the connection ends, acknowledging QoS 1
// and 2 and timing each message from its payload stamp.
func (s *subscriber) read(v proto.Version, received *atomic.Int64) error {
	c := s.c
	for {
		h, body, err := c.ReadFrame()
		if err != nil {
			return err
		}
		switch h.Type {
		case proto.PUBLISH:
			var p proto.Publish
			if err := p.Decode(h, body, v); err != nil {
				return err
			}
			t := now()
			if len(p.Payload) >= stampSize {
				s.lat = append(s.lat, t-int64(binary.BigEndian.Uint64(p.Payload)))
			}
			s.last.Store(t)
			received.Add(1)
			switch p.QoS {
			case 1:
				err = c.QueueAck(proto.PUBACK, p.PacketID)
			case 2:
				err = c.QueueAck(proto.PUBREC, p.PacketID)
			}
		case proto.PUBREL:
			err = c.QueueAck(proto.PUBCOMP, packetID(body))
		}
		if err == nil {
			err = c.FlushIfIdle()
		}
		if err != nil {
			return err
		}
	}
}

// publish sends t.perPub messages once start closes, pacing to t.rate if
// set, and for QoS 1/2 returns only when every message is acknowledged.
func (p *publisher) publish(ctx context.Context, t *traffic, start <-chan struct{}) error {
	payload := make([]byte, max(t.size, stampSize))
	<-start
	t0 := now()
	var interval int64
	if t.rate > 0 {
		interval = int64(float64(time.Second) / t.rate)
	}
	for i := 0; i < t.perPub; i++ {
		if ctx.Err() != nil {
			break
		}
		if interval > 0 {
			if wait := t0 + int64(i)*interval - now(); wait > 0 {
				if err := p.c.Flush(); err != nil {
					return err
				}
				time.Sleep(time.Duration(wait))
			}
		}
		var id uint16
		if t.qos > 0 {
			if err := p.acquire(ctx); err != nil {
				break
			}
			id = p.nextFreeID()
		}
		binary.BigEndian.PutUint64(payload, uint64(now()))
		m := proto.Publish{QoS: t.qos, Topic: p.topic, PacketID: id, Payload: payload}
		if err := p.c.Encode(func(b []byte) []byte { return m.Append(b, p.c.Version()) }, interval > 0); err != nil {
			return err
		}
		p.sent.Add(1)
	}
	if err := p.c.Flush(); err != nil {
		return err
	}
	if t.qos > 0 {
		// Taking every slot means every message in flight was acknowledged.
		for range cap(p.slots) {
			if err := p.acquire(ctx); err != nil {
				return err
			}
		}
	}
	p.end = now()
	return ctx.Err()
}

// acquire takes an in-flight slot, flushing first if it has to wait: the
// acks it waits for answer messages that may still sit in our buffer.
func (p *publisher) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	if err := p.c.Flush(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nextFreeID picks the next packet id not in flight. The window is far below
// 65,535, so the search ends within window+1 steps.
func (p *publisher) nextFreeID() uint16 {
	for {
		p.nextID++
		if p.nextID == 0 {
			p.nextID = 1
		}
		if !p.inflight[p.nextID].Load() {
			p.inflight[p.nextID].Store(true)
			return p.nextID
		}
	}
}

// readAcks completes the publisher's QoS 1/2 flows; for QoS 0 it only drains
// whatever the broker might send.
func (p *publisher) readAcks(qos byte) {
	c := p.c
	for {
		h, body, err := c.ReadFrame()
		if err != nil {
			p.ackErr = err
			return
		}
		var a proto.Ack
		switch h.Type {
		case proto.PUBACK, proto.PUBREC, proto.PUBCOMP:
			if err := a.Decode(h, body, c.Version()); err != nil {
				p.ackErr = err
				return
			}
		}
		id := a.PacketID
		done := false
		switch {
		case h.Type == proto.PUBACK && qos == 1, h.Type == proto.PUBCOMP && qos == 2:
			done = true
		case h.Type == proto.PUBREC && qos == 2:
			// A v5 PUBREC with a failure reason ends the flow without PUBREL.
			if a.Reason >= 0x80 {
				done = true
			} else if err := c.QueueAck(proto.PUBREL, id); err != nil {
				return
			}
		}
		if done && id != 0 && p.inflight[id].CompareAndSwap(true, false) {
			<-p.slots
		}
		if err := c.FlushIfIdle(); err != nil {
			return
		}
	}
}

// packetID reads the packet identifier that opens the variable header of an
// acknowledgement; zero if the body is too short.
func packetID(body []byte) uint16 {
	if len(body) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(body)
}

// parallel calls fn(0..n-1) with at most conc calls at once and returns the
// first error; after an error it starts no new calls.
func parallel(n, conc int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(max(conc, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
