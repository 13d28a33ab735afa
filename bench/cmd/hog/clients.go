package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// publisher sends QoS 1 messages to one topic, either as fast as its window
// of unacknowledged messages allows (rate 0) or rate a second (a tick whose
// window is full is skipped and counted). When the broker closes the
// connection before the run ends it reconnects, clean, and goes on.
type publisher struct {
	spec    dialSpec
	topic   string
	window  int
	rate    float64
	payload func(seq uint64) []byte
	drain   time.Duration // after stop, how long to wait for outstanding acks

	sent    atomic.Int64
	skipped atomic.Int64 // paced ticks with the window full
	aborted atomic.Int64 // writes cut off mid-packet by the end of the run
	acked   atomic.Int64
	acks    *timeline // set before run

	mu          sync.Mutex
	reasons     map[proto.ReasonCode]int64
	disconnects []string // why each connection ended before the run did
	seq         uint64
}

// run publishes until stop is closed, then waits up to drain for the
// outstanding acknowledgements and disconnects. c is the first connection.
func (p *publisher) run(c *client, stop <-chan struct{}) {
	p.reasons = map[proto.ReasonCode]int64{}
	for {
		lost := p.session(c, stop)
		if lost == nil {
			return
		}
		p.note(lost.Error())
		// Reconnect after a pause, unless the run is over.
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var err error
			c, err = dial(p.spec, time.Now().Add(5*time.Second))
			if err == nil {
				break
			}
			p.note("reconnect: " + err.Error())
		}
	}
}

func (p *publisher) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.disconnects) < 20 {
		p.disconnects = append(p.disconnects, s)
	}
}

// session publishes on c until stop (nil: the run is over and c is closed)
// or until the connection is lost (the cause; c is closed).
func (p *publisher) session(c *client, stop <-chan struct{}) error {
	window := p.window
	if c.recvMax > 0 && c.recvMax < window {
		window = c.recvMax // [MQTT-3.3.4-9]
	}
	tokens := make(chan struct{}, window)
	var (
		mu       sync.Mutex
		inflight = map[uint16]struct{}{}
		nextID   uint16
	)
	lost := make(chan struct{})
	var lostErr error
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(lost)
		for {
			h, body, err := c.read()
			if err != nil {
				lostErr = err
				return
			}
			switch h.Type {
			case proto.PUBACK:
				now := time.Now()
				var a proto.Ack
				if err := a.Decode(h, body, c.v); err != nil {
					lostErr = fmt.Errorf("decoding PUBACK: %w", err)
					return
				}
				mu.Lock()
				_, ok := inflight[a.PacketID]
				delete(inflight, a.PacketID)
				mu.Unlock()
				if !ok {
					continue // not ours, or acknowledged twice
				}
				p.mu.Lock()
				p.reasons[a.Reason]++
				p.mu.Unlock()
				p.acked.Add(1)
				p.acks.mark(now)
				<-tokens
			case proto.DISCONNECT:
				var d proto.Disconnect
				d.Decode(h, body, c.v)
				lostErr = fmt.Errorf("broker sent DISCONNECT reason 0x%02x", byte(d.Reason))
				return
			}
		}
	}()
	pingStop := make(chan struct{})
	go c.pinger(20*time.Second, pingStop)
	defer close(pingStop)

	// The end of the run cuts off a write blocked by back-pressure.
	cut := make(chan struct{})
	go func() {
		select {
		case <-stop:
			c.stopWrites()
		case <-cut:
		}
	}()
	defer close(cut)

	var tick <-chan time.Time
	if p.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / p.rate))
		defer t.Stop()
		tick = t.C
	}
	pub := proto.Publish{QoS: 1, Topic: []byte(p.topic)}
loop:
	for {
		if tick != nil {
			select {
			case <-stop:
				break loop
			case <-lost:
				break loop
			case <-tick:
			}
			select {
			case tokens <- struct{}{}:
			default:
				p.skipped.Add(1)
				continue
			}
		} else {
			select {
			case <-stop:
				break loop
			case <-lost:
				break loop
			case tokens <- struct{}{}:
			}
		}
		mu.Lock()
		for {
			nextID++
			if nextID == 0 {
				nextID = 1
			}
			if _, busy := inflight[nextID]; !busy {
				break
			}
		}
		inflight[nextID] = struct{}{}
		mu.Unlock()
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.mu.Unlock()
		pub.PacketID = nextID
		pub.Payload = p.payload(seq)
		if err := c.write(&pub); err != nil {
			if isClosed(stop) {
				p.aborted.Add(1)
				break loop
			}
			c.nc.Close()
			<-readerDone
			return fmt.Errorf("writing PUBLISH: %w", err)
		}
		p.sent.Add(1)
	}

	select {
	case <-lost:
		<-readerDone
		c.nc.Close()
		if !isClosed(stop) {
			return fmt.Errorf("reading: %w", lostErr)
		}
		return nil
	default:
	}
	// The run is over: wait for what is still unacknowledged.
	deadline := time.Now().Add(p.drain)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(inflight)
		mu.Unlock()
		if n == 0 || isClosed(lost) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.stopReads()
	<-readerDone
	c.disconnect()
	return nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// healthyPayload carries a sequence number and the send time.
