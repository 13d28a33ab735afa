package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// crashIOWait bounds each write and each wait for a CONNACK or SUBACK of
// the crash test's raw clients: generous for a loaded machine, never a
// measure of speed.
const crashIOWait = 10 * time.Second

// crashDial connects to addr and completes a v5 CONNECT for id. The
// CONNACK must accept the connection.
//
// The crash test's clients are raw (loomtest.Conn) rather than paho.golang
// for two reasons. The publisher must own its session state across
// connections: choose its packet ids, re-send an unacknowledged PUBLISH
// with DUP set and the same id, and re-send PUBREL for a QoS 2 message
// whose PUBREC it had [MQTT-4.4.0-1]; paho.golang v0.23.0 does not let a
// test control any of that reliably. And the subscriber must see every
// delivery as the broker sends it: a library that drops a repeated QoS 2
// message would hide exactly the duplicate the test looks for. Their
// methods return errors instead of failing the test: the broker is killed
// under them on purpose, and the caller decides what a broken connection
// means.
func crashDial(addr, id string, cleanStart bool, expiry uint32) (*loomtest.Conn, *proto.Connack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), crashIOWait)
	defer cancel()
	c, err := loomtest.Dialer{Version: proto.V5}.Dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	cp := proto.Connect{CleanStart: cleanStart, KeepAlive: 60, ClientID: []byte(id)}
	cp.Props.SessionExpiry = expiry
	cp.Props.Set(proto.PropSessionExpiry)
	ack, err := c.Connect(cp, time.Now().Add(crashIOWait))
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return c, ack, nil
}

// crashGot is what the subscriber received.
type crashGot struct {
	count    map[int]int // seq → deliveries
	total    int         // PUBLISH packets
	qos1Dups int
	qos2Dups int
	sameID   int      // QoS 2 PUBLISH repeated on an id still awaiting PUBREL
	bad      []string // deliveries that match no publication
}

// crashCollect resumes the subscriber's session and takes every message
// queued for it, until crashQuiet passes without one.
func crashCollect(addr string, p *crashPublisher) (*crashGot, error) {
	c, ack, err := crashDial(addr, crashSubID, false, crashExpiry)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if !ack.SessionPresent {
		// [MQTT-3.1.2-5] [MQTT-3.2.2-3]
		return nil, fmt.Errorf("[MQTT-3.2.2-3] Session Present 0: the broker lost the subscriber's session")
	}
	got := &crashGot{count: map[int]int{}}
	open := map[uint16]int{} // QoS 2 id → seq, PUBREC sent, PUBREL due
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		pk, err := c.Next(time.Now().Add(crashQuiet))
		if loomtest.TimedOut(err) {
			if len(open) > 0 {
				return got, fmt.Errorf("quiet for %v with %d QoS 2 deliveries awaiting PUBREL", crashQuiet, len(open))
			}
			c.Disconnect(0)
			return got, nil
		}
		if err != nil {
			return got, err
		}
		switch pk := pk.(type) {
		case *proto.Publish:
			got.total++
			if pk.QoS == 2 {
				if _, ok := open[pk.PacketID]; ok {
					// The same delivery again before PUBREL: the receiver's
					// side of [MQTT-4.3.3-10], not a second delivery.
					got.sameID++
					if err := c.Send(&proto.Ack{Type: proto.PUBREC, PacketID: pk.PacketID}); err != nil {
						return got, err
					}
					continue
				}
			}
			seq := got.record(pk, p)
			switch pk.QoS {
			case 1:
				err = c.Send(&proto.Ack{Type: proto.PUBACK, PacketID: pk.PacketID})
			case 2:
				open[pk.PacketID] = seq
				err = c.Send(&proto.Ack{Type: proto.PUBREC, PacketID: pk.PacketID})
			}
			if err != nil {
				return got, err
			}
		case *proto.Ack:
			if pk.Type != proto.PUBREL {
				return got, fmt.Errorf("the subscriber received %v", pk.Type)
			}
			rc := proto.Success
			if _, ok := open[pk.PacketID]; !ok {
				rc = proto.PacketIdentifierNotFound
				got.bad = append(got.bad, fmt.Sprintf("PUBREL for pid %d, which has no open delivery", pk.PacketID))
			}
			delete(open, pk.PacketID)
			if err := c.Send(&proto.Ack{Type: proto.PUBCOMP, PacketID: pk.PacketID, Reason: rc}); err != nil {
				return got, err
			}
		default:
			return got, fmt.Errorf("the subscriber received a %v", pk.PacketType())
		}
	}
	return got, fmt.Errorf("still receiving after 60s (%d PUBLISH so far)", got.total)
}

