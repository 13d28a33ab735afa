package hostile_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// A storm client's outcome.
const (
	stormConnected = iota // CONNACK accepted it
	stormRefused          // a refusing CONNACK, or the end of the stream, and then a clean close
	stormBad              // a reset, a timeout, anything else
	stormOutcomes
)

// stormWait bounds each step of a storm client: generous, as 5,000
// handshakes queue on two CPUs.
const stormWait = 60 * time.Second

// stormClient dials addr over TLS, sends CONNECT as id and says how it
// went; a connected client disconnects. why explains a bad outcome.
func stormClient(addr string, cfg *tls.Config, id string) (outcome int, why error) {
	ctx, cancel := context.WithTimeout(context.Background(), stormWait)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return stormBad, fmt.Errorf("dial: %w", err)
	}
	defer raw.Close()
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, io.EOF) {
			return stormRefused, nil // the broker closed it in the handshake
		}
		return stormBad, fmt.Errorf("handshake: %w", err)
	}
	ec := &resetConn{Conn: tc}
	c := loomtest.NewConn(ec, proto.V5)
	ack, err := c.Connect(proto.Connect{CleanStart: true, ClientID: []byte(id)}, time.Now().Add(stormWait))
	switch {
	case ec.reset.Load():
		return stormBad, fmt.Errorf("CONNECT: reset: %w", err)
	case err == nil:
		c.Disconnect(0)
		return stormConnected, nil
	case ack != nil:
		// Refused with a reason: the broker must then close cleanly.
		if _, err := c.RestBytes(time.Now().Add(stormWait)); err != nil || ec.reset.Load() {
			return stormBad, fmt.Errorf("after CONNACK 0x%02x: %v (reset %t)", byte(ack.Reason), err, ec.reset.Load())
		}
		return stormRefused, nil
	case errors.Is(err, io.EOF):
		return stormRefused, nil // closed before CONNACK
	}
	return stormBad, fmt.Errorf("CONNECT: %w", err)
}

// resetConn notes whether a read failed with a reset (loomtest's Conn
// reads a reset as the end of the stream).
type resetConn struct {
	net.Conn
	reset atomic.Bool
}

func (c *resetConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, syscall.ECONNRESET) {
		c.reset.Store(true)
	}
	return n, err
}

// pair is a publisher and a subscriber exchanging messages on a topic of
// their own until stopped, counting what the subscriber receives.
type pair struct {
	pub, sub *loomtest.Conn
	topic    string
	received *atomic.Int64
	errs     chan error
}

// run publishes QoS 1 messages one after the other until stop is closed
// (or a bound of messages or time is reached) and reads the subscriber's.
func (p *pair) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() { // the subscriber: until its connection closes
		defer wg.Done()
		for {
			m, err := p.sub.Next(time.Now().Add(5 * time.Minute))
			if err != nil {
				select {
				case <-stop:
				default:
					p.errs <- fmt.Errorf("subscriber of %s: %w", p.topic, err)
				}
				return
			}
			if _, ok := m.(*proto.Publish); ok {
				p.received.Add(1)
			}
		}
	}()
	go func() { // the publisher
		defer wg.Done()
		end := time.Now().Add(5 * time.Minute)
		for i := 0; i < 10_000_000 && time.Now().Before(end); i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := uint16(i%65535 + 1)
			_ = p.pub.NetConn().SetWriteDeadline(time.Now().Add(stormWait))
			err := p.pub.Send(&proto.Publish{Topic: []byte(p.topic), Payload: []byte("tick"), QoS: 1, PacketID: id})
			var m proto.Packet
			if err == nil {
				m, err = p.pub.Next(time.Now().Add(stormWait))
			}
			if err == nil {
				if a, ok := m.(*proto.Ack); !ok || a.Type != proto.PUBACK || a.PacketID != id {
					err = fmt.Errorf("got %v where the PUBACK of %d was due", m, id)
				}
			}
			if err != nil {
				select {
				case <-stop:
				default:
					p.errs <- fmt.Errorf("publisher on %s: %w", p.topic, err)
				}
				return
			}
		}
	}()
}

