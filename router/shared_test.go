package router

import (
	"fmt"
	"slices"
	"testing"
)

// TestSharedRoundRobin checks that each message goes to exactly one member
// and that members take turns.
func TestSharedRoundRobin(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, rec := newTestRouter(t, cfg.opts)
			for i := 0; i < 3; i++ {
				r.Subscribe(newClient(fmt.Sprint("m", i)), "$share/g/s/+", SubOptions{QoS: byte(i % 3), ID: uint32(10 + i)}, false)
			}
			const n = 300
			for i := 0; i < n; i++ {
				r.Publish(msg("s/x", fmt.Sprint(i)))
			}
			r.Barrier()
			ds := rec.take()
			if len(ds) != n {
				t.Fatalf("%d deliveries for %d messages, want one each", len(ds), n)
			}
			count := map[string]int{}
			for _, d := range ds {
				count[d.id]++
				// Each member keeps its own granted QoS [MQTT-4.8.2-3] and
				// identifier [MQTT-3.3.4-5].
				want := byte(d.id[1]-'0') % 3
				if d.qos != want || !slices.Equal(d.ids, []uint32{10 + uint32(d.id[1]-'0')}) {
					t.Errorf("delivery to %s: qos %d ids %v", d.id, d.qos, d.ids)
				}
			}
			for id, c := range count {
				if c != n/3 {
					t.Errorf("member %s got %d of %d messages, want %d", id, c, n, n/3)
				}
			}
		})
	}
}

// TestSharedConnectedOnly checks that offline members are skipped while one
// is connected, and that with none connected the rotation covers everyone.
func TestSharedConnectedOnly(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	a, b, c := newClient("a"), newClient("b"), newClient("c")
	for _, m := range []*testClient{a, b, c} {
		r.Subscribe(m, "$share/g/q", SubOptions{}, false)
	}
	b.setConnected(false)
	for i := 0; i < 10; i++ {
		r.Publish(msg("q", "x"))
	}
	r.Barrier()
	count := map[string]int{}
	for _, d := range rec.take() {
		count[d.id]++
	}
	if count["b"] != 0 || count["a"] != 5 || count["c"] != 5 {
		t.Errorf("with b offline got %v, want a:5 c:5", count)
	}

	a.setConnected(false)
	c.setConnected(false)
	for i := 0; i < 9; i++ {
		r.Publish(msg("q", "x"))
	}
	r.Barrier()
	count = map[string]int{}
	for _, d := range rec.take() {
		count[d.id]++
	}
	if count["a"] != 3 || count["b"] != 3 || count["c"] != 3 {
		t.Errorf("with all offline got %v, want 3 each", count)
	}
}

// TestSharedGroupsIndependent checks that two groups on one filter, and a
// plain subscription beside them, each get the message.
func TestSharedGroupsIndependent(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	r.Subscribe(newClient("g1"), "$share/one/t/#", SubOptions{}, false)
	r.Subscribe(newClient("g2"), "$share/two/t/#", SubOptions{}, false)
	r.Subscribe(newClient("p"), "t/#", SubOptions{}, false)
	r.Publish(msg("t/x", "v"))
	r.Barrier()
	var ids []string
	for _, d := range rec.take() {
		ids = append(ids, d.id)
	}
	if !slices.Equal(ids, []string{"g1", "g2", "p"}) {
		t.Errorf("deliveries to %v, want g1 g2 p", ids)
	}
	if st := r.Stats(); st.SharedGroups != 2 || st.Subscriptions != 3 {
		t.Errorf("Stats %+v, want 2 groups and 3 subscriptions", st)
	}
}

// TestSharedNoLocalIgnored checks that No Local has no effect on a shared
// subscription (setting it is a protocol error the session rejects
// [MQTT-3.8.3-4]; the router must still deliver).
func TestSharedNoLocalIgnored(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 1})
	c := newClient("c")
	r.Subscribe(c, "$share/g/t", SubOptions{NoLocal: true}, false)
	m := msg("t", "v")
	m.Origin = "c"
	r.Publish(m)
	r.Barrier()
	if ds := rec.take(); len(ds) != 1 {
		t.Errorf("got %v, want one delivery", ds)
	}
}

// TestSharedMembership checks resubscribe, leave, and stale-session cleanup.
func TestSharedMembership(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 1})
	old := newClient("m")
	r.Subscribe(old, "$share/g/t", SubOptions{QoS: 0}, false)
	r.Subscribe(old, "$share/g/t", SubOptions{QoS: 2}, false) // replaces
	if st := r.Stats(); st.Subscriptions != 1 || st.SharedGroups != 1 {
		t.Fatalf("after resubscribe: %+v", st)
	}
	r.Publish(msg("t", "1"))
	r.Barrier()
	if ds := rec.take(); len(ds) != 1 || ds[0].qos != 2 {
		t.Fatalf("after resubscribe got %v, want one at QoS 2", ds)
	}

	// A newer session takes over the id; the old one's cleanup must not
	// remove it.
	newer := newClient("m")
	r.Subscribe(newer, "$share/g/t", SubOptions{QoS: 1}, false)
	r.Unsubscribe(old, "$share/g/t")
	r.Publish(msg("t", "2"))
	r.Barrier()
	if ds := rec.take(); len(ds) != 1 || ds[0].client != newer {
		t.Fatalf("after stale unsubscribe got %v, want one to the newer session", ds)
	}
	r.Unsubscribe(newer, "$share/g/t")
	r.Publish(msg("t", "3"))
	r.Barrier()
	if ds := rec.take(); len(ds) != 0 {
		t.Errorf("after leaving got %v", ds)
	}
	if st := r.Stats(); st.Subscriptions != 0 || st.SharedGroups != 0 {
		t.Errorf("after leaving: %+v", st)
	}
}

// TestSharedPickFairAfterLeave checks the rotation after a member leaves.
func TestSharedPickFairAfterLeave(t *testing.T) {
	g := &sharedGroup{name: "g"}
	cs := []*testClient{newClient("a"), newClient("b"), newClient("c"), newClient("d")}
	for _, c := range cs {
		g.put(c, SubOptions{})
	}
	var order []string
	order = append(order, g.pick().client.ClientID(), g.pick().client.ClientID()) // a b
	g.drop(cs[0])                                                                 // a leaves; c is next
	for i := 0; i < 4; i++ {
		order = append(order, g.pick().client.ClientID())
	}
	if want := []string{"a", "b", "c", "d", "b", "c"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
}
