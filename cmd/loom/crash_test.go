package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// The crash test's shape. The numbers keep it under ~40 s on a slow
// machine, the build aside.
const (
	crashKills    = 15
	crashMinDelay = 20 * time.Millisecond  // from "publisher going" to SIGKILL
	crashMaxDelay = 300 * time.Millisecond //
	crashWindow   = 16                     // publisher's unacknowledged messages at most
	// Packet ids cycle through 1..crashPidSpace, so each id is reused many
	// times after its PUBACK or PUBCOMP [MQTT-4.3.2-5] [MQTT-4.3.3-12]: a
	// broker that restored a finished QoS 2 id as still open would drop a
	// later message that reuses it, and the test would see the loss.
	crashPidSpace = 64
	// crashMaxMessages stays under the broker's default MaxQueued (10,000),
	// past which an offline session's messages are dropped by design, not
	// lost by a crash. crashRate paces the publisher (in bursts, every
	// crashTick) so that the messages last through all the kills, about
	// 2.5 s of connected time, instead of being spent in the first life.
	crashMaxMessages = 8000
	crashRate        = 2500 // messages per second of connected time
	crashTick        = 2 * time.Millisecond
	crashRetainEvery = 5 // every 5th message is a retained one, if it can be
	crashRetTopics   = 3 // crash/ret/0..2
	crashLifeBound   = 10 * time.Second
	crashQuiet       = 2 * time.Second // the subscriber stops after this long without a message
	crashExpiry      = 3600            // Session Expiry Interval of both persistent clients
	crashPubID       = "crash-pub"
	crashSubID       = "crash-sub"
)

// TestCrashSIGKILLKeepsAcknowledgedMessages runs the real binary under
// each -sync policy, publishes QoS 1, QoS 2 and retained messages to an offline
// persistent subscriber while killing the broker with SIGKILL at random
// moments, and checks after the last restart that nothing acknowledged was
// lost, no QoS 2 message was delivered twice, nothing was invented, and
// the retained messages are not older than the last acknowledged ones.
//
// LOOM_CRASH_SEED=<n> repeats the kill delays of a run; where in the
// broker's work each kill lands still depends on timing. LOOM_CRASH_BIN
// runs a binary built elsewhere (another branch) instead of building this
// one.
//
// Every policy must pass: an acknowledgement waits for the commit of the
// message's copies to be written to the OS, which a SIGKILL does not undo;
// the policies differ only in what a power loss may take, which this test
// does not simulate.
func TestCrashSIGKILLKeepsAcknowledgedMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it 15 times under each sync policy")
	}
	bin := os.Getenv("LOOM_CRASH_BIN")
	if bin == "" {
		bin = buildLoom(t)
	} else {
		t.Logf("binary %s (LOOM_CRASH_BIN)", bin)
	}
	for _, policy := range []string{"always", "interval", "none"} {
		t.Run(policy, func(t *testing.T) { crashRun(t, bin, policy) })
	}
}