// TestTLSHandshakeStorm: 5,000 TLS clients connect at once, 500 at a
// time, while five publisher/subscriber pairs already connected over TLS
// keep exchanging messages. The pairs' messages keep arriving through the
// storm (a progress check: their count grows in each half of it); every
// storm client completes CONNECT or is refused cleanly; and once the storm
// clients are gone the process is back to its goroutines from before it:
// no handshake goroutine is left behind.
func TestTLSHandshakeStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 TLS handshakes: skipped with -short")
	}
	storm, width := 5000, 500
	if raceEnabled {
		storm, width = 500, 50
	}
	needFiles(t, uint64(2*width+500))
	pki := loomtest.NewPKI(t)
	srv, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile}},
	}})

	var received atomic.Int64
	errs := make(chan error, 20)
	pairs := make([]*pair, 5)
	for i := range pairs {
		p := &pair{topic: fmt.Sprint("storm/", i), received: &received, errs: errs}
		sub := loomtest.Over(t, dialTLS(t, addr, pki), proto.V5)
		sub.Connect(fmt.Sprint("storm-sub-", i), nil)
		sub.Subscribe(p.topic, 0)
		pub := loomtest.Over(t, dialTLS(t, addr, pki), proto.V5)
		pub.Connect(fmt.Sprint("storm-pub-", i), nil)
		p.sub, p.pub = sub.Conn, pub.Conn
		pairs[i] = p
	}
	stop := make(chan struct{})
	var pairsDone sync.WaitGroup
	stopPairs := sync.OnceFunc(func() {
		close(stop)
		for _, p := range pairs {
			p.pub.Close()
			p.sub.Close()
		}
		pairsDone.Wait()
	})
	t.Cleanup(stopPairs)
	for _, p := range pairs {
		p.run(stop, &pairsDone)
	}
	loomtest.Eventually(t, "the pairs exchange messages", func() bool { return received.Load() > 0 })
	base := stableGoroutines()

	// The storm: width goroutines released at once, each dialing
	// storm/width clients one after the other.
	var (
		outcomes      [stormOutcomes]atomic.Int64
		finished      atomic.Int64
		inflight, top atomic.Int64
		firstBad      atomic.Value
		wg            sync.WaitGroup
	)
	half := make(chan int64, 1)
	start := make(chan struct{})
	for w := range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range storm / width {
				n := inflight.Add(1)
				for m := top.Load(); n > m && !top.CompareAndSwap(m, n); m = top.Load() {
				}
				o, why := stormClient(addr, pki.ClientTLS(), fmt.Sprintf("storm-%d-%d", w, j))
				inflight.Add(-1)
				outcomes[o].Add(1)
				if why != nil {
					firstBad.CompareAndSwap(nil, why)
				}
				if finished.Add(1) == int64(storm/2) {
					half <- received.Load()
				}
			}
		}()
	}
	before := received.Load()
	close(start)
	mid := <-half
	wg.Wait()
	after := received.Load()

	ok, refused, bad := outcomes[stormConnected].Load(), outcomes[stormRefused].Load(), outcomes[stormBad].Load()
	t.Logf("storm of %d: %d connected, %d refused cleanly, %d bad; up to %d at once; pairs received %d, %d, %d messages (start, half, end)",
		storm, ok, refused, bad, top.Load(), before, mid, after)
	if bad > 0 {
		t.Errorf("%d storm clients neither connected nor were refused cleanly; the first: %v", bad, firstBad.Load())
	}
	if ok+refused+bad != int64(storm) || ok == 0 {
		t.Errorf("%d connected of %d", ok, storm)
	}
	if top.Load() < 2 {
		t.Errorf("the storm clients did not overlap")
	}
	// Progress, not speed: the pairs' messages kept arriving in each half.
	const progress = 20
	if mid-before < progress || after-mid < progress {
		t.Errorf("the pairs received %d messages in the storm's first half and %d in its second; want at least %d in each", mid-before, after-mid, progress)
	}
	select {
	case err := <-errs:
		t.Fatalf("a pair failed during the storm: %v", err)
	default:
	}

	// Only the pairs remain, and the goroutines are back to the baseline.
	loomtest.WaitConnections(t, srv, int64(2*len(pairs)))
	now := stableGoroutines()
	for i := 0; i < 10 && now > base+3; i++ {
		now = stableGoroutines()
	}
	t.Logf("goroutines: %d before the storm, %d after", base, now)
	if now > base+3 {
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Fatalf("%d goroutines after the storm, %d before: leaked?\n%s", now, base, dump.String())
	}
	stopPairs()
	select {
	case err := <-errs:
		t.Fatalf("a pair failed: %v", err)
	default:
	}
}
