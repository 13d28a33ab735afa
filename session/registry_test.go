package session

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// The registry agrees with a Go map through random puts, replacements and
// removals (removal's backward shift is where open addressing goes wrong),
// and shrinks when most entries have gone.
func TestRegistryMatchesAMap(t *testing.T) {
	var r registry
	want := map[string]*Session{}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 200_000 {
		id := fmt.Sprint("c", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0, 1:
			s := &Session{id: id}
			r.put(s)
			want[id] = s
		case 2:
			if s := want[id]; s != nil {
				r.remove(&Session{id: id}) // not the registered one: stays
				require.Same(t, s, r.get(id))
				r.remove(s)
				delete(want, id)
			}
		}
		if step%5000 == 0 {
			require.Equal(t, len(want), r.len())
			for id, s := range want {
				require.Same(t, s, r.get(id), "step %d id %s", step, id)
			}
			n := 0
			r.each(func(*Session) { n++ })
			require.Equal(t, len(want), n)
		}
	}
	for id, s := range want {
		r.remove(s)
		require.Nil(t, r.get(id))
	}
	require.Zero(t, r.len())
	require.Equal(t, registryMinSlots, len(r.slots), "shrunk back once empty")
	require.Nil(t, r.get("c1"))
}

// A crowd that connects and leaves takes its registry memory with it, and
// the sessions left are all still found.
func TestRegistryShrinksAfterACrowdLeaves(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	const n = 5000
	cs := make([]*tclient, n)
	for i := range cs {
		cs[i] = h.online(0, connectPacket(proto.V5, fmt.Sprint("c", i), true, 0, 0))
	}
	h.b.mu.Lock()
	big := len(h.b.sessions.slots)
	h.b.mu.Unlock()
	require.GreaterOrEqual(t, big, n)
	for _, c := range cs[10:] {
		c.drop()
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	require.Equal(t, 10, h.b.sessions.len())
	require.Equal(t, registryMinSlots, len(h.b.sessions.slots))
	for i := range 10 {
		require.NotNil(t, h.b.sessions.get(fmt.Sprint("c", i)), "session c%d kept", i)
	}
}