// crashRun is one policy's run of the crash test.
func crashRun(t *testing.T, bin, policy string) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LOOM_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "LOOM_CRASH_SEED")
		seed = v
	}
	t.Logf("seed %d (LOOM_CRASH_SEED=%d repeats it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))

	data := filepath.Join(t.TempDir(), "data") // the same folder for every life
	tail := &crashTail{}
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- broker log, last lines ---\n%s", append(args, tail)...)
	}
	start := func(life int) *crashBroker {
		t.Helper()
		b, err := crashStart(bin, data, policy, life, tail)
		if err != nil {
			fatal("%v", err)
		}
		t.Cleanup(func() {
			b.kill()
			b.waitExit(10 * time.Second)
		})
		return b
	}
	began := time.Now()

	// The subscriber makes its session and goes away for the whole run:
	// every message is queued for it, on disk, through every crash.
	b := start(1)
	sub, ack, err := crashDial(b.addr, crashSubID, true, crashExpiry)
	require.NoError(t, err)
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-2] Clean Start 1 gives Session Present 0")
	require.NoError(t, sub.Send(&proto.Subscribe{PacketID: 1,
		Subscriptions: []proto.Subscription{{Filter: []byte("crash/#"), QoS: 2}}}))
	pk, err := sub.Next(time.Now().Add(crashIOWait))
	require.NoError(t, err)
	suback, ok := pk.(*proto.Suback)
	require.True(t, ok, "got %T where SUBACK was due", pk)
	require.Equal(t, []proto.ReasonCode{proto.GrantedQoS2}, suback.Reasons)
	sub.Disconnect(0)

	p := &crashPublisher{lastAckedRet: map[string]int{}, retInFlight: map[string]bool{}}
	var delays []time.Duration
	for life := 1; life <= crashKills; life++ {
		if life > 1 {
			b = start(life)
		}
		d := crashMinDelay + time.Duration(rng.Int64N(int64(crashMaxDelay-crashMinDelay)))
		delays = append(delays, d)
		if err := p.runLife(b, d); err != nil {
			fatal("life %d (kill delay %v): %v\n%s", life, d, err, p.counts())
		}
	}

	// The last life: no kill. The publisher resumes, finishes every open
	// flow and leaves; then the subscriber comes back for its messages.
	b = start(crashKills + 1)
	if err := p.runLife(b, 0); err != nil {
		t.Errorf("last life: %v", err)
	}
	got, err := crashCollect(b.addr, p)
	if err != nil {
		fatal("subscriber: %v\n%s", err, p.counts())
	}
	rets, err := crashRetained(b.addr)
	if err != nil {
		fatal("retained: %v", err)
	}

	t.Logf("kills %d (delays %v), %v in all", crashKills, delays, time.Since(began).Round(time.Millisecond))
	t.Logf("%s", p.counts())
	t.Logf("delivered: %d distinct messages, %d PUBLISH packets, %d QoS 1 duplicates, %d QoS 2 duplicates, %d QoS 2 re-sends of an open id",
		len(got.count), got.total, got.qos1Dups, got.qos2Dups, got.sameID)

	var rl []string
	for k := range crashRetTopics {
		topic := "crash/ret/" + strconv.Itoa(k)
		rl = append(rl, fmt.Sprintf("%s=%d (last acknowledged %d)", topic, rets[topic], p.lastAckedRet[topic]))
	}
	t.Logf("retained: %s", strings.Join(rl, ", "))

	problems := p.check(got, rets)
	if len(problems) > 0 {
		t.Errorf("after %d kills (seed %d; Ln is broker life n, which kill n ended):\n%s\n--- broker log, last lines ---\n%s",
			crashKills, seed, strings.Join(problems, "\n"), tail)
	}
}

// crashState is where a message's flow stands at the publisher.
type crashState byte

const (
	crashSent     crashState = iota + 1 // PUBLISH sent, PUBACK or PUBREC due
	crashReleased                       // QoS 2: PUBREC received, PUBREL sent, PUBCOMP due
	crashAcked                          // PUBACK or PUBCOMP received
	crashRefused                        // PUBACK or PUBREC with a reason of 0x80 or above
)

// crashMsg is one numbered message and what happened to it.
type crashMsg struct {
	seq    int
	qos    byte
	retain bool
	topic  string
	pid    uint16 // while in flight
	state  crashState
	// owned: the broker answered PUBACK or PUBREC below 0x80, which it may
	// do only having accepted ownership of the message [MQTT-4.3.2-4]
	// [MQTT-4.3.3-8]. From then on it must deliver it, crash or not.
	owned bool
	hist  []string // "L3 PUBLISH pid 7", ...: L is the broker life, ended by kill L
}

func (m *crashMsg) note(life int, format string, args ...any) {
	m.hist = append(m.hist, fmt.Sprintf("L%d ", life)+fmt.Sprintf(format, args...))
}

func (m *crashMsg) String() string {
	kind := fmt.Sprintf("QoS %d", m.qos)
	if m.retain {
		kind += " retained"
	}
	return fmt.Sprintf("seq %d (%s %s): %s", m.seq, kind, m.topic, strings.Join(m.hist, ", "))
}