// record counts one delivery and checks it against what was published;
// it returns the sequence number, or 0 for a message never published.
func (g *crashGot) record(pk *proto.Publish, p *crashPublisher) int {
	seq, err := strconv.Atoi(string(pk.Payload))
	if err != nil || seq < 1 || seq > len(p.msgs) {
		g.bad = append(g.bad, fmt.Sprintf("%q on %s: never published", pk.Payload, pk.Topic))
		return 0
	}
	m := p.msgs[seq-1]
	// The subscription is QoS 2, so a message comes at the QoS it was
	// published with (3.8.4), on its own topic.
	if string(pk.Topic) != m.topic || pk.QoS != m.qos {
		g.bad = append(g.bad, fmt.Sprintf("seq %d came on %s at QoS %d, published on %s at QoS %d",
			seq, pk.Topic, pk.QoS, m.topic, m.qos))
	}
	g.count[seq]++
	if g.count[seq] > 1 {
		if m.qos == 1 {
			g.qos1Dups++ // at least once: allowed
		} else {
			g.qos2Dups++
		}
	}
	return seq
}

// crashRetained subscribes a fresh client to crash/ret/# and returns the
// retained value of each topic, by sequence number.
func crashRetained(addr string) (map[string]int, error) {
	c, _, err := crashDial(addr, "crash-ret", true, 0)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Send(&proto.Subscribe{PacketID: 1,
		Subscriptions: []proto.Subscription{{Filter: []byte("crash/ret/#"), QoS: 1}}}); err != nil {
		return nil, err
	}
	vals := map[string]int{}
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		pk, err := c.Next(time.Now().Add(time.Second))
		if loomtest.TimedOut(err) {
			c.Disconnect(0)
			return vals, nil
		}
		if err != nil {
			return vals, err
		}
		switch pk := pk.(type) {
		case *proto.Suback:
			if !slices.Equal(pk.Reasons, []proto.ReasonCode{proto.GrantedQoS1}) {
				return vals, fmt.Errorf("SUBACK %v", pk.Reasons)
			}
		case *proto.Publish:
			topic := string(pk.Topic)
			if !pk.Retain {
				return vals, fmt.Errorf("%s came without RETAIN [MQTT-3.3.1-9]", topic)
			}
			if _, dup := vals[topic]; dup {
				return vals, fmt.Errorf("two retained messages for %s", topic)
			}
			seq, err := strconv.Atoi(string(pk.Payload))
			if err != nil {
				return vals, fmt.Errorf("retained %s holds %q", topic, pk.Payload)
			}
			vals[topic] = seq
			if pk.QoS > 0 {
				if err := c.Send(&proto.Ack{Type: proto.PUBACK, PacketID: pk.PacketID}); err != nil {
					return vals, err
				}
			}
		default:
			return vals, fmt.Errorf("the retained reader received a %v", pk.PacketType())
		}
	}
	return vals, fmt.Errorf("retained messages still coming after 20s")
}

// crashBroker is one run ("life") of the loom binary.
type crashBroker struct {
	life   int
	cmd    *exec.Cmd
	addr   string
	killed atomic.Bool   // set just before the test sends SIGKILL
	exited chan struct{} // closed once the process is reaped
	err    error         // Wait's result, read after exited is closed
}

// crashListening is the line the broker logs for each listener.
var crashListening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// crashStart runs bin on a free loopback port over dataDir with the sync
// policy given and waits for the address it listens on. Its log goes to
// tail, tagged with life.
func crashStart(bin, dataDir, policy string, life int, tail *crashTail) (*crashBroker, error) {
	b := &crashBroker{life: life, exited: make(chan struct{})}
	addrs := make(chan string, 1)
	b.cmd = exec.Command(bin, "-listen", "127.0.0.1:0", "-data-dir", dataDir, "-sync", policy)
	b.cmd.Stderr = &crashStderr{life: life, tail: tail, addrs: addrs}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	select {
	case b.addr = <-addrs:
		return b, nil
	case <-b.exited:
		return nil, fmt.Errorf("life %d: the broker exited before listening: %v", life, b.err)
	case <-time.After(20 * time.Second):
		b.kill()
		return nil, fmt.Errorf("life %d: the broker did not say where it listens within 20s", life)
	}
}

// kill sends SIGKILL to the process the test started: no shutdown code
// runs, as in a power cut as far as the broker's own process is concerned
// (the kernel still holds the pages written; only -sync always makes an
// acknowledgement wait for them to reach the disk).
func (b *crashBroker) kill() {
	b.killed.Store(true)
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
}

// waitExit waits for the process to be reaped, at most d.
func (b *crashBroker) waitExit(d time.Duration) bool {
	select {
	case <-b.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// crashStderr receives one life's log: it passes each line to the tail
// and reports the listening address.
type crashStderr struct {
	life    int
	tail    *crashTail
	addrs   chan string
	partial []byte
}

// Write is called by os/exec's copying goroutine only, so partial needs
// no lock.
func (w *crashStderr) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.tail.add(fmt.Sprintf("life %d: %s", w.life, line))
		if m := crashListening.FindStringSubmatch(line); m != nil {
			select {
			case w.addrs <- m[1]:
			default:
			}
		}
	}
}

// crashTail keeps the last lines the broker logged over all its lives,
// for a failure report.
type crashTail struct {
	mu    sync.Mutex
	lines []string
}

const crashTailLines = 30

func (t *crashTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 4*crashTailLines {
		t.lines = append([]string(nil), t.lines[len(t.lines)-crashTailLines:]...)
	}
}

func (t *crashTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.lines
	if len(l) > crashTailLines {
		l = l[len(l)-crashTailLines:]
	}
	return strings.Join(l, "\n")
}
