package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func (x *extraStore) savedCounters() (Counters, int) {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	if x.counters == nil {
		return Counters{}, x.counterPuts
	}
	return *x.counters, x.counterPuts
}

var storedCounters = Counters{Connections: 5, MessagesIn: 100, MessagesOut: 90, BytesIn: 1000,
	BytesOut: 900, Dropped: 3, ProtocolFails: 2, MaxConnected: 7, ReadPauses: 4}

func TestRestoreAddsStoredCounters(t *testing.T) {
	st := newExtraStore()
	st.PutCounters(storedCounters)
	// An interval longer than the test: the values below come from the
	// first tick and the refresh Restore asks for.
	h := newHarness(t, Options{Store: st, SysInterval: time.Hour}, 1)
	require.NoError(t, h.b.Restore())
	h.settle()
	require.Equal(t, storedCounters, h.b.Stats.Counters())
	_, puts := st.savedCounters()
	require.Equal(t, 1, puts, "nothing changed, nothing written")

	// $SYS shows the totals as soon as Restore returns, not one interval
	// later: the publisher's first tick, before Restore, said 0.
	got := h.b.Router().Retained("$SYS/broker/messages/received")
	require.Len(t, got, 1)
	require.Equal(t, "100", string(got[0].Payload))
	got = h.b.Router().Retained("$SYS/broker/clients/maximum")
	require.Len(t, got, 1)
	require.Equal(t, "7", string(got[0].Payload))
	got = h.b.Router().Retained("$SYS/broker/publish/reads/paused")
	require.Len(t, got, 1)
	require.Equal(t, "4", string(got[0].Payload))

	// Counting goes on from there; the high-water mark stays the stored
	// one until passed.
	c := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	c.publish("t", "x", 0, 0)
	h.settle()
	now := h.b.Stats.Counters()
	require.Equal(t, int64(6), now.Connections)
	require.Equal(t, int64(101), now.MessagesIn)
	require.Equal(t, int64(7), now.MaxConnected)

	h.b.saveCounters()
	saved, puts := st.savedCounters()
	require.Equal(t, 2, puts)
	require.Equal(t, h.b.Stats.Counters(), saved)
	h.b.saveCounters()
	_, puts = st.savedCounters()
	require.Equal(t, 2, puts, "unchanged: not written again")
}

func TestCountersSavedAtClose(t *testing.T) {
	st := newExtraStore()
	st.PutCounters(storedCounters)
	b := NewBroker(Options{Store: st, Logger: quietLogger(), SysInterval: -1})
	require.NoError(t, b.Restore())
	b.Stats.MessagesIn.Add(1)
	b.Close()
	saved, _ := st.savedCounters()
	require.Equal(t, storedCounters.MessagesIn+1, saved.MessagesIn)
	require.True(t, st.closed)
}

// Before Restore the live counters start from zero: storing them then
// would wipe the totals Restore is about to read.
func TestCountersNotSavedBeforeRestore(t *testing.T) {
	st := newExtraStore()
	st.PutCounters(storedCounters)
	b := NewBroker(Options{Store: st, Logger: quietLogger(), SysInterval: time.Millisecond})
	time.Sleep(20 * time.Millisecond) // ticks that must not save
	b.Stats.MessagesIn.Add(1)
	b.Close()
	saved, puts := st.savedCounters()
	require.Equal(t, 1, puts, "only the test's own PutCounters")
	require.Equal(t, storedCounters, saved)
}

func TestCountersSavedEachSysInterval(t *testing.T) {
	st := newExtraStore()
	h := newHarness(t, Options{Store: st, SysInterval: 5 * time.Millisecond}, 1)
	require.NoError(t, h.b.Restore()) // an empty store: counting starts at 0
	c := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	c.publish("t", "x", 0, 0)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if saved, _ := st.savedCounters(); saved.MessagesIn == 1 && saved.Connections == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	saved, puts := st.savedCounters()
	require.Equal(t, int64(1), saved.MessagesIn, "no tick saved the counters")
	// Idle: ticks go on, writes do not.
	time.Sleep(30 * time.Millisecond)
	_, again := st.savedCounters()
	require.Equal(t, puts, again, "an idle broker rewrote its counters")
}
