package loom_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

// sysTotals are the counters that continue across a restart on the same
// store ($SYS's cumulative ones).
type sysTotals struct {
	TotalConnections, MaxConnected             int64
	MessagesIn, MessagesOut, BytesIn, BytesOut int64
	Dropped, ProtocolFailures, ReadPauses      int64
	Drops                                      loom.Drops
}

func totals(s loom.Stats) sysTotals {
	return sysTotals{TotalConnections: s.TotalConnections, MaxConnected: s.MaxConnected,
		MessagesIn: s.MessagesIn, MessagesOut: s.MessagesOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		Dropped: s.Dropped, ProtocolFailures: s.ProtocolFailures, ReadPauses: s.ReadPauses, Drops: s.Drops}
}

// TestRestartKeepsSysCounters: the cumulative $SYS counters continue after a
// restart on the same store instead of starting from zero, read by a v5
// and a 3.1.1 client; uptime, the process's, starts again. The values are
// retained, so a subscriber gets them at once [MQTT-3.3.1-9]
// [MQTT-3.3.1-6 v3.1.1].
func TestRestartKeepsSysCounters(t *testing.T) {
	// An hour: every value read below comes from the publisher's first tick,
	// the one Restore asks for, or Close; none from the timer.
	so := loom.Options{SysInterval: time.Hour}
	dir := t.TempDir()
	srv, addr, _ := storedBroker(t, dir, so)

	pub5, _ := connectV5(t, addr, v5Conf{id: "sc-pub5"})
	for range 4 {
		pub5.say(t, "sc/x", 1, false, "0123456789")
	}
	pub3, _ := v3Connect(t, v3Options(addr, "sc-pub3"))
	for range 3 {
		v3Publish(t, pub3, "sc/y", 1, false, "0123456789")
	}
	pub3.Disconnect(100)
	pub5.cut()
	loomtest.WaitConnections(t, srv, 0)
	before := totals(srv.Stats())
	require.GreaterOrEqual(t, before.MessagesIn, int64(7))
	require.GreaterOrEqual(t, before.MaxConnected, int64(2))
	require.NoError(t, srv.Close(context.Background()))

	srv2, addr2, _ := storedBroker(t, dir, so)
	after := totals(srv2.Stats())
	require.Equal(t, before, after, "every counter back as it was at the stop")

	// The first values a v5 subscriber sees are the continued ones.
	watch, _ := connectV5(t, addr2, v5Conf{id: "sc-watch5"})
	watch.sub(t, v5Opt("$SYS/broker/#", 0))
	w := &sysWatch{c: watch, last: make(map[string]string)}
	w.until(t, "every topic", func(v map[string]string) bool { return len(v) == len(sysTopics) })
	require.Equal(t, before.MessagesIn, sysNum(t, w.last, "$SYS/broker/messages/received"))
	require.Equal(t, before.MessagesOut, sysNum(t, w.last, "$SYS/broker/messages/sent"))
	require.Equal(t, before.BytesIn, sysNum(t, w.last, "$SYS/broker/bytes/received"))
	require.Equal(t, before.BytesOut, sysNum(t, w.last, "$SYS/broker/bytes/sent"))
	require.Equal(t, before.MaxConnected, sysNum(t, w.last, "$SYS/broker/clients/maximum"))
	require.Less(t, sysNum(t, w.last, "$SYS/broker/uptime"), int64(60), "uptime starts again")

	// And a 3.1.1 one.
	in3 := newV3Inbox()
	c3, _ := v3Connect(t, v3Options(addr2, "sc-watch3"))
	v3Subscribe(t, c3, "$SYS/broker/messages/received", 0, in3)
	m := in3.next(t)
	require.True(t, m.Retained())
	n, err := strconv.ParseInt(string(m.Payload()), 10, 64)
	require.NoError(t, err)
	require.Equal(t, before.MessagesIn, n)
}
