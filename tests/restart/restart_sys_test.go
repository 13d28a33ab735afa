package restart_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
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

	pub5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sc-pub5"})
	for range 4 {
		pub5.Say(t, "sc/x", 1, false, "0123456789")
	}
	pub3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "sc-pub3"))
	for range 3 {
		pahotest.V3Publish(t, pub3, "sc/y", 1, false, "0123456789")
	}
	pub3.Disconnect(100)
	pub5.Cut()
	loomtest.WaitConnections(t, srv, 0)
	before := totals(srv.Stats())
	require.GreaterOrEqual(t, before.MessagesIn, int64(7))
	require.GreaterOrEqual(t, before.MaxConnected, int64(2))
	require.NoError(t, srv.Close(context.Background()))

	srv2, addr2, _ := storedBroker(t, dir, so)
	after := totals(srv2.Stats())
	require.Equal(t, before, after, "every counter back as it was at the stop")

	// The first values a v5 subscriber sees are the continued ones.
	watch, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "sc-watch5"})
	watch.Sub(t, pahotest.V5Opt("$SYS/broker/#", 0))
	w := pahotest.WatchSys(watch)
	w.Until(t, "every topic", func(v map[string]string) bool { return len(v) == len(pahotest.SysTopics) })
	require.Equal(t, before.MessagesIn, pahotest.SysNum(t, w.Last, "$SYS/broker/messages/received"))
	require.Equal(t, before.MessagesOut, pahotest.SysNum(t, w.Last, "$SYS/broker/messages/sent"))
	require.Equal(t, before.BytesIn, pahotest.SysNum(t, w.Last, "$SYS/broker/bytes/received"))
	require.Equal(t, before.BytesOut, pahotest.SysNum(t, w.Last, "$SYS/broker/bytes/sent"))
	require.Equal(t, before.MaxConnected, pahotest.SysNum(t, w.Last, "$SYS/broker/clients/maximum"))
	require.Less(t, pahotest.SysNum(t, w.Last, "$SYS/broker/uptime"), int64(60), "uptime starts again")

	// And a 3.1.1 one.
	in3 := pahotest.NewV3Inbox()
	c3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr2, "sc-watch3"))
	pahotest.V3Subscribe(t, c3, "$SYS/broker/messages/received", 0, in3)
	m := in3.Next(t)
	require.True(t, m.Retained())
	n, err := strconv.ParseInt(string(m.Payload()), 10, 64)
	require.NoError(t, err)
	require.Equal(t, before.MessagesIn, n)
}