// crashPublisher is a client with a persistent session, kept across
// connections and broker lives the way the specification asks of a client:
// unacknowledged messages stay in flight with their packet ids until
// PUBACK or PUBCOMP, and are re-sent on every resumed connection.
type crashPublisher struct {
	msgs     []*crashMsg // msgs[seq-1]
	inflight []*crashMsg // in the order first sent, which is the order of re-sending
	nextPid  uint16
	started  bool // the first, Clean Start, connection was made

	lastAckedRet map[string]int  // retained topic → seq of its last PUBACKed value
	retInFlight  map[string]bool // retained topic → a retained message on it is unacknowledged

	upTime  time.Duration // connected time of the lives so far, for the pace
	perLife []int         // new messages published in each life

	anomalies                       []string // packets the broker should not have sent
	dupSends, relResends, pubcomp92 int
}

// runLife drives the publisher through one broker life. With killAfter > 0
// it arms a SIGKILL that long after the publisher got going, publishes
// until the connection breaks, and returns once the process is gone. With
// killAfter 0 (the last life) it publishes nothing new, waits for every
// open flow to finish, and disconnects.
func (p *crashPublisher) runLife(b *crashBroker, killAfter time.Duration) error {
	life := b.life
	c, ack, err := crashDial(b.addr, crashPubID, !p.started, crashExpiry)
	if err != nil {
		return fmt.Errorf("publisher connect: %w", err)
	}
	defer c.Close()
	if !p.started {
		if ack.SessionPresent {
			return fmt.Errorf("[MQTT-3.2.2-2] Session Present 1 on Clean Start 1")
		}
	} else if !ack.SessionPresent {
		// [MQTT-3.1.2-5] [MQTT-3.2.2-3] The session was made with an expiry
		// of an hour and committed before its first acknowledgement (the
		// store commits in order): a restart must not lose it.
		return fmt.Errorf("[MQTT-3.1.2-5] [MQTT-3.2.2-3] Session Present 0 on Clean Start 0 after kill %d: the broker lost the publisher's session (%d messages in flight)",
			life-1, len(p.inflight))
	}
	p.started = true
	window := crashWindow
	if ack.Props.Has(proto.PropReceiveMaximum) && int(ack.Props.ReceiveMaximum) < window {
		window = int(ack.Props.ReceiveMaximum) // [MQTT-3.3.4-7]
	}

	var timer *time.Timer
	arm := func() {
		if killAfter > 0 && timer == nil {
			timer = time.AfterFunc(killAfter, b.kill)
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// The first life waits for its first acknowledgement: that means every
	// store write queued before it (the subscriber's session and
	// subscription, the publisher's session) is committed. Later lives arm at once, so a kill can land in the middle of
	// the re-sends too.
	if life > 1 {
		arm()
	}

	// [MQTT-4.4.0-1] Clean Start 0 and Session Present 1: re-send every
	// unacknowledged PUBLISH with its original packet id (DUP set), and
	// PUBREL where the PUBREC had come.
	for _, m := range p.inflight {
		if err := p.resend(c, m, life); err != nil {
			return p.broken(b, err)
		}
	}

	began := time.Now()
	defer func() { p.upTime += time.Since(began) }()
	first := len(p.msgs)
	defer func() { p.perLife = append(p.perLife, len(p.msgs)-first) }()
	deadline := began.Add(crashLifeBound)
	for time.Now().Before(deadline) {
		if killAfter == 0 && len(p.inflight) == 0 {
			c.Disconnect(0)
			return nil
		}
		allowed := min(crashMaxMessages, int((p.upTime+time.Since(began)).Seconds()*crashRate))
		for killAfter > 0 && len(p.inflight) < window && len(p.msgs) < allowed {
			if err := p.publishNew(c, life); err != nil {
				return p.broken(b, err)
			}
		}
		wait := 250 * time.Millisecond
		if killAfter > 0 && len(p.inflight) < window && len(p.msgs) < crashMaxMessages {
			wait = crashTick // held back by the pace, not by the window
		}
		pk, err := c.Next(time.Now().Add(wait))
		if loomtest.TimedOut(err) {
			continue
		}
		if err != nil {
			return p.broken(b, err)
		}
		acked, err := p.handle(c, pk, life)
		if err != nil {
			return p.broken(b, err)
		}
		if acked {
			arm()
		}
	}
	if killAfter == 0 {
		return fmt.Errorf("%d flows still open %v after the last restart: %v", len(p.inflight), crashLifeBound, p.inflight)
	}
	return fmt.Errorf("the connection outlived its kill (armed: %v) by %v", timer != nil, crashLifeBound)
}

// broken handles a failed read or write: expected once the broker was
// killed (it then waits for the process to be gone), an error otherwise.
func (p *crashPublisher) broken(b *crashBroker, err error) error {
	if !b.killed.Load() {
		return fmt.Errorf("the publisher's connection failed with no kill sent: %w", err)
	}
	if !b.waitExit(10 * time.Second) {
		return fmt.Errorf("the broker still runs 10s after SIGKILL")
	}
	return nil
}

// publishNew sends the next numbered message. The payload is its
// sequence number in decimal. QoS alternates 1 and 2 on crash/<seq%4>;
// every crashRetainEvery-th message is instead a retained QoS 1 message on
// crash/ret/<k>, unless an earlier retained message on that topic is still
// unacknowledged (see crashPublisher.check for why).
func (p *crashPublisher) publishNew(c *loomtest.Conn, life int) error {
	seq := len(p.msgs) + 1
	m := &crashMsg{seq: seq, state: crashSent}
	if seq%crashRetainEvery == 0 {
		topic := "crash/ret/" + strconv.Itoa(seq/crashRetainEvery%crashRetTopics)
		if !p.retInFlight[topic] {
			m.topic, m.qos, m.retain = topic, 1, true
			p.retInFlight[topic] = true
		}
	}
	if m.topic == "" {
		m.topic, m.qos = "crash/"+strconv.Itoa(seq%4), byte(1+seq%2)
	}
	// [MQTT-4.3.2-1] [MQTT-4.3.3-1] an id not in use, DUP 0 the first time
	m.pid = p.freePid()
	m.note(life, "PUBLISH pid %d", m.pid)
	p.msgs = append(p.msgs, m)
	// In flight before the write: if the write fails the message may or may
	// not have reached the broker, so it is re-sent with DUP set.
	p.inflight = append(p.inflight, m)
	return c.Send(&proto.Publish{QoS: m.qos, Retain: m.retain, Topic: []byte(m.topic),
		PacketID: m.pid, Payload: []byte(strconv.Itoa(seq))})
}

// freePid returns the next packet id in 1..crashPidSpace not held by a
// message in flight.
func (p *crashPublisher) freePid() uint16 {
	for range crashPidSpace {
		p.nextPid = p.nextPid%crashPidSpace + 1
		if p.byPid(p.nextPid) == nil {
			return p.nextPid
		}
	}
	panic("no free packet id: the window is larger than the id space")
}

func (p *crashPublisher) byPid(pid uint16) *crashMsg {
	for _, m := range p.inflight {
		if m.pid == pid {
			return m
		}
	}
	return nil
}

// resend re-sends an open flow on a resumed connection [MQTT-4.4.0-1].
func (p *crashPublisher) resend(c *loomtest.Conn, m *crashMsg, life int) error {
	if m.state == crashReleased {
		// [MQTT-4.3.3-6] past PUBREC only the PUBREL is sent again.
		p.relResends++
		m.note(life, "PUBREL again after kill %d", life-1)
		return c.Send(&proto.Ack{Type: proto.PUBREL, PacketID: m.pid})
	}
	p.dupSends++
	m.note(life, "PUBLISH again DUP after kill %d", life-1)
	return c.Send(&proto.Publish{Dup: true, QoS: m.qos, Retain: m.retain, Topic: []byte(m.topic),
		PacketID: m.pid, Payload: []byte(strconv.Itoa(m.seq))})
}

// handle processes one packet from the broker and reports whether it
// acknowledged a message. An error is a failed write (a PUBREL) or a
// DISCONNECT; packets that make no sense are noted as anomalies.
func (p *crashPublisher) handle(c *loomtest.Conn, pk proto.Packet, life int) (bool, error) {
	a, ok := pk.(*proto.Ack)
	if !ok {
		if d, ok := pk.(*proto.Disconnect); ok {
			return false, fmt.Errorf("the broker sent DISCONNECT 0x%02X %q", byte(d.Reason), d.Props.ReasonString)
		}
		p.anomaly(life, "the publisher received a %v", pk.PacketType())
		return false, nil
	}
	m := p.byPid(a.PacketID)
	if m == nil {
		p.anomaly(life, "%v 0x%02X for pid %d, which has no message in flight", a.Type, byte(a.Reason), a.PacketID)
		return false, nil
	}
	switch {
	case a.Type == proto.PUBACK && m.qos == 1 && m.state == crashSent:
		m.note(life, "PUBACK 0x%02X", byte(a.Reason))
		if a.Reason >= 0x80 {
			p.finish(m, crashRefused) // [MQTT-4.4.0-2] not sent again
			return false, nil
		}
		m.owned = true
		if m.retain && m.seq > p.lastAckedRet[m.topic] {
			p.lastAckedRet[m.topic] = m.seq
		}
		p.finish(m, crashAcked)
		return true, nil
	case a.Type == proto.PUBREC && m.qos == 2 && m.state == crashSent:
		m.note(life, "PUBREC 0x%02X", byte(a.Reason))
		if a.Reason >= 0x80 {
			p.finish(m, crashRefused) // [MQTT-4.4.0-2] [MQTT-4.3.3-4] no PUBREL
			return false, nil
		}
		m.owned = true
		m.state = crashReleased                                               // before the write: a PUBREL that may be lost is sent again
		return false, c.Send(&proto.Ack{Type: proto.PUBREL, PacketID: m.pid}) // [MQTT-4.3.3-4]
	case a.Type == proto.PUBCOMP && m.state == crashReleased:
		m.note(life, "PUBCOMP 0x%02X", byte(a.Reason))
		if a.Reason == proto.PacketIdentifierNotFound {
			// The broker no longer knew the id: it lost the QoS 2 state of
			// this flow. The flow still ends here; whether the message was
			// delivered once is for the subscriber to tell.
			p.pubcomp92++
		}
		p.finish(m, crashAcked)
		return true, nil
	}
	p.anomaly(life, "%v 0x%02X for pid %d, which is %s", a.Type, byte(a.Reason), a.PacketID, m)
	return false, nil
}

// finish ends m's flow: its packet id is free again.
func (p *crashPublisher) finish(m *crashMsg, st crashState) {
	m.state = st
	if m.retain {
		p.retInFlight[m.topic] = false
	}
	p.inflight = slices.DeleteFunc(p.inflight, func(x *crashMsg) bool { return x == m })
}

func (p *crashPublisher) anomaly(life int, format string, args ...any) {
	p.anomalies = append(p.anomalies, fmt.Sprintf("L%d ", life)+fmt.Sprintf(format, args...))
}

func (p *crashPublisher) counts() string {
	var acked, refused, owned int
	for _, m := range p.msgs {
		switch m.state {
		case crashAcked:
			acked++
		case crashRefused:
			refused++
		}
		if m.owned {
			owned++
		}
	}
	return fmt.Sprintf("published %d (per life %v), acknowledged %d (PUBACK/PUBCOMP; %d with PUBCOMP 0x92), owned %d (PUBACK/PUBREC), refused %d, in flight %d, re-sent %d PUBLISH (DUP) and %d PUBREL",
		len(p.msgs), p.perLife, acked, p.pubcomp92, owned, refused, len(p.inflight), p.dupSends, p.relResends)
}

// check compares what arrived with what the publisher knows and returns
// a report, empty when all is well.
func (p *crashPublisher) check(got *crashGot, rets map[string]int) []string {
	var missing, dups, probs []string
	for _, m := range p.msgs {
		n := got.count[m.seq]
		switch {
		case m.owned && n == 0:
			// Every message the broker acknowledged (PUBACK, or PUBREC, which
			// comes before the PUBCOMP) was its to deliver [MQTT-4.3.2-4]
			// [MQTT-4.3.3-8] to the subscriber's stored session
			// [MQTT-3.1.2-5]; under every policy the acknowledgement
			// waited for the commit, so no kill excuses a loss.
			missing = append(missing, m.String())
		case m.qos == 2 && n > 1:
			// [MQTT-4.3.3-10] a re-sent QoS 2 PUBLISH, before its PUBREL,
			// must not be delivered onward again; across a crash that
			// takes the broker's memory of the open id with it.
			dups = append(dups, fmt.Sprintf("%s; delivered %d times", m, n))
		}
	}
	if len(missing) > 0 {
		probs = append(probs, fmt.Sprintf("%d acknowledged messages never arrived [MQTT-4.3.2-4] [MQTT-4.3.3-8]:", len(missing)))
		probs = append(probs, crashFirst(missing, 25)...)
	}
	if len(dups) > 0 {
		probs = append(probs, fmt.Sprintf("%d QoS 2 messages arrived more than once [MQTT-4.3.3-10]:", len(dups)))
		probs = append(probs, crashFirst(dups, 25)...)
	}
	if len(got.bad) > 0 {
		probs = append(probs, fmt.Sprintf("%d deliveries that were never published as such:", len(got.bad)))
		probs = append(probs, crashFirst(got.bad, 25)...)
	}

	// Retained. A topic must hold the value of its last PUBACKed retained
	// message [MQTT-3.3.1-5], or a newer one that was published but whose
	// PUBACK never came: its PUBLISH may have reached the broker and been
	// stored before the kill, the acknowledgement being what was lost; the
	// broker then owned it, and keeping it is right. An older value is a
	// lost replacement; a value never published on that topic is invented.
	// Holding at most one unacknowledged retained message per topic (see
	// publishNew) makes "newer" well defined: no older one can be re-sent
	// after a newer one was acknowledged. After a complete drain every
	// retained message was acknowledged, so the value must be exactly the
	// last one.
	for k := range crashRetTopics {
		topic := "crash/ret/" + strconv.Itoa(k)
		last, v := p.lastAckedRet[topic], rets[topic]
		switch {
		case last == 0 && v == 0:
		case v == 0:
			probs = append(probs, fmt.Sprintf("%s holds no retained message; last acknowledged seq %d [MQTT-3.3.1-5]", topic, last))
		case v > len(p.msgs) || p.msgs[v-1].topic != topic || !p.msgs[v-1].retain:
			probs = append(probs, fmt.Sprintf("%s holds %d, never published as retained there", topic, v))
		case v < last:
			probs = append(probs, fmt.Sprintf("%s holds seq %d, older than the last acknowledged %d [MQTT-3.3.1-5]: %s",
				topic, v, last, p.msgs[last-1]))
		case v > last && p.msgs[v-1].state != crashSent:
			// Newer is allowed only while unacknowledged: a refused one must
			// not have been stored, an acknowledged one would be last.
			probs = append(probs, fmt.Sprintf("%s holds seq %d, newer than the last acknowledged %d but not in flight: %s",
				topic, v, last, p.msgs[v-1]))
		}
	}
	if len(p.anomalies) > 0 {
		probs = append(probs, fmt.Sprintf("%d packets to the publisher that fit no open flow:", len(p.anomalies)))
		probs = append(probs, crashFirst(p.anomalies, 25)...)
	}
	return probs
}

// crashFirst keeps a failure report readable.
func crashFirst(lines []string, n int) []string {
	if len(lines) <= n {
		return crashIndent(lines)
	}
	return append(crashIndent(lines[:n]), fmt.Sprintf("  ... and %d more", len(lines)-n))
}

func crashIndent(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return out
}