func healthyPayload(seq uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, seq)
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	return b
}

// subscriber reads and acknowledges everything it is sent.
type subscriber struct {
	c    *client
	recv *timeline // set before run

	received atomic.Int64
	dups     atomic.Int64
	mu       sync.Mutex
	seen     map[uint64]bool
	latency  []time.Duration
	err      error // why reading ended, if not the end of the run
}

// run reads until c's reads are stopped (stopReads) or the connection ends.
func (s *subscriber) run() {
	s.seen = map[uint64]bool{}
	pingStop := make(chan struct{})
	go s.c.pinger(20*time.Second, pingStop)
	defer close(pingStop)
	for {
		h, body, err := s.c.read()
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
			return
		}
		switch h.Type {
		case proto.PUBLISH:
			now := time.Now()
			var p proto.Publish
			if err := p.Decode(h, body, s.c.v); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			if p.QoS > 0 {
				s.c.write(&proto.Ack{Type: proto.PUBACK, PacketID: p.PacketID})
			}
			if len(p.Payload) < 16 {
				continue
			}
			seq := binary.BigEndian.Uint64(p.Payload)
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(p.Payload[8:])))
			s.mu.Lock()
			if s.seen[seq] {
				s.mu.Unlock()
				s.dups.Add(1)
				continue
			}
			s.seen[seq] = true
			s.latency = append(s.latency, now.Sub(sent))
			s.mu.Unlock()
			s.received.Add(1)
			s.recv.mark(now)
		case proto.DISCONNECT:
			var d proto.Disconnect
			d.Decode(h, body, s.c.v)
			s.mu.Lock()
			s.err = fmt.Errorf("broker sent DISCONNECT reason 0x%02x", byte(d.Reason))
			s.mu.Unlock()
			return
		}
	}
}

// sysPrefixes are the $SYS topics reported: drop counters, and whatever a
// broker publishes about the messages it holds (Loom's spool and held
// figures, Mosquitto's stored messages) and its heap.
var sysPrefixes = []string{
	"$SYS/broker/publish/messages/dropped",
	"$SYS/broker/held",
	"$SYS/broker/spool",
	"$SYS/broker/store/messages",
	"$SYS/broker/heap/current",
}

func sysWanted(topic string) bool {
	for _, p := range sysPrefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

// readSys subscribes to $SYS/# and collects the latest value of every topic
// sysWanted takes: first the broker's retained values, then, for up to wait,
// fresh ones. Both brokers publish $SYS every 10 s, so the retained values
// may predate the traffic; once a fresh (not retained) message shows that a
// new round of values is being published, it reads 300 ms more for the rest
// of that round and stops. fresh says whether that happened.
func readSys(spec dialSpec, wait time.Duration) (vals map[string]string, fresh bool, err error) {
	c, err := dial(spec, time.Now().Add(5*time.Second))
	if err != nil {
		return nil, false, err
	}
	defer c.disconnect()
	vals = map[string]string{}
	end := time.Now().Add(wait)
	keep := func(p *proto.Publish) {
		if t := string(p.Topic); sysWanted(t) {
			vals[t] = string(p.Payload)
		}
		if !p.Retain && !fresh {
			fresh = true
			if soon := time.Now().Add(300 * time.Millisecond); soon.Before(end) {
				end = soon
				c.nc.SetReadDeadline(end)
			}
		}
	}
	if err := c.subscribe("$SYS/#", 0, time.Now().Add(5*time.Second), keep); err != nil {
		return vals, fresh, err
	}
	c.nc.SetReadDeadline(end)
	for {
		h, body, err := c.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return vals, fresh, nil
			}
			return vals, fresh, err
		}
		if h.Type != proto.PUBLISH {
			continue
		}
		var p proto.Publish
		if err := p.Decode(h, body, c.v); err != nil {
			return vals, fresh, err
		}
		keep(&p)
	}
}
